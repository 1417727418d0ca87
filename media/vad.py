"""Voice activity on 20 ms, 16 kHz frames through webrtcvad (the WebRTC project's GMM VAD).

The endpointing policy (how much speech starts a turn, how much silence ends it) belongs
to the agent's turn-taking; this only answers "is there speech in this frame".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import webrtcvad

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320


class VoiceActivity:
    def __init__(self, aggressiveness: int = 2) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("webrtcvad aggressiveness is 0 (lenient) to 3 (strict)")
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError("VAD takes 320-sample int16 frames (20 ms at 16 kHz)")
        return bool(self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))
