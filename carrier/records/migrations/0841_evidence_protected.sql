-- Dialing evidence and the do-not-call lists are protected as the ledgers are (0001): the
-- application role may not delete, truncate or rewrite them, and a trigger refuses the
-- owner too. The dialer's decisions keep only the columns filled in after a dial
-- (trunk, outcome, finished_at) writable, call records their end (ended_at, outcome: a
-- call's end completes its row). The national registry copy is replaced per area code on import (its
-- rows may be deleted, in the import's transaction only; not truncated or rewritten); each
-- import's own row stays.
-- The one delete path is retention: purge_evidence() below, never under four years.
REVOKE DELETE, TRUNCATE ON dnc_org, dnc_national_imports, dnc_national_areas,
    dialer_attempts, dialer_outreach, call_records, call_details FROM carrier_app;
REVOKE UPDATE ON dnc_org, dnc_national, dnc_national_imports, dialer_attempts, call_details,
    call_records FROM carrier_app;
REVOKE TRUNCATE ON dnc_national FROM carrier_app;
GRANT UPDATE (trunk, outcome, finished_at) ON dialer_attempts TO carrier_app;
GRANT UPDATE (ended_at, outcome) ON call_records TO carrier_app;

CREATE FUNCTION refuse_evidence_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only purge_evidence() (retention, rows older than four years) may delete.
    IF TG_OP = 'DELETE' AND current_setting('carrier.retention_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is evidence: % refused (only the retention purge deletes it)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dnc_org', 'dnc_national_imports', 'dialer_attempts',
                             'dialer_outreach', 'call_records', 'call_details'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW'
                       ' EXECUTE FUNCTION refuse_evidence_change()', t || '_evidence', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['dnc_org', 'dnc_national_imports', 'dnc_national',
                             'dnc_national_areas', 'dialer_attempts', 'dialer_outreach',
                             'call_records', 'call_details'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION refuse_evidence_change()', t || '_no_truncate', t);
    END LOOP;
END
$$;
CREATE TRIGGER dnc_org_no_update BEFORE UPDATE ON dnc_org
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();
CREATE TRIGGER dnc_national_imports_no_update BEFORE UPDATE ON dnc_national_imports
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();
CREATE TRIGGER call_details_no_update BEFORE UPDATE ON call_details
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();
-- The national copy changes only with an import: a statement deleting its rows, or moving
-- an area code's date, runs in the transaction that recorded the import (its row stays).
CREATE FUNCTION refuse_dnc_change_without_import() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM dnc_national_imports
               WHERE xmin = pg_current_xact_id()::xid) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% changes only with a national registry import: % refused',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER dnc_national_by_import BEFORE DELETE OR UPDATE ON dnc_national
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_dnc_change_without_import();
CREATE TRIGGER dnc_national_areas_by_import BEFORE UPDATE ON dnc_national_areas
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_dnc_change_without_import();
CREATE TRIGGER dialer_attempts_decision_kept BEFORE UPDATE OF outreach_id, patient_id,
    subject, at, allowed, rule, lease_token ON dialer_attempts
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();
CREATE TRIGGER call_records_start_kept BEFORE UPDATE OF call_id, direction, workflow,
    patient_id, origid, started_at, stir_status, verstat, amd ON call_records
    FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change();

-- Retention's delete path for dialing and billing evidence (carrier.records.retention):
-- fixed conditions per table (a pending outreach, a decision still pointed at, a call
-- not older than the cutoff are never touched), the cutoff never later than four years
-- ago whatever the caller asks. ``with_it``: the transcripts deleted with call records
-- (the foreign key cascades), so the purge's audit entry can count them.
CREATE FUNCTION purge_evidence(p_table text, p_cutoff timestamptz,
                               OUT purged bigint, OUT with_it bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_cutoff  timestamptz := least(p_cutoff, now() - interval '4 years');
BEGIN
    with_it := 0;
    PERFORM set_config('carrier.retention_purge', 'on', true);
    IF p_table = 'dialer_attempts' THEN
        DELETE FROM dialer_attempts WHERE at < v_cutoff;
        GET DIAGNOSTICS purged = ROW_COUNT;
    ELSIF p_table = 'dialer_outreach' THEN
        DELETE FROM dialer_outreach o WHERE o.updated_at < v_cutoff
            AND o.state IN ('done', 'cancelled', 'expired') AND o.not_after < v_cutoff
            AND NOT EXISTS (SELECT 1 FROM dialer_attempts a WHERE a.outreach_id = o.id);
        GET DIAGNOSTICS purged = ROW_COUNT;
    ELSIF p_table = 'call_details' THEN
        DELETE FROM call_details WHERE started_at < v_cutoff AND ended_at < v_cutoff;
        GET DIAGNOSTICS purged = ROW_COUNT;
    ELSIF p_table = 'call_records' THEN
        WITH gone AS (
            DELETE FROM call_records WHERE started_at < v_cutoff
                AND coalesce(ended_at, started_at) < v_cutoff RETURNING call_id)
        SELECT count(*), (SELECT count(*) FROM call_transcripts t
                          WHERE t.call_id IN (SELECT call_id FROM gone))
            INTO purged, with_it FROM gone;
    ELSE
        RAISE EXCEPTION 'no evidence table %', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('carrier.retention_purge', 'off', true);
END
$$;
REVOKE ALL ON FUNCTION purge_evidence(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_evidence(text, timestamptz) TO carrier_app;
