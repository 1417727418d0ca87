-- The source's version of the last change applied to an appointment (FHIR meta.versionId,
-- when a whole number): two versions stamped in the same second (lastUpdated's precision
-- on many servers) are ordered by it; NULL: none known (HL7, CSV, a deletion).
ALTER TABLE feed_appointments ADD COLUMN source_version bigint;
