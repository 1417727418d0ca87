"""Fixtures for the voice agent: settings on a temp data dir, the seeded demo clinic,
and the agent runtime with the real speech models (loaded once per test)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.handler import AgentRuntime
from agent.runtime import seed_demo, setup, teardown
from carrier.records.store import Records
from carrier.settings import Settings, load_settings

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
async def runtime(settings: Settings, records: Records,
                  demo_ids: dict[str, str]) -> AsyncIterator[AgentRuntime]:
    rt = await setup(settings, records)
    try:
        yield rt
    finally:
        await teardown(rt)
