"""Voice activity on 20 ms, 16 kHz frames through webrtcvad (the WebRTC project's GMM VAD).

The endpointing policy (how much speech starts a turn, how much silence ends it) belongs
to the agent's turn-taking; this only answers "is there speech in this frame". An
optional energy floor (``min_rms``) calls quiet frames silence before webrtcvad is asked,
so line noise on a phone call does not count as speech.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import webrtcvad

from media.framing import FRAME_SAMPLES, RATE

SAMPLE_RATE = RATE


class VoiceActivity:
    def __init__(self, aggressiveness: int = 2, *, min_rms: float = 0.0) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("webrtcvad aggressiveness is 0 (lenient) to 3 (strict)")
        if min_rms < 0:
            raise ValueError("the energy floor is a non-negative RMS")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._floor = min_rms * min_rms * FRAME_SAMPLES  # compared with the frame's energy

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError("VAD takes 320-sample int16 frames (20 ms at 16 kHz)")
        if self._floor and float(np.dot(frame.astype(np.float64), frame)) < self._floor:
            return False
        return bool(self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))
