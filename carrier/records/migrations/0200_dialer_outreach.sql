-- Dialer: campaigns, outreach rows (leased with FOR UPDATE SKIP LOCKED) and dial attempts.
-- No phone numbers or names here: the patient's contact details stay encrypted in
-- patients; rows carry identifiers, times, outcomes and gate rules only.

CREATE TABLE dialer_campaigns (
    id          text        PRIMARY KEY,
    purpose     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    paused      boolean     NOT NULL DEFAULT false
);

CREATE TABLE dialer_outreach (
    id                bigserial   PRIMARY KEY,
    campaign_id       text        NOT NULL REFERENCES dialer_campaigns (id),
    appointment_id    text        NOT NULL,
    patient_id        text        NOT NULL,
    purpose           text        NOT NULL,
    label             text        NOT NULL,
    due_at            timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    state             text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'leased', 'done', 'cancelled', 'expired')),
    dials             integer     NOT NULL DEFAULT 0,
    lease_owner       text,
    lease_token       uuid,
    lease_expires_at  timestamptz,
    -- set, in the same transaction as the attempt row, just before the INVITE goes out:
    -- a lease that expires after this point is never dialled again (at most once).
    dial_started_at   timestamptz,
    outcome           text,
    last_rule         text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, appointment_id, label)
);
CREATE INDEX dialer_outreach_due ON dialer_outreach (due_at) WHERE state = 'pending';
CREATE INDEX dialer_outreach_lease ON dialer_outreach (lease_expires_at) WHERE state = 'leased';
CREATE INDEX dialer_outreach_appointment ON dialer_outreach (appointment_id);

-- One row per gate decision; allowed ones get the dial's trunk and outcome.
CREATE TABLE dialer_attempts (
    id            bigserial   PRIMARY KEY,
    outreach_id   bigint      NOT NULL REFERENCES dialer_outreach (id),
    patient_id    text        NOT NULL,
    subject       text        NOT NULL,
    at            timestamptz NOT NULL,
    allowed       boolean     NOT NULL,
    rule          text        NOT NULL,
    lease_token   uuid        NOT NULL,
    trunk         text,
    outcome       text,
    finished_at   timestamptz
);
CREATE INDEX dialer_attempts_patient ON dialer_attempts (patient_id, at) WHERE allowed;
CREATE INDEX dialer_attempts_outreach ON dialer_attempts (outreach_id);
