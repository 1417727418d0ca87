"""Where a turn's reply time went (``agent.turn_timing.TurnTiming.breakdown``), as the latency
benches print it: every stage from stamps that were set, and the stages add up."""

from __future__ import annotations

import pytest

from agent.turn_timing import TurnTiming


def test_a_decided_reply_splits_into_its_stages() -> None:
    t = TurnTiming(speech_end_media=10.0, endpoint_media=10.4, endpoint_at=500.0,
                   transcript_at=500.05, decided_at=500.06, first_audio_at=500.2)
    assert t.breakdown() == pytest.approx({"endpointing_ms": 400.0, "transcription_ms": 50.0,
                                           "decision_ms": 10.0, "synthesis_ms": 140.0})


def test_a_reply_without_a_decision_stamp_counts_from_the_transcript() -> None:
    """Before: synthesis ran from loop time 0 (about 196,000 s in one bench's mean)."""
    t = TurnTiming(speech_end_media=10.0, endpoint_media=10.4, endpoint_at=500.0,
                   transcript_at=500.05, first_audio_at=500.2)
    parts = t.breakdown()
    assert parts["decision_ms"] == 0.0
    assert parts["synthesis_ms"] == pytest.approx(150.0)
    assert sum(v for k, v in parts.items() if k != "endpointing_ms") == pytest.approx(200.0)
