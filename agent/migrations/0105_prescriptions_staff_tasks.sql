-- The agent's prescriptions (seeded from the clinic file until the EHR feed comes) and
-- the staff task queue that refill requests and other hand-offs land in. Medication and
-- pharmacy are PHI: stored encrypted (records keys, per row); the rest is PHI-free.
CREATE TABLE agent_prescriptions (
    id            text        PRIMARY KEY,
    patient_id    text        NOT NULL,
    medication_ct bytea       NOT NULL,
    pharmacy_ct   bytea       NOT NULL,
    refill_due    date,
    source        text        NOT NULL DEFAULT 'clinic_file',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_prescriptions_patient ON agent_prescriptions (patient_id, refill_due);

CREATE TABLE staff_tasks (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL,           -- refill_request, ...
    queue           text        NOT NULL,           -- pharmacy, front_desk, ...
    patient_id      text,
    call_id         text,
    prescription_id text,
    status          text        NOT NULL DEFAULT 'open',
    created_at      timestamptz NOT NULL,
    details_ct      bytea                           -- encrypted free text, if any
);
CREATE INDEX staff_tasks_open ON staff_tasks (queue, status, created_at);

-- Outreach an appointment needs beyond reminders (e.g. 'screening': the dialer plans a
-- health-screening call for it). Set by the clinic's scheduling; PHI-free words.
ALTER TABLE sched_appointments ADD COLUMN needs text[] NOT NULL DEFAULT '{}';
