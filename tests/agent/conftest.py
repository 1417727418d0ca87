"""Fixtures for the voice agent: settings on a temp data dir, the seeded demo clinic,
and the agent runtime with the real speech models (loaded once per session:
``tests/shared_speech.py``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import runtime as agent_runtime
from agent.handler import AgentRuntime, CallTrace, VoiceCallHandler
from agent.runtime import seed_demo, setup, teardown
from carrier.call import Call, Direction
from carrier.plugin import CallContext, CallOutcome
from carrier.records.store import Records
from carrier.settings import Settings, load_settings
from tests.shared_speech import SpeechModels, facades

REPO = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("CARRIER_TEST_MODEL_CACHE", "/tmp/carrier-test-models"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    os.environ["HF_HUB_OFFLINE"] = "1"
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    s = load_settings(cfg, env={})
    speech = dataclasses.replace(s.speech, stt_workers=1, stt_model_dir=str(MODELS / "whisper"),
                                 tts_cache_dir=str(tmp_path / "tts"))
    return dataclasses.replace(s, data_dir=str(tmp_path / "var"), speech=speech)


@pytest.fixture
async def demo_ids(settings: Settings, records: Records) -> dict[str, str]:
    return await seed_demo(settings, records, dt.datetime.now(dt.UTC))


@pytest.fixture
async def runtime(settings: Settings, records: Records, demo_ids: dict[str, str],
                  speech_models: SpeechModels, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[AgentRuntime]:
    """The real ``setup``, its Whisper and Piper over the session's loaded models."""
    whisper, piper = facades(speech_models)
    monkeypatch.setattr(agent_runtime, "SpeechToText", whisper)
    monkeypatch.setattr(agent_runtime, "TextToSpeech", piper)
    rt = await setup(settings, records)
    try:
        yield rt
    finally:
        await teardown(rt)


@pytest.fixture
def agent(runtime: AgentRuntime) -> VoiceCallHandler:
    return VoiceCallHandler(runtime)


class TraceKeeper:
    """A per-call observer: the test that passes it keeps the call's raw turns."""

    def __init__(self) -> None:
        self.traces: list[CallTrace] = []

    def call_finished(self, trace: CallTrace) -> None:
        self.traces.append(trace)


class GatewayAgent:
    """The handler as the gateway calls it, with the outcomes kept for the test (a gateway
    that still hands a dict of call data gets the conversion ``carrier.app`` makes)."""

    def __init__(self, agent: VoiceCallHandler) -> None:
        self.agent = agent
        self.outcomes: list[CallOutcome] = []
        self._ended: asyncio.Queue[CallOutcome] = asyncio.Queue()

    async def next_outcome(self, *, wait_s: float) -> CallOutcome:
        """The outcome of the next call to end (its records are written by then)."""
        return await asyncio.wait_for(self._ended.get(), timeout=wait_s)

    async def __call__(self, call: Call, context: CallContext | dict[str, Any]
                       ) -> CallOutcome:
        if not isinstance(context, CallContext):
            context = CallContext(
                direction=Direction(context.get("direction", "inbound")),
                patient_id=context.get("patient_id"), purpose=context.get("purpose"),
                appointment_id=context.get("appointment_id"),
                max_duration_s=context.get("max_duration_s"))
        outcome = await self.agent(call, context)
        self.outcomes.append(outcome)
        self._ended.put_nowait(outcome)
        return outcome
