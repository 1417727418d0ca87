-- A patient's preferred language for calls and texts: a two-letter ISO 639-1 code of a
-- language the clinic supports (carrier.records.languages), from the EHR feeds (HL7
-- PID-15, FHIR Patient.communication), the CSV import, the console, or the patient's
-- own choice on a call or text once verified. Not a Safe Harbor identifier: stored in
-- clear, like the state, so the dialer and the agent read it without decrypting; every
-- change is audited. NULL: not known (English).
ALTER TABLE patients ADD COLUMN language text CHECK (language ~ '^[a-z]{2}$');
