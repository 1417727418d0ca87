-- Whose word the preferred language is, so a feed does not undo a person's choice
-- (carrier.records.patients, "precedence"): 'feed' (HL7 PID-15, FHIR
-- Patient.communication, the CSV import), 'patient' (the verified patient on a call or in
-- a text) or 'staff' (an operator in the console). language_feed is the value the feeds
-- last sent: a feed's value that equals it has not changed since a person chose, and does
-- not override them; one that differs is the EHR's news and applies. Rows set before
-- this migration have no source: the feed's next value applies to them, as before.
ALTER TABLE patients
    ADD COLUMN language_source text CHECK (language_source IN ('feed', 'patient', 'staff')),
    ADD COLUMN language_feed text CHECK (language_feed ~ '^[a-z]{2,3}$');
