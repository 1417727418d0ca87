-- Conversation memory across channels and calls: what each interaction decided
-- (outcome), which questions were answered (slot names only) and PHI-free facts
-- (ids, statuses). Answers themselves live in encrypted record fields.
CREATE TABLE conversation_memory (
    id          bigserial   PRIMARY KEY,
    patient_id  text        NOT NULL,
    channel     text        NOT NULL,
    workflow    text        NOT NULL,
    outcome     text        NOT NULL,
    at          timestamptz NOT NULL,
    collected   text[]      NOT NULL DEFAULT '{}',
    facts       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX conversation_memory_patient ON conversation_memory (patient_id, at DESC);
