-- The data keys change only on the owner's connection (carrier keys rotate and retire run
-- there): the application role reads them and may insert the first version of each on a
-- new database, never re-wrap, add or remove one. Before, any holder of carrier_app could
-- overwrite a wrapped key (every value under it unreadable for ever: the records erased
-- without a DELETE) or add a version no node unwraps (every node refusing to start).
REVOKE UPDATE, TRUNCATE ON data_keys FROM carrier_app;

CREATE FUNCTION refuse_app_data_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'carrier_app' AND NEW.version <> 1 THEN
        RAISE EXCEPTION 'data keys: only the first version is added by the application role'
            ' (carrier keys rotate adds the others)' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER data_keys_first_only BEFORE INSERT ON data_keys
    FOR EACH ROW EXECUTE FUNCTION refuse_app_data_key();
