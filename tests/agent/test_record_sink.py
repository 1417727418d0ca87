"""A call's answer saves that fail are reported, by class only (never the answers)."""

import logging
from typing import Any

import pytest

from agent.handler import _RecordSink


class _Records:
    def __init__(self) -> None:
        self.saved: list[str] = []

    async def add_call_answers(self, call_id: str, kind: str, patient_id: Any,
                               values: Any) -> None:
        if kind == "intake":
            raise RuntimeError("Synthetic Testa 1980-03-05")  # must never reach the log
        self.saved.append(kind)


async def test_a_failed_save_is_logged_by_class_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    records = _Records()
    sink = _RecordSink(records, "call-1")  # type: ignore[arg-type]
    sink.save("p-1", "screening", {"answer": "yes"})
    sink.save("p-1", "intake", {"name": "Synthetic Testa"})
    with caplog.at_level(logging.ERROR, logger="agent.handler"):
        assert await sink.settle() == 1
    assert records.saved == ["screening"]
    assert "answers not stored (RuntimeError)" in caplog.text
    assert "Testa" not in caplog.text
    assert "1980" not in caplog.text


async def test_all_saves_landing_report_none() -> None:
    sink = _RecordSink(_Records(), "call-2")  # type: ignore[arg-type]
    sink.save(None, "screening", {})
    assert await sink.settle() == 0
