-- Redacted transcripts can still hold residual PHI (redaction is never perfect), so their
-- text is AES-256-GCM encrypted like every PHI column (text_ct, bound to call_id/seq).
-- Rows stored before this migration keep their clear text until `carrier keys reencrypt`
-- moves them to text_ct; exactly one of the two is ever set.
ALTER TABLE call_transcripts ADD COLUMN text_ct bytea;
ALTER TABLE call_transcripts ALTER COLUMN text DROP NOT NULL;
ALTER TABLE call_transcripts ADD CONSTRAINT call_transcripts_one_text
    CHECK ((text IS NULL) <> (text_ct IS NULL));

-- The writer names each answers row, so a replay after an outage never stores it twice.
ALTER TABLE call_answers ADD COLUMN entry_id uuid UNIQUE;
