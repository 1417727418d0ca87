-- Call detail records: one row per call however it ended (answered, unanswered, refused
-- by the compliance gate or by SIP, never ACKed, transfer failed, cut at the length limit).
-- No PHI: numbers are kept masked (the last four digits, for an operator's search), the
-- rest are ids, codes and measurements. Written by the carrier through the outbox (spooled
-- while Postgres is away), never updated after.
CREATE TABLE call_details (
    call_id          text        PRIMARY KEY,
    direction        text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_masked      text        NOT NULL DEFAULT '',
    to_masked        text        NOT NULL DEFAULT '',
    trunk            text,
    started_at       timestamptz NOT NULL,
    answered_at      timestamptz,
    ended_at         timestamptz NOT NULL,
    sip_status       integer,                -- the final response to the INVITE (200 if answered)
    hangup_cause     text        NOT NULL,   -- remote_bye, local_bye, busy, no_answer, ...
    codec            text,
    packets_lost     integer,
    jitter_ms        real,                   -- our receiver's, RFC 3550 A.8
    remote_loss_pct  real,                   -- the far end's, from its RTCP report block
    remote_jitter_ms real,
    attestation      text,                   -- STIR/SHAKEN A/B/C (signed or verified)
    verstat          text,
    amd              text,
    workflow         text,
    outcome          text,
    transfer_target  text,
    consent_ref      text,                   -- the consent the gate relied on, if any
    gate_ref         text,                   -- the dial.decision audit entry id
    attempts         integer     NOT NULL DEFAULT 1  -- a refusal summary's count (a flood is
                                                      -- one row per source and window)
);
CREATE INDEX call_details_started ON call_details (started_at DESC);
CREATE INDEX call_details_outcome ON call_details (outcome, started_at DESC);
