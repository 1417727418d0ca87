-- One conversation store across channels (issue 17): besides outcomes, the turns said
-- (redacted, then encrypted with the records' field keys; AAD names the entry_id) and the
-- promises made (send the address, call back), open until kept. Purged with transcripts.
ALTER TABLE conversation_memory
    ADD COLUMN kind     text NOT NULL DEFAULT 'outcome'
                        CHECK (kind IN ('outcome', 'turn', 'promise')),
    ADD COLUMN entry_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN speaker  text CHECK (speaker IN ('patient', 'agent')),
    ADD COLUMN text_enc bytea,
    ADD COLUMN promise  text,
    ADD COLUMN due_at   timestamptz,
    ADD COLUMN kept_at  timestamptz;
CREATE UNIQUE INDEX conversation_memory_entry ON conversation_memory (entry_id);
CREATE INDEX conversation_memory_open_promises ON conversation_memory (patient_id)
    WHERE kind = 'promise' AND kept_at IS NULL;
