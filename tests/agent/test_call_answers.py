"""A call's answer saves that fail are reported, by class only (never the answers)."""

import asyncio
import logging
from typing import Any

import pytest

from agent.answers import CallAnswers


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
    sink = CallAnswers(records, "call-1")  # type: ignore[arg-type]
    sink.save("p-1", "screening", {"answer": "yes"})
    sink.save("p-1", "intake", {"name": "Synthetic Testa"})
    with caplog.at_level(logging.ERROR, logger="agent.answers"):
        assert await sink.settle() == 1
    assert records.saved == ["screening"]
    assert "answers not stored (RuntimeError)" in caplog.text
    assert "Testa" not in caplog.text
    assert "1980" not in caplog.text


async def test_all_saves_landing_report_none() -> None:
    sink = CallAnswers(_Records(), "call-2")  # type: ignore[arg-type]
    sink.save(None, "screening", {})
    assert await sink.settle() == 0


class _SlowRecords:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.saved: list[str] = []

    async def add_call_answers(self, call_id: str, kind: str, patient_id: Any,
                               values: Any) -> None:
        self.started.set()
        await self.release.wait()
        self.saved.append(kind)


async def test_a_cancelled_call_still_owns_its_saves() -> None:
    """The call's task is cancelled (length limit, teardown) while a save is in flight:
    the save is awaited before the call's task ends, never left running on its own."""
    records = _SlowRecords()
    sink = CallAnswers(records, "call-3")  # type: ignore[arg-type]

    async def call() -> None:
        async with sink:
            sink.save("p-1", "screening", {"answer": "yes"})
            await asyncio.Event().wait()  # the conversation, until cancelled

    task = asyncio.create_task(call())
    await records.started.wait()
    task.cancel()
    await asyncio.sleep(0)  # one loop step: the cancellation reaches the call
    assert not task.done()  # still waiting for its save
    records.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert records.saved == ["screening"]
    assert all(t.done() for t in sink.pending)
