"""SMS throughput through the SMPP peer, and the per-message gate decision time.

    python bench/sms_throughput.py [--messages N] [--long F] [--rate R] [--decisions N]

Starts the npm-registry SMSC (tests/peers/smsc, `npm ci` once into the test cache), binds
one transceiver link (aiosmpplib under carrier.sms.smpp) and submits N texts, a fraction
``--long`` of them two-part (concatenated GSM-7), all at once; the figure is texts and parts
per second from the first submit to the last submit_sm_resp (SMSC accepted), with the
link's pacing set to ``--rate`` parts/s (default: far above what the link reaches, so the
figure is the link's own). Then the compliance gate (``Gate.decide``, pure, channel sms)
is timed per decision on a realistic request and facts. Numbers are synthetic (555-01xx).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load, pct
from carrier.dialer.gate import Consent, Gate, GateFacts, GateRequest, PriorCall
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules
from carrier.sms.settings import SmsSettings
from carrier.sms.smpp import SmppLink
from tests.peers.smsc_peer import Smsc

OURS = "+15550100100"


async def throughput(messages: int, long_share: float, rate: float) -> None:
    smsc = await Smsc.start()
    try:
        sms = SmsSettings(smsc_port=smsc.port, system_id=smsc.system_id, from_number=OURS,
                          rate_per_s=rate)
        async with SmppLink.from_settings(sms, smsc.password, timeout=120.0) as link:
            await link.send("+12125550100", "warm-up")
            n_long = round(messages * long_share)
            texts = ["Demo Clinic: reminder of your appointment Tuesday at 9 AM. Reply C."] * (
                messages - n_long) + ["Demo Clinic: " + "long text " * 20] * n_long
            t0 = time.perf_counter()
            results = await asyncio.gather(*(
                link.send(f"+1212555{i % 10000:04d}", t) for i, t in enumerate(texts)))
            elapsed = time.perf_counter() - t0
        parts = sum(len(r) for r in results)
        print(f"SMPP: {messages} texts ({n_long} two-part), {parts} parts in {elapsed:.2f} s: "
              f"{messages / elapsed:.0f} texts/s, {parts / elapsed:.0f} parts/s "
              f"(pacing {rate:.0f} parts/s; the link waited {link.limiter.waits} times)")
    finally:
        await smsc.stop()


def gate_time(decisions: int) -> None:
    rules = load_rules()
    gate = Gate(rules, PackageHolidays(rules))
    now = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)
    request = GateRequest(patient_id="p1", number="+12125550171",
                          purpose="appointment_reminder", number_given_by_patient=True,
                          free_to_patient=True, channel="sms")
    facts = GateFacts({"sms": Consent.GRANTED}, org_dnc=False, national_dnc=False,
                      national_copy_date=now.date(),
                      prior_calls=(PriorCall(now - dt.timedelta(days=2), "appointment_reminder",
                                             "answered"),))
    times: list[float] = []
    for _ in range(decisions):
        t0 = time.perf_counter()
        decision = gate.decide(request, facts, now)
        times.append(time.perf_counter() - t0)
    assert decision.allowed
    print(f"gate: {decisions} decisions (channel sms, allowed, exempt): p50 "
          f"{pct(times, 0.5) * 1e6:.0f} us, p99 {pct(times, 0.99) * 1e6:.0f} us, "
          f"max {max(times) * 1e6:.0f} us per decision (pure decide; the records lookups "
          "before it are one consent, one DNC and one history query)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--long", type=float, default=0.2, help="share of two-part texts")
    ap.add_argument("--rate", type=float, default=100000.0, help="pacing, parts per second")
    ap.add_argument("--decisions", type=int, default=20000)
    args = ap.parse_args()
    print(hardware())
    print(load())
    asyncio.run(throughput(args.messages, args.long, args.rate))
    gate_time(args.decisions)
    print(load())


if __name__ == "__main__":
    main()
