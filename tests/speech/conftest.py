"""Shared fixtures: caller vectors (8 kHz mu-law WAV made with Piper) and the models.

Model fixtures are session-scoped so Whisper is assembled and loaded once per run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from agent.speech.audio import RATE, read_wav, resample, to_int16
from agent.speech.models import whisper_model_dir
from agent.speech.whisper import SttConfig, WhisperEngine

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "speech"


def load_vector(name: str) -> np.ndarray:
    """A caller vector as 16 kHz int16 (8 kHz G.711 upsampled, as from a phone call)."""
    pcm, rate = read_wav(VECTORS / name)
    return to_int16(resample(pcm, rate, RATE))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def first_sound(pcm: np.ndarray, threshold: int = 300) -> float:
    """Where the synthetic caller's speech really begins, in seconds."""
    return float(np.argmax(np.abs(pcm) > threshold)) / RATE


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return whisper_model_dir(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture(scope="session")
def engine(whisper_dir: Path):
    return WhisperEngine(SttConfig(model_dir=whisper_dir))
