from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.speech.cache import PromptCache


def pcm(n: int, value: int = 1) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_memory_and_disk_round_trip(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, "voice-a")
    cache.put("Hello  there.", pcm(100, 7))
    assert cache.get("Hello there.").tolist() == [7] * 100  # whitespace-normalised key
    fresh = PromptCache(tmp_path, "voice-a")  # a new process: memory empty, disk warm
    assert "Hello there." in fresh
    assert fresh.get("Hello there.").tolist() == [7] * 100
    files = list((tmp_path / "voice-a").iterdir())
    assert len(files) == 1
    assert files[0].name == cache.key("Hello there.") + ".pcm"
    assert "Hello" not in files[0].name  # no prompt text (maybe PHI) in file names


def test_key_depends_on_voice_and_text(tmp_path: Path) -> None:
    a, b = PromptCache(tmp_path, "voice-a"), PromptCache(tmp_path, "voice-b")
    assert a.key("Hi.") != b.key("Hi.")
    assert a.key("Hi.") != a.key("Hi!")
    a.put("Hi.", pcm(10))
    assert b.get("Hi.") is None


def test_lru_evicts_oldest_from_memory_only(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, "v", max_memory_bytes=2 * 200)
    cache.put("one", pcm(100))
    cache.put("two", pcm(100))
    cache.get("one")  # now "two" is the least recently used
    cache.put("three", pcm(100))
    assert list(cache._memory) == [cache.key("one"), cache.key("three")]
    assert cache.get("two") is not None  # still on disk


def test_memory_only_cache() -> None:
    cache = PromptCache(None, "v")
    assert cache.get("x") is None
    cache.put("x", pcm(3))
    assert cache.get("x") is not None
    assert (cache.hits, cache.misses) == (1, 1)


def test_cached_audio_is_read_only(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, "v")
    cache.put("x", pcm(3))
    with pytest.raises(ValueError, match="read-only"):
        cache.get("x")[0] = 5


@pytest.mark.parametrize("bad", ["", "../x", ".hidden"])
def test_voice_id_must_be_a_plain_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        PromptCache(tmp_path, bad)
