-- Patient identifiers merged away by an ADT^A40 (carrier.feeds.merge): a message that
-- still names one (an engine's queue, a resend) reaches the patient it was merged into,
-- instead of making a new patient. ref_bidx as in feed_patients.
CREATE TABLE feed_merged (
    ref_bidx     bytea       PRIMARY KEY,
    patient_id   uuid        NOT NULL REFERENCES patients (id),
    merged_at    timestamptz NOT NULL
);
