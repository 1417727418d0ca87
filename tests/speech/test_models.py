from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.speech.models import (
    WHISPER_MODEL_SIZE,
    WHISPER_SIDE_FILES,
    ModelError,
    WhisperParts,
    piper_voice_paths,
    whisper_model_dir,
)


@pytest.fixture
def parts(tmp_path: Path) -> WhisperParts:
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "model.bin.part1").write_bytes(b"A" * 1000)
    (src / "model.bin.part2").write_bytes(b"B" * 234)
    for name in WHISPER_SIDE_FILES:
        (src / name).write_text("{}")
    return WhisperParts(src / "model.bin.part1", src / "model.bin.part2", src)


def test_assembles_parts_in_order(tmp_path: Path, parts: WhisperParts) -> None:
    out = whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)
    assert (out / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 234
    assert all((out / n).is_file() for n in WHISPER_SIDE_FILES)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_does_not_reassemble_when_present(tmp_path: Path, parts: WhisperParts) -> None:
    out = whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)
    before = (out / "model.bin").stat()
    parts.part1.unlink()  # would fail if it tried to read the parts again
    again = whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)
    after = (again / "model.bin").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_reassembles_a_truncated_model(tmp_path: Path, parts: WhisperParts) -> None:
    out = whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)
    (out / "model.bin").write_bytes(b"A" * 10)
    whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)
    assert (out / "model.bin").stat().st_size == 1234


def test_wrong_size_is_refused_and_leaves_nothing(tmp_path: Path, parts: WhisperParts) -> None:
    with pytest.raises(ModelError, match="expected 9999"):
        whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=9999)
    assert not (tmp_path / "cache" / "model.bin").exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


def test_missing_part_is_named(tmp_path: Path, parts: WhisperParts) -> None:
    parts.part2.unlink()
    with pytest.raises(ModelError, match=r"model\.bin\.part2"):
        whisper_model_dir(tmp_path / "cache", parts=parts, expected_size=1234)


@pytest.mark.models
def test_packaged_parts_assemble_to_the_published_size(whisper_dir: Path) -> None:
    assert (whisper_dir / "model.bin").stat().st_size == WHISPER_MODEL_SIZE
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_piper_voice_is_packaged() -> None:
    paths = piper_voice_paths()
    assert paths.model.suffix == ".onnx"
    assert paths.config.is_file()
    assert paths.voice_id == "en_US-joe-medium"
