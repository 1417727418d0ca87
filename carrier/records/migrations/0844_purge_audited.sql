-- A retention purge commits only with its audit entry. Before: purge_evidence() and
-- purge_chain_prefix() were granted to carrier_app (the retention run calls them), so any
-- holder of the role could call one, commit, and old evidence or an old audit prefix was
-- gone with no retention.purge entry. Now each purge that removed rows owes, at commit, a
-- 'retention.purge' audit entry for that table stating that row count, appended by the
-- same transaction (carrier.records.retention writes it right after the purge); without
-- it the commit fails and nothing is deleted. The functions' bodies are those of
-- 0001/0841, renamed and no longer callable by the application role.
CREATE TABLE retention_purges (
    id       bigserial   PRIMARY KEY,
    xact     xid8        NOT NULL DEFAULT pg_current_xact_id(),
    at       timestamptz NOT NULL DEFAULT now(),
    tbl      text        NOT NULL,
    rows     bigint      NOT NULL
);
REVOKE ALL ON retention_purges FROM carrier_app;
GRANT SELECT ON retention_purges TO carrier_app;

CREATE FUNCTION retention_purge_audited() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (
            SELECT 1 FROM audit_log
            WHERE xmin = (NEW.xact)::xid AND action = 'retention.purge'
              AND record_type = 'table' AND record_id = NEW.tbl
              AND (details::jsonb ->> 'rows') = NEW.rows::text) THEN
        RAISE EXCEPTION 'retention purge of % (% rows) has no retention.purge audit entry in'
            ' its transaction: refused', NEW.tbl, NEW.rows
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER retention_purges_audited AFTER INSERT ON retention_purges
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION retention_purge_audited();

CREATE FUNCTION retention_purge_owed(p_table text, p_rows bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO retention_purges (tbl, rows) SELECT p_table, p_rows WHERE p_rows > 0;
$$;
REVOKE ALL ON FUNCTION retention_purge_owed(text, bigint) FROM PUBLIC;

ALTER FUNCTION purge_evidence(text, timestamptz) RENAME TO purge_evidence_rows;
REVOKE ALL ON FUNCTION purge_evidence_rows(text, timestamptz) FROM PUBLIC, carrier_app;
ALTER FUNCTION purge_chain_prefix(text, timestamptz) RENAME TO purge_chain_prefix_rows;
REVOKE ALL ON FUNCTION purge_chain_prefix_rows(text, timestamptz) FROM PUBLIC, carrier_app;

CREATE FUNCTION purge_evidence(p_table text, p_cutoff timestamptz,
                               OUT purged bigint, OUT with_it bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT r.purged, r.with_it INTO purged, with_it
        FROM purge_evidence_rows(p_table, p_cutoff) r;
    PERFORM retention_purge_owed(p_table, purged);
    PERFORM retention_purge_owed('call_transcripts', with_it);
END
$$;
REVOKE ALL ON FUNCTION purge_evidence(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_evidence(text, timestamptz) TO carrier_app;

CREATE FUNCTION purge_chain_prefix(p_chain text, p_cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_rows bigint := purge_chain_prefix_rows(p_chain, p_cutoff);
BEGIN
    PERFORM retention_purge_owed(
        CASE p_chain WHEN 'audit' THEN 'audit_log' ELSE 'consent_ledger' END, v_rows);
    RETURN v_rows;
END
$$;
REVOKE ALL ON FUNCTION purge_chain_prefix(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_chain_prefix(text, timestamptz) TO carrier_app;
