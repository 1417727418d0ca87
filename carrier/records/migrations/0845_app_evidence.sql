-- An application's evidence tables (carrier.plugin.RetainsEvidence: the agent's past
-- appointments) protected as the carrier's are (0841): an application's migration registers
-- the table and its time column in evidence_tables, revokes DELETE and TRUNCATE from
-- carrier_app and puts the refuse_evidence_change() triggers on it. The one delete path is
-- purge_app_evidence(): a registered table only, rows whose time is past (by the database's
-- clock) and older than four years whatever the caller asks, and, like every purge (0844),
-- it commits only with its retention.purge audit entry.
CREATE TABLE evidence_tables (
    tbl          text PRIMARY KEY,
    time_column  text NOT NULL
);
REVOKE ALL ON evidence_tables FROM carrier_app;
GRANT SELECT ON evidence_tables TO carrier_app;

CREATE FUNCTION purge_app_evidence(p_table text, p_cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_cutoff  timestamptz := least(p_cutoff, now() - interval '4 years');
    v_column  text;
    v_rows    bigint;
BEGIN
    SELECT time_column INTO v_column FROM evidence_tables WHERE tbl = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no application evidence table %', p_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('carrier.retention_purge', 'on', true);
    EXECUTE format('DELETE FROM %I WHERE %I < $1 AND %I < now()', p_table, v_column, v_column)
        USING v_cutoff;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM set_config('carrier.retention_purge', 'off', true);
    PERFORM retention_purge_owed(p_table, v_rows);
    RETURN v_rows;
END
$$;
REVOKE ALL ON FUNCTION purge_app_evidence(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_app_evidence(text, timestamptz) TO carrier_app;
