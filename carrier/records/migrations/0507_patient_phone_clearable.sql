-- A patient's phone number may be deleted (an EHR's HL7 null in PID-13: the number was
-- removed): no number on file is NULL in both the cell and its blind index, so no caller
-- is matched to it and the dialer refuses the patient ("no phone number on file").
ALTER TABLE patients ALTER COLUMN phone_bidx DROP NOT NULL;
ALTER TABLE patients ALTER COLUMN phone_ct DROP NOT NULL;
