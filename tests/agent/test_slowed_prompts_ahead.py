"""A call slowed by the caller gets its prompts prepared ahead at the slowed pace too.

Before: the prompts a call synthesises ahead (``agent.prompts.prepare_ahead``) were made at
the voice's own pace only, and ``TextToSpeech.prepare`` took a prompt cached at that pace
as done. After the caller asked for it slower ("more slowly please"), every prompt is said
at ``SLOW_PACE``, a recording of its own: none was ready, so every reply was synthesised
live while the caller waited. Now the call's preparation follows its pace: when the pace
changes, the rest is prepared again at the new pace (the clinic's plain prompts on disk,
shared by the next slowed call; a patient's only in memory).

Why not prepare both paces for every call: most callers never ask, and the slowed set
would double the synthesis each call does ahead and the disk cache, for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from agent.prompts import PreparedAhead
from agent.speech.cache import PromptCache
from agent.speech.models import VoicePaths
from agent.speech.tts import TextToSpeech
from agent.voice import SLOW_PACE

PLAIN = ["Thank you for calling Maple Grove Family Clinic.", "Of course, take your time."]
PERSONAL = ["Am I speaking with Testa?"]


class CountingTts(TextToSpeech):
    """Piper's interface; a recording's length is its pace (no model needed)."""

    def __init__(self, cache: PromptCache) -> None:
        super().__init__(cache, voice=VoicePaths("test", Path("m"), Path("c")))
        self.made: list[tuple[str, float]] = []

    def _sentences(self, text: str, pace: float = 1.0) -> Iterator[np.ndarray]:
        self.made.append((text, pace))
        yield np.zeros(int(1600 * pace), dtype=np.int16)


async def test_prepare_makes_the_slowed_recording_even_when_the_normal_one_is_cached(
        tmp_path: Path) -> None:
    tts = CountingTts(PromptCache(tmp_path, "test"))
    assert await tts.prepare(PLAIN) == 2
    assert await tts.prepare(PLAIN, pace=SLOW_PACE) == 2
    assert await tts.prepare(PLAIN, pace=SLOW_PACE) == 0
    assert all(tts.cache.get(text, pace=SLOW_PACE) is not None for text in PLAIN)


async def test_a_slowed_call_prepares_its_prompts_at_the_slowed_pace(tmp_path: Path) -> None:
    tts = CountingTts(PromptCache(tmp_path, "test"))
    idle = asyncio.Event()
    idle.set()
    async with asyncio.TaskGroup() as tasks:
        ahead = PreparedAhead(tts, PLAIN, PERSONAL, idle, tasks)
        ahead.follow(1.0)
        ahead.follow(1.0)  # the same pace: nothing started again
        await ahead.settled()
        ahead.follow(SLOW_PACE)  # the caller asked for it slower
        await ahead.settled()
        await ahead.stop()
    for text in PLAIN + PERSONAL:
        assert tts.cache.get(text, pace=SLOW_PACE) is not None, text
    assert sorted(tts.made) == sorted([(t, p) for t in PLAIN + PERSONAL
                                       for p in (1.0, SLOW_PACE)])
    # The clinic's prompts are on disk for the next slowed call; the patient's are not.
    other = PromptCache(tmp_path, "test")
    assert all(other.get(text, pace=SLOW_PACE) is not None for text in PLAIN)
    assert other.get(PERSONAL[0], pace=SLOW_PACE) is None


async def test_preparation_waits_while_a_prompt_is_synthesised_live(tmp_path: Path) -> None:
    tts = CountingTts(PromptCache(tmp_path, "test"))
    idle = asyncio.Event()  # a live prompt is being synthesised
    async with asyncio.TaskGroup() as tasks:
        ahead = PreparedAhead(tts, PLAIN, PERSONAL, idle, tasks)
        ahead.follow(SLOW_PACE)
        for _ in range(5):
            await asyncio.sleep(0)
        assert tts.made == []
        await ahead.stop()
