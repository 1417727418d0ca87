-- Records core: application role, data keys, patients (encrypted PHI), consent ledger and
-- audit log (append-only, hash-chained), do-not-call lists.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carrier_app') THEN
        CREATE ROLE carrier_app LOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO carrier_app;
-- Tables later migrations create (scheduling, dialer, calls) are usable by the app role
-- without each file repeating grants; append-only tables revoke what they must refuse.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO carrier_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO carrier_app;
GRANT SELECT ON schema_migrations TO carrier_app;

-- Envelope encryption: data keys wrapped by the key-encryption key (KEK).
CREATE TABLE data_keys (
    purpose     text        NOT NULL CHECK (purpose IN ('field', 'blind_index')),
    version     integer     NOT NULL CHECK (version > 0),
    wrapped     bytea       NOT NULL,
    kek_id      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, version)
);
REVOKE DELETE ON data_keys FROM carrier_app;

-- Patients: every PHI column is AES-256-GCM ciphertext; phone lookups use a keyed blind index.
CREATE TABLE patients (
    id            uuid        PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    phone_bidx    bytea       NOT NULL,
    phone_ct      bytea       NOT NULL,
    name_ct       bytea       NOT NULL,
    dob_ct        bytea,
    member_id_ct  bytea,
    key_version   integer     NOT NULL
);
CREATE INDEX patients_phone_bidx ON patients (phone_bidx);

-- Hash-chained, append-only ledgers. row_hash = SHA-256(prev_hash || canonical row).
CREATE TABLE chain_heads (
    chain        text    PRIMARY KEY CHECK (chain IN ('audit', 'consent')),
    seq          bigint  NOT NULL,
    row_hash     bytea   NOT NULL,
    anchor_seq   bigint  NOT NULL DEFAULT 0,  -- rows up to here were purged by retention
    anchor_hash  bytea   NOT NULL
);
INSERT INTO chain_heads (chain, seq, row_hash, anchor_seq, anchor_hash) VALUES
    ('audit', 0, decode(repeat('00', 32), 'hex'), 0, decode(repeat('00', 32), 'hex')),
    ('consent', 0, decode(repeat('00', 32), 'hex'), 0, decode(repeat('00', 32), 'hex'));
REVOKE INSERT, UPDATE, DELETE ON chain_heads FROM carrier_app;
GRANT UPDATE (seq, row_hash) ON chain_heads TO carrier_app;

CREATE TABLE consent_ledger (
    seq           bigint      PRIMARY KEY,
    entry_id      uuid        NOT NULL UNIQUE,
    at            timestamptz NOT NULL,
    patient_id    uuid        NOT NULL,
    channel       text        NOT NULL,
    kind          text        NOT NULL,
    event         text        NOT NULL CHECK (event IN ('grant', 'revoke')),
    source        text        NOT NULL,
    evidence_ref  text        NOT NULL,
    actor         text        NOT NULL,
    prev_hash     bytea       NOT NULL,
    row_hash      bytea       NOT NULL
);
CREATE INDEX consent_ledger_patient ON consent_ledger (patient_id, channel, seq DESC);
CREATE INDEX consent_ledger_at ON consent_ledger (at);

CREATE TABLE audit_log (
    seq          bigint      PRIMARY KEY,
    entry_id     uuid        NOT NULL UNIQUE,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    record_type  text        NOT NULL,
    record_id    text        NOT NULL,
    reason       text        NOT NULL,
    details      text        NOT NULL,  -- canonical JSON; identifiers only, never PHI
    prev_hash    bytea       NOT NULL,
    row_hash     bytea       NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

REVOKE UPDATE, DELETE, TRUNCATE ON consent_ledger, audit_log FROM carrier_app;

CREATE FUNCTION refuse_ledger_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only purge_chain_prefix() (retention, rows older than six years) may delete.
    IF TG_OP = 'DELETE' AND current_setting('carrier.retention_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();

-- Retention's one controlled delete path: drop the oldest prefix of a chain whose rows are
-- all older than six years (never younger, whatever the caller asks), keep consent rows
-- that are still the latest word for their patient/channel/kind, and re-anchor the chain
-- on the last purged row's hash so verification starts from there.
CREATE FUNCTION purge_chain_prefix(p_chain text, p_cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    v_cutoff  timestamptz := least(p_cutoff, now() - interval '6 years');
    v_head    bigint;
    v_anchor  bigint;
    v_keep    bigint;
    v_last    bigint;
    v_hash    bytea;
    v_count   bigint;
BEGIN
    SELECT seq, anchor_seq INTO v_head, v_anchor FROM chain_heads
        WHERE chain = p_chain FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown chain %', p_chain USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_chain = 'audit' THEN
        SELECT min(seq) INTO v_keep FROM audit_log WHERE at >= v_cutoff;
    ELSE
        SELECT min(c.seq) INTO v_keep FROM consent_ledger c
            WHERE c.at >= v_cutoff OR NOT EXISTS (
                SELECT 1 FROM consent_ledger d
                WHERE d.patient_id = c.patient_id AND d.channel = c.channel
                  AND d.kind = c.kind AND d.seq > c.seq);
    END IF;
    v_last := coalesce(v_keep, v_head + 1) - 1;
    IF v_last <= v_anchor THEN
        RETURN 0;
    END IF;
    PERFORM set_config('carrier.retention_purge', 'on', true);
    IF p_chain = 'audit' THEN
        SELECT row_hash INTO v_hash FROM audit_log WHERE seq = v_last;
        DELETE FROM audit_log WHERE seq <= v_last;
    ELSE
        SELECT row_hash INTO v_hash FROM consent_ledger WHERE seq = v_last;
        DELETE FROM consent_ledger WHERE seq <= v_last;
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('carrier.retention_purge', 'off', true);
    UPDATE chain_heads SET anchor_seq = v_last, anchor_hash = v_hash WHERE chain = p_chain;
    RETURN v_count;
END
$$;
REVOKE ALL ON FUNCTION purge_chain_prefix(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_chain_prefix(text, timestamptz) TO carrier_app;

-- Do-not-call: the organisation's own list and a copy of the national registry, both by
-- blind index (the same keyed HMAC as patients.phone_bidx).
CREATE TABLE dnc_org (
    phone_bidx  bytea       PRIMARY KEY,
    added_at    timestamptz NOT NULL,
    source      text        NOT NULL,
    actor       text        NOT NULL
);

CREATE TABLE dnc_national_imports (
    id           bigserial   PRIMARY KEY,
    imported_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    row_count    bigint      NOT NULL
);

CREATE TABLE dnc_national (
    phone_bidx  bytea   PRIMARY KEY,
    import_id   bigint  NOT NULL REFERENCES dnc_national_imports (id)
);
