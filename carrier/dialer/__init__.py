"""Outbound dialer: compliance gate, campaigns, leased outreach.

gate.py            pure compliance gate: Gate(rules, holidays).decide(request, facts, now)
inputs.py          the gate's inputs in one place: request_for(...), gate_facts(...)
rules.py           calling rules as data (config/calling_rules/*.yaml) -> CallingRules
holiday_calendar   state public holidays (`holidays` package)
campaign.py        pure planning (72/24/2 h reminders, no-show) and retry/defer policy
sync.py            appointments from the application's AppointmentSource -> outreach rows
store.py           outreach rows in Postgres, leased FOR UPDATE SKIP LOCKED, fenced
runner.py          one pass: lease -> gate -> audit -> dial (through the Dialer port)
service.py         the loop `carrier serve` runs: sync + pass, back-off on outages, liveness
ports.py           Dialer / ComplianceFacts / CallHistory / PatientDirectory / DecisionRecorder
records_adapter    those ports over carrier.records.store.Records
gateway_adapter    Dialer over the gateway's one outbound path (Gateway.place, a Clearance)
wiring.py          policy and gate from settings; gate_once (one decision outside a campaign)
ftc.py             FTC registry file parser; in-memory numpy scrub
cli.py             carrier campaign status | run [--dry-run] [--for S] | dnc-import FILE

Trunk pacing, concurrency and failover live in `carrier.trunks` (one pool per process).
"""
