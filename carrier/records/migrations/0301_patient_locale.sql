-- Where a patient lives, as coarse as the calling rules need: the state (two letters)
-- and the IANA time zone. Neither is a Safe Harbor identifier (geography smaller than
-- a state is, and stays encrypted or absent), so the dialer's compliance gate can read
-- them without decrypting anything. NULL when unknown: the gate then falls back to the
-- number's time zones (all of them must be inside the window).
ALTER TABLE patients ADD COLUMN state text CHECK (state ~ '^[A-Z]{2}$');
ALTER TABLE patients ADD COLUMN time_zone text;
