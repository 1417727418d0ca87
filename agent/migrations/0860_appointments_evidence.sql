-- Numbered after the carrier's 0845 (evidence_tables, purge_app_evidence) and 0841
-- (refuse_evidence_change), which it uses: a database migrated by version alone (the old
-- single-folder layout) applies it after them too.
-- Past appointments are dialing evidence (retention.dial_evidence_days): the application
-- role may not delete or truncate them (no code deletes an appointment; a cancellation is
-- a status), a trigger refuses the owner too, and the one delete path is the retention
-- purge through purge_app_evidence() (carrier migration 0845: never an appointment still
-- ahead, never under four years, audited).
INSERT INTO evidence_tables (tbl, time_column) VALUES ('sched_appointments', 'end_at');
REVOKE DELETE, TRUNCATE ON sched_appointments FROM carrier_app;
CREATE TRIGGER sched_appointments_evidence BEFORE DELETE ON sched_appointments
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();
CREATE TRIGGER sched_appointments_no_truncate BEFORE TRUNCATE ON sched_appointments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_evidence_change();
