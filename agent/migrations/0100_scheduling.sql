-- Local calendar (the default system of record for scheduling): providers, slots,
-- appointments. PHI-free apart from patient ids and times: no names, no reasons for
-- visit. patient_id is text so it holds either a records patient uuid or an EHR id.
CREATE TABLE sched_providers (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    specialty  text NOT NULL DEFAULT ''
);

CREATE TABLE sched_slots (
    id           text        PRIMARY KEY,
    provider_id  text        NOT NULL REFERENCES sched_providers (id),
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL,
    free         boolean     NOT NULL DEFAULT true,
    CHECK (end_at > start_at),
    UNIQUE (provider_id, start_at)
);
CREATE INDEX sched_slots_free_start ON sched_slots (start_at) WHERE free;

CREATE TABLE sched_appointments (
    id           text        PRIMARY KEY,
    patient_id   text        NOT NULL,
    provider_id  text        NOT NULL REFERENCES sched_providers (id),
    slot_id      text        REFERENCES sched_slots (id),
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL,
    status       text        NOT NULL
        CHECK (status IN ('booked', 'confirmed', 'cancelled', 'missed', 'completed')),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX sched_appointments_patient ON sched_appointments (patient_id, start_at);
-- One live appointment per slot: a double booking fails with a unique violation.
CREATE UNIQUE INDEX sched_appointments_live_slot ON sched_appointments (slot_id)
    WHERE status IN ('booked', 'confirmed');
