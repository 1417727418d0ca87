-- Retention of dialing and billing evidence (retention.dial_evidence_days,
-- retention.call_record_days): the daily purge finds expired rows by time, so the tables it
-- purges that had no index on that time get one.
CREATE INDEX dialer_attempts_at ON dialer_attempts (at);
CREATE INDEX dialer_outreach_finished ON dialer_outreach (updated_at)
    WHERE state IN ('done', 'cancelled', 'expired');
