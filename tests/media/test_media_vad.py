"""media.vad: webrtcvad and Silero VAD; silence and line noise are not speech, a voice is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.vad import SileroActivity, VoiceActivity, voice_activity


def voiced(frames: int, f0: float = 140.0) -> list[np.ndarray]:
    t = np.arange(320 * frames) / 16000
    sig = sum((1 / k) * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 25))
    sig = (sig / np.abs(sig).max() * 9000).astype(np.int16)
    return list(sig.reshape(frames, 320))


def test_silence_and_voice() -> None:
    vad = VoiceActivity(2)
    assert not any(vad.is_speech(np.zeros(320, dtype=np.int16)) for _ in range(10))
    assert all(vad.is_speech(f) for f in voiced(20))


def test_validation() -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        VoiceActivity(4)
    with pytest.raises(ValueError, match="320-sample"):
        VoiceActivity().is_speech(np.zeros(160, dtype=np.int16))


# --- Silero VAD (ONNX from the faster-whisper wheel) -------------------------------------

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "speech"


def speech_16k(name: str) -> np.ndarray:
    """A recorded caller vector (mu-law phone audio) as 16 kHz int16, whole frames."""
    from agent.speech.audio import read_wav, resample, to_int16  # noqa: PLC0415 - test data

    audio, rate = read_wav(VECTORS / name)
    pcm = to_int16(resample(audio, rate, 16000)) if rate != 16000 else audio
    return pcm[: len(pcm) // 320 * 320]


def test_silero_hears_a_caller_and_not_the_line_noise() -> None:
    vad = SileroActivity(min_rms=100.0)
    rng = np.random.default_rng(1)
    noise = np.round(rng.standard_normal(320 * 50) * 1500).astype(np.int16)
    assert sum(vad.is_speech(f) for f in noise.reshape(-1, 320)) <= 2  # hiss well above the floor
    said = [vad.is_speech(f) for f in speech_16k("caller_yes.wav").reshape(-1, 320)]
    assert sum(said) >= 10  # "yes" is several hundred ms of speech
    assert 0.0 <= vad.probability <= 1.0


def test_factory_and_silero_validation() -> None:
    assert isinstance(voice_activity("webrtc", aggressiveness=3), VoiceActivity)
    assert isinstance(voice_activity("silero"), SileroActivity)
    with pytest.raises(ValueError, match="unknown VAD"):
        voice_activity("energy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        SileroActivity(1.5)
    with pytest.raises(ValueError, match="320-sample"):
        SileroActivity().is_speech(np.zeros(160, dtype=np.int16))
