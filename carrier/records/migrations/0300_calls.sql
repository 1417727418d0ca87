-- Calls: one record per call leg, its redacted transcript, the answers the workflow
-- collected (encrypted) and, only when configured, the encrypted audio.
CREATE TABLE call_records (
    call_id      text        PRIMARY KEY,
    direction    text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    workflow     text,
    patient_id   text,
    origid       text,                      -- STIR/SHAKEN origid of an outbound call
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    outcome      text,
    stir_status  text,
    verstat      text,
    amd          text
);
CREATE INDEX call_records_patient ON call_records (patient_id, started_at DESC);
CREATE INDEX call_records_started ON call_records (started_at);

-- Redacted before insert: typed placeholders ([NAME], [DOB], ...) stand for PHI.
CREATE TABLE call_transcripts (
    call_id   text    NOT NULL REFERENCES call_records (call_id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    speaker   text    NOT NULL,
    text      text    NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, seq)
);

-- Raw slot values the workflow needs, AES-256-GCM under the data keys.
CREATE TABLE call_answers (
    id          bigserial   PRIMARY KEY,
    call_id     text        NOT NULL,
    kind        text        NOT NULL,
    patient_id  text,
    answers_ct  bytea       NOT NULL,
    at          timestamptz NOT NULL
);

-- Audio is a biometric identifier: only kept when agent.record_audio is on, encrypted.
CREATE TABLE call_recordings (
    call_id     text        PRIMARY KEY,
    audio_ct    bytea       NOT NULL,
    sample_rate integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
