"""Drive shipped workflows with typed turns through the simulator host."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from agent.memory import InMemoryMemoryStore, MemoryStore
from agent.scheduling.calendar import Calendar
from agent.workflow.effects import Effect, Say
from agent.workflow.loader import load_workflow
from agent.workflow.records import ClinicFileSource
from agent.workflow.simulator import SimulationResult, simulate

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "config" / "workflows"
CLINIC = Path(__file__).with_name("fixtures") / "clinic.yaml"
# A Monday, 10:00 in New York.
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def run(workflow: str, turns: Iterable[str], patient: str = "pat-1001", *,
        store: MemoryStore | None = None, now: dt.datetime = NOW,
        calendar: Calendar | None = None) -> SimulationResult:
    lines = iter(turns)
    said: list[str] = []
    return asyncio.run(simulate(
        load_workflow(WORKFLOWS / f"{workflow}.yaml"), ClinicFileSource(CLINIC), patient,
        now=now, read_line=lambda: next(lines, None), write=said.append,
        memory_store=store or InMemoryMemoryStore(), calendar=calendar))


def spoken(effects: Iterable[Effect]) -> list[Say]:
    return [e for e in effects if isinstance(e, Say)]


def kinds(effects: Iterable[Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]
