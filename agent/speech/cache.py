"""Prompt cache: synthesised prompts in memory (LRU) and on disk, keyed by voice and text.

A key is ``sha256(voice_id + NUL + text)`` with the text's whitespace normalised; a prompt
said at another pace than the voice's own (a caller asked for it slower) is a recording
of its own, keyed ``sha256(voice_id + NUL + pace + NUL + text)``. On disk a
prompt is raw little-endian int16 16 kHz mono in ``<cache_dir>/<voice_id>/<key>.pcm``,
written to a temporary name and renamed, so readers never see half a file. The file name is
a hash, so a cache folder reveals no prompt text (a filled prompt can carry PHI).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np


def normalise_text(text: str) -> str:
    return " ".join(text.split())


class PromptCache:
    def __init__(
        self, cache_dir: Path | None, voice_id: str, *, max_memory_bytes: int = 64 << 20
    ) -> None:
        if not voice_id or "/" in voice_id or voice_id.startswith("."):
            raise ValueError("voice_id must be a plain name")
        self.voice_id = voice_id
        self.dir = Path(cache_dir) / voice_id if cache_dir is not None else None
        self.max_memory_bytes = max_memory_bytes
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_bytes = 0
        self.hits = 0
        self.misses = 0

    def key(self, text: str, *, pace: float = 1.0) -> str:
        said = normalise_text(text) if pace == 1.0 else f"{pace:g}\0{normalise_text(text)}"
        return hashlib.sha256(f"{self.voice_id}\0{said}".encode()).hexdigest()

    def get(self, text: str, *, pace: float = 1.0) -> np.ndarray | None:
        key = self.key(text, pace=pace)
        pcm = self._memory.get(key)
        if pcm is not None:
            self._memory.move_to_end(key)
            self.hits += 1
            return pcm
        path = self._path(key)
        if path is not None and path.is_file():
            pcm = np.fromfile(path, dtype="<i2").astype(np.int16)
            self._remember(key, pcm)
            self.hits += 1
            return pcm
        self.misses += 1
        return None

    def __contains__(self, text: str) -> bool:  # at the voice's own pace
        return self.has(text)

    def has(self, text: str, *, pace: float = 1.0) -> bool:
        """Whether a recording of ``text`` at ``pace`` is kept (counts no hit or miss)."""
        key = self.key(text, pace=pace)
        path = self._path(key)
        return key in self._memory or (path is not None and path.is_file())

    def put(self, text: str, pcm16k: np.ndarray, *, persist: bool = True,
            pace: float = 1.0) -> None:
        """Keep ``pcm16k`` for ``text``; ``persist=False`` keeps it in memory only (a
        prompt that speaks PHI never reaches the disk unencrypted: audio is PHI too)."""
        pcm = np.ascontiguousarray(pcm16k, dtype=np.int16)
        pcm.setflags(write=False)
        key = self.key(text, pace=pace)
        self._remember(key, pcm)
        path = self._path(key)
        if path is None or not persist:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(pcm.astype("<i2").tobytes())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _path(self, key: str) -> Path | None:
        return self.dir / f"{key}.pcm" if self.dir is not None else None

    def _remember(self, key: str, pcm: np.ndarray) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_bytes -= old.nbytes
        if pcm.nbytes > self.max_memory_bytes:
            return
        self._memory[key] = pcm
        self._memory_bytes += pcm.nbytes
        while self._memory_bytes > self.max_memory_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= evicted.nbytes
