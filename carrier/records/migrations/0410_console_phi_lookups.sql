-- The console's budget of PHI lookups per operator and hour (console.phi_lookups_per_hour):
-- one row per lookup granted, kept here rather than in one process so that a restart of
-- `serve` or a second console on the same database does not grant a fresh budget. Rows
-- older than the hour are deleted as the operator's next lookup is counted.
CREATE TABLE console_phi_lookups (
    actor text        NOT NULL,
    at    timestamptz NOT NULL
);
CREATE INDEX console_phi_lookups_actor_at ON console_phi_lookups (actor, at);
