-- Operator accounts of the console (issue 15): one row per person, never shared.
-- The password is an Argon2id hash; the TOTP secret is AES-256-GCM under the data keys
-- (associated data: table, column, id). Failed sign-ins lock the account for a while;
-- a disabled account stays for the audit trail and never signs in again.
CREATE TABLE console_operators (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role           text        NOT NULL
                               CHECK (role IN ('admin', 'compliance', 'scheduler',
                                               'supervisor', 'auditor')),
    password_hash  text        NOT NULL,
    totp_secret_ct bytea,
    totp_last_step bigint,
    failures       integer     NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL,
    last_login_at  timestamptz
);
REVOKE DELETE, TRUNCATE ON console_operators FROM carrier_app;
