"""The demo's scripted patient owns its listener and its turn waits: nothing outlives a run,
and a failing listener is raised, not swallowed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np
import pytest

from demo.phone import ScriptedPatient


class _Tts:
    async def synthesize(self, text: str) -> Any:
        return np.zeros(320, dtype=np.int16)


class _Media:
    """A call whose agent speaks one turn (loud then quiet) and then hangs, or breaks."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.played = 0

    async def inbound(self) -> AsyncIterator[Any]:
        if self.broken:
            raise RuntimeError("media gone")
        loud, quiet = np.full(320, 8000, np.int16), np.zeros(320, np.int16)
        for frame in [loud] * 5 + [quiet] * 60:
            yield frame
        await asyncio.Event().wait()  # the agent says nothing more

    async def play(self, frames: Iterable[Any]) -> bool:
        self.played += 1
        return True


async def test_run_leaves_no_task_behind() -> None:
    ended = asyncio.Event()
    ended.set()  # the agent hung up after its last turn
    patient = ScriptedPatient(_Media(), _Tts(), answer_first=True)
    log = await patient.run(["hello"], turn_timeout_s=5.0, ended=ended)
    assert log.said == ["hello"]
    # The listener and both turn waits are finished, not merely cancelled.
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_listener_error_is_raised() -> None:
    patient = ScriptedPatient(_Media(broken=True), _Tts(), answer_first=True)
    # Before: gather(return_exceptions=True) swallowed it and the run timed out instead.
    with pytest.raises(RuntimeError, match="media gone"):
        await patient.run(["hello"], turn_timeout_s=0.2)  # bound: no turn ever comes
