-- Schedule feeds (HL7 v2 over MLLP, FHIR R4, CSV): what the carrier keeps to upsert by the
-- source's identifiers, answer a repeated message the same way, and write outcomes back.
-- No PHI in clear: a source's patient identifier (MRN) is found by keyed blind index and
-- kept encrypted (records keys) for the write-back; outbound payloads are encrypted.

-- One row per accepted inbound message: a repeat of (source, control_id) is acknowledged
-- again and changes nothing.
CREATE TABLE feed_messages (
    source       text        NOT NULL,
    control_id   text        NOT NULL,
    kind         text        NOT NULL,          -- SIU^S12, ADT^A08, csv, fhir ...
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (source, control_id)
);

-- A source patient identifier -> our patient. ref_bidx = HMAC(index key, authority|mrn).
CREATE TABLE feed_patients (
    ref_bidx     bytea       PRIMARY KEY,
    authority    text        NOT NULL,
    ref_ct       bytea       NOT NULL,
    patient_id   uuid        NOT NULL REFERENCES patients (id),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX feed_patients_patient ON feed_patients (patient_id);

-- A source appointment (by its filler/placer id) -> the application's appointment id.
-- source_ts: the sending time of the last message applied (older ones are stale).
CREATE TABLE feed_appointments (
    source       text        NOT NULL,
    ref          text        NOT NULL,
    app_id       text        NOT NULL,
    patient_id   uuid        NOT NULL,
    source_ts    timestamptz NOT NULL,
    PRIMARY KEY (source, ref)
);
CREATE UNIQUE INDEX feed_appointments_app ON feed_appointments (app_id);

-- Durable write-back: one row per (outcome, destination); dedup_key makes a repeat a no-op.
CREATE TABLE feed_outbox (
    id            bigserial   PRIMARY KEY,
    dedup_key     text        NOT NULL UNIQUE,
    destination   text        NOT NULL CHECK (destination IN ('hl7', 'fhir')),
    kind          text        NOT NULL,         -- confirmed, cancelled, refill_request ...
    payload_ct    bytea       NOT NULL,         -- encrypted (feed_outbox, payload, dedup_key)
    status        text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL,
    leased_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz
);
CREATE INDEX feed_outbox_due ON feed_outbox (next_at) WHERE status = 'pending';

-- Where a polled source (FHIR) got to, per resource type: the next poll asks for
-- _lastUpdated after this.
CREATE TABLE feed_cursors (
    source        text        NOT NULL,
    resource      text        NOT NULL,
    last_updated  timestamptz NOT NULL,
    PRIMARY KEY (source, resource)
);
