"""webrtcvad wrapper: silence and faint noise are not speech, a voiced signal is."""

from __future__ import annotations

import numpy as np
import pytest

from media.vad import VoiceActivity


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
