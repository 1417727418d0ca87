"""Outbound dialer: compliance gate, campaigns, leased outreach, trunk pacing.

gate.py            pure compliance gate: Gate(rules, holidays).decide(request, facts, now)
rules.py           calling rules as data (config/calling_rules/*.yaml) -> CallingRules
holiday_calendar   state public holidays (`holidays` package)
campaign.py        pure planning (72/24/2 h reminders, no-show) and retry/defer policy
store.py           outreach rows in Postgres, leased FOR UPDATE SKIP LOCKED, fenced
runner.py          one pass: lease -> gate -> audit -> dial (CPS, concurrency, failover)
service.py         the loop `carrier serve` runs: calendar sync + pass, every 30 s
calendar_sql.py    reads sched_appointments by SQL (never imports agent)
ports.py           Dialer / ComplianceFacts / PatientDirectory / DecisionRecorder protocols
records_adapter    those ports over carrier.records.store.Records
gateway_adapter    Dialer over the gateway's dial(carrier.call.DialRequest)
throttle.py        token bucket, per-trunk concurrency, failover (pure, `now` in)
ftc.py             FTC registry file parser; in-memory numpy scrub
cli.py             carrier campaign status | run [--dry-run] | dnc-import FILE
"""
