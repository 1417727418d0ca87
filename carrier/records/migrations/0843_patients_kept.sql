-- No code deletes a patient (the record of care outlives every call, text and feed): the
-- application role may not delete or truncate patients, so a holder of carrier_app cannot
-- erase one without a trace. Their encrypted fields stay writable (re-encryption, updates).
REVOKE DELETE, TRUNCATE ON patients FROM carrier_app;
