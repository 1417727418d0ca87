"""Piper with the packaged voice: frames, streaming, the cache and pre-synthesis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.speech.audio import FRAME_SAMPLES
from agent.speech.cache import PromptCache
from agent.speech.tts import TextToSpeech, frame_stream, split_first_clause, trim_leading_silence


def test_frame_stream_recuts_and_pads() -> None:
    chunks = [np.arange(500, dtype=np.int16), np.arange(300, dtype=np.int16)]
    out = list(frame_stream(chunks))
    assert [len(f) for f in out] == [FRAME_SAMPLES] * 3
    assert np.concatenate(out)[:800].tolist() == np.concatenate(chunks).tolist()
    assert not out[-1][800 - 640 :].any()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "Hello, this is the clinic calling about your visit.",
            ["Hello,", "this is the clinic calling about your visit."],
        ),
        ("Yes, that is right.", ["Yes, that is right."]),  # short: one piece
        (
            "Hello. This is, the clinic calling about your visit.",
            ["Hello. This is, the clinic calling about your visit."],
        ),
        (
            "Can you please confirm your date of birth, for example?",
            ["Can you please confirm your date of birth, for example?"],
        ),
    ],
)
def test_split_first_clause(text: str, parts: list[str]) -> None:
    assert split_first_clause(text, 8) == parts
    assert split_first_clause(text, 0) == [text]


@pytest.fixture
async def tts(tmp_path: Path):
    engine = TextToSpeech()
    engine.cache = PromptCache(tmp_path / "tts", engine.voice_id)
    await engine.start()
    yield engine
    await engine.close()


@pytest.mark.models
async def test_stream_yields_16k_frames_per_sentence(tts: TextToSpeech) -> None:
    frames = [f async for f in tts.stream("Hello. Is that correct?")]
    assert all(f.dtype == np.int16 and f.shape == (FRAME_SAMPLES,) for f in frames)
    assert tts.synth_calls == 2  # one per sentence
    seconds = len(frames) * 0.02
    assert 1.0 < seconds < 4.0
    assert np.abs(np.concatenate(frames)).max() > 3000


@pytest.mark.models
async def test_repeated_prompt_is_served_without_synthesis(tts: TextToSpeech) -> None:
    first = [f async for f in tts.stream("Thank you for calling.")]
    calls = tts.synth_calls
    again = [f async for f in tts.stream("Thank you for calling.")]
    assert tts.synth_calls == calls
    assert np.array_equal(np.concatenate(first), np.concatenate(again))


@pytest.mark.models
async def test_prepare_synthesises_each_prompt_once(tts: TextToSpeech, tmp_path: Path) -> None:
    prompts = ["Your appointment is on Tuesday at 2 PM.", "Goodbye.", "Goodbye."]
    assert await tts.prepare(prompts) == 2
    calls = tts.synth_calls
    assert await tts.prepare(prompts) == 0
    for text in prompts:
        _ = [f async for f in tts.stream(text)]
    assert tts.synth_calls == calls
    # A new process with the same disk cache needs no synthesis either.
    other = TextToSpeech(PromptCache(tmp_path / "tts", tts.voice_id))
    assert all(text in other.cache for text in prompts)


@pytest.mark.models
async def test_interrupted_stream_is_not_cached(tts: TextToSpeech) -> None:
    async for _frame in tts.stream("This prompt is cut off by the caller."):
        break  # barge-in: playback stops after the first frame
    assert "This prompt is cut off by the caller." not in tts.cache


def test_trim_leading_silence_keeps_the_lead_in() -> None:
    pcm = np.concatenate([np.full(800, 30, dtype=np.int16),  # 50 ms of lead-in hiss
                          np.full(1600, 5000, dtype=np.int16)])
    trimmed = trim_leading_silence(pcm, 10)
    assert len(trimmed) == 160 + 1600  # 10 ms kept before the voice
    assert trim_leading_silence(pcm, -1) is pcm
    quiet = np.zeros(640, dtype=np.int16)
    assert len(trim_leading_silence(quiet, 10)) == 640  # nothing voiced: left alone


@pytest.mark.models
async def test_first_frame_carries_the_voice(tts: TextToSpeech) -> None:
    # Piper begins with 40-60 ms of near silence: the caller would hear it as reply latency
    frames = [f async for f in tts.stream("Okay. Thank you.", persist=False)]
    assert np.abs(frames[0].astype(np.int32)).max() > 200


@pytest.mark.models
async def test_a_slower_pace_is_slower_and_cached_apart(tts: TextToSpeech) -> None:
    """Piper's length scale per synthesis: the same prompt at SLOW_PACE lasts longer
    (before, the voice had one rate), and each pace has its own cached recording."""
    from agent.voice import SLOW_PACE  # noqa: PLC0415

    # a long prompt: Piper's durations vary a little from one synthesis to the next
    text = "Hello, this is Maple Grove Family Clinic calling for Testa. Am I speaking with Testa?"
    normal = await tts.synthesize(text)
    slow = await tts.synthesize(text, pace=SLOW_PACE)
    assert len(slow) > 1.1 * len(normal)  # about 1.2 measured
    assert tts.cache.get(text) is not None
    assert len(tts.cache.get(text)) == len(normal)
    streamed = [f async for f in tts.stream(text, pace=SLOW_PACE)]
    assert abs(len(streamed) * 320 - len(slow)) < 320  # from the cache, the slow one


@pytest.mark.models
async def test_the_spanish_voice_takes_a_slower_pace_too() -> None:
    from agent.speech.espeak import EspeakSpeech  # noqa: PLC0415
    from agent.voice import SLOW_PACE  # noqa: PLC0415

    voice = EspeakSpeech()
    await voice.start()
    try:
        text = "Por favor, dígame su fecha de nacimiento."
        normal = await voice.synthesize(text)
        slow = await voice.synthesize(text, pace=SLOW_PACE)
        again = await voice.synthesize("Gracias.")
        assert len(slow) > 1.15 * len(normal)
        assert len(again) < len(normal)  # the pace is per synthesis, not left set
    finally:
        await voice.close()
