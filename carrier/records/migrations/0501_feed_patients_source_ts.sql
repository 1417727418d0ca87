-- When the demographics last applied to a feed patient were sent (MSH-7, FHIR
-- lastUpdated): an older message arriving later (reordered by an interface engine) does
-- not put an old phone number or name back. NULL: not known (rows from before).
ALTER TABLE feed_patients ADD COLUMN source_ts timestamptz;
