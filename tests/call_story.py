"""What a finished test call did, for an assertion message: each call's outcome, length and
redacted transcript (decrypted with the test key), so a call that ends the wrong way in CI
can be diagnosed from the output alone. Transcripts are stored redacted; the patients are
synthetic."""

from __future__ import annotations

from pathlib import Path

from carrier.records.store import Records
from tests.conftest import TEST_KEK


async def call_story(db_url: str, spool: Path) -> str:
    records = await Records.open(db_url, TEST_KEK, spool)
    try:
        calls = await records.pool.fetch(
            "SELECT call_id, direction, workflow, outcome, amd,"
            " extract(epoch FROM ended_at - started_at) AS seconds"
            " FROM call_records ORDER BY started_at")
        lines: list[str] = []
        for call in calls:
            seconds = call["seconds"]
            length = "open" if seconds is None else f"{float(seconds):.1f} s"
            lines.append(f"call {call['call_id'][:8]} {call['direction']} {call['workflow']}:"
                         f" outcome={call['outcome']} amd={call['amd']} length={length}")
            turns = await records.call_transcript(call["call_id"])
            lines.extend(f"  {speaker}: {text}" for speaker, text in turns)
        return "\n".join(lines) or "no call record"
    finally:
        await records.close()
