"""Webchat fixtures: the agent runtime (speech off for text, on for voice) and the page
served by :func:`carrier.webchat.app.serve_webchat` on 127.0.0.1, port 0."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from agent.runtime import setup, teardown
from agent.webchat import TextChatHandler
from carrier.records.store import Records
from carrier.settings import Settings, load_settings
from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings
from tests.agent.conftest import MODELS, REPO, demo_ids, runtime

__all__ = ["demo_ids", "runtime"]

Serve = Callable[..., AbstractAsyncContextManager[tuple[WebchatServer, str]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    os.environ["HF_HUB_OFFLINE"] = "1"
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    s = load_settings(cfg, env={})
    speech = dataclasses.replace(s.speech, stt_workers=1, stt_model_dir=str(MODELS / "whisper"),
                                 tts_cache_dir=str(tmp_path / "tts"))
    agent = dataclasses.replace(s.agent, routes={**s.agent.routes,
                                                 "webchat": "appointment_reminder"})
    return dataclasses.replace(s, data_dir=str(tmp_path / "var"), speech=speech, agent=agent)


@pytest.fixture
async def text_runtime(settings: Settings, records: Records,
                       demo_ids: dict[str, str]) -> AsyncIterator[AgentRuntime]:
    rt = await setup(settings, records, speech=False)
    try:
        yield rt
    finally:
        await teardown(rt)


def server_for(rt: AgentRuntime, web: WebchatSettings) -> WebchatServer:
    return WebchatServer(web, handler=lambda: VoiceCallHandler(rt),
                         chat_handler=lambda: TextChatHandler(rt))


@asynccontextmanager
async def serving(rt: AgentRuntime, **overrides: object
                  ) -> AsyncIterator[tuple[WebchatServer, str]]:
    web = dataclasses.replace(WebchatSettings(enabled=True, port=0), **overrides)
    server = server_for(rt, web)
    async with serve_webchat(server, "127.0.0.1", 0) as port:
        yield server, f"http://127.0.0.1:{port}"
