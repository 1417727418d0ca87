-- Patient identifiers are keyed by their cleaned form (control characters as spaces, runs
-- of spaces one, trimmed), as HL7 fields are now read. key_form: 0 = keyed as received
-- before (rows already here: re-keyed once by carrier.feeds.rekey), 1 = keyed cleaned,
-- 2 = not re-keyed: its cleaned form is another patient's too (never merged silently;
-- listed in feed_key_conflicts for the clinic to resolve).
ALTER TABLE feed_patients ADD COLUMN key_form smallint NOT NULL DEFAULT 0;
ALTER TABLE feed_patients ALTER COLUMN key_form SET DEFAULT 1;

-- A cleaned identifier key that more than one stored patient had: a message naming it is
-- refused (AE 205) while no patient holds the key, instead of making yet another patient.
CREATE TABLE feed_key_conflicts (
    ref_bidx     bytea       NOT NULL,
    patient_id   uuid        NOT NULL REFERENCES patients (id),
    noted_at     timestamptz NOT NULL,
    PRIMARY KEY (ref_bidx, patient_id)
);
