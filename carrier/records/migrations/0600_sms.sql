-- Texts sent and received (issue 17). No message body: the text itself may hold PHI and
-- lives only in the application's encrypted memory. A sent text counts in the same
-- frequency caps as a call (the dialer's prior contacts read this table too).
CREATE TABLE sms_messages (
    id          bigserial   PRIMARY KEY,
    patient_id  text,
    direction   text        NOT NULL CHECK (direction IN ('out', 'in')),
    subject     text        NOT NULL,
    at          timestamptz NOT NULL,
    parts       integer     NOT NULL DEFAULT 1,
    smsc_ids    text[]      NOT NULL DEFAULT '{}',
    status      text        NOT NULL DEFAULT 'sent',
    rule        text
);
CREATE INDEX sms_messages_patient ON sms_messages (patient_id, at DESC);
CREATE INDEX sms_messages_smsc_id ON sms_messages USING gin (smsc_ids);
