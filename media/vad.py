"""Voice activity on 20 ms, 16 kHz frames: webrtcvad (GMM) or Silero VAD (a small LSTM, ONNX).

The endpointing policy (how much speech starts a turn, how much silence ends it) belongs
to the agent's turn-taking; this only answers "is there speech in this frame". An
optional energy floor (``min_rms``) calls quiet frames silence whatever the model says,
so line hiss on a phone call does not count as speech.

    vad = voice_activity("silero", min_rms=100.0)   # or "webrtc", aggressiveness=2
    vad.is_speech(frame)                             # frame: 320 int16 samples

``bench/vad_compare.py`` measures both on noisy telephone audio (precision, recall, cost).

Silero runs with ``onnxruntime`` on the Silero VAD v6 model that the ``faster-whisper``
wheel ships (``faster_whisper/assets/silero_vad_v6.onnx``, MIT): no torch, nothing
downloaded. That export takes 512-sample (32 ms) chunks at 16 kHz, each with the 64
samples before it, and carries an LSTM state; a 20 ms frame is answered with the
probability of the newest complete chunk (so a decision lags the audio by at most one
chunk), with Silero's own hysteresis: speech starts at ``threshold`` and ends below
``threshold - 0.15``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import webrtcvad

from media.framing import FRAME_SAMPLES, RATE

SAMPLE_RATE = RATE
Engine = Literal["webrtc", "silero"]
ENGINES: tuple[Engine, ...] = ("webrtc", "silero")
SILERO_CHUNK = 512  # samples at 16 kHz the v6 model takes per step
SILERO_CONTEXT = 64
SILERO_HYSTERESIS = 0.15
# Shipped operating point: recall first. A clipped first word ("Who is this?" heard as
# "this") costs a turn; a noise frame called speech is filtered by the endpointer's start
# window and minimum speech length. On bench/vad_compare.py's dev half 0.3 and 0.5 tie on
# F1 (0.692 / 0.694) and 0.3 keeps 5 points more recall.
SILERO_THRESHOLD = 0.3


class Activity(Protocol):
    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool: ...


def _check(frame: npt.NDArray[np.int16]) -> None:
    if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
        raise ValueError("VAD takes 320-sample int16 frames (20 ms at 16 kHz)")


def _floor(min_rms: float) -> float:
    if min_rms < 0:
        raise ValueError("the energy floor is a non-negative RMS")
    return min_rms * min_rms * FRAME_SAMPLES  # compared with the frame's energy


def _quiet(frame: npt.NDArray[np.int16], floor: float) -> bool:
    return bool(floor) and float(np.dot(frame.astype(np.float64), frame)) < floor


class VoiceActivity:
    """webrtcvad: aggressiveness 0 (lenient) to 3 (strict)."""

    def __init__(self, aggressiveness: int = 2, *, min_rms: float = 0.0) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("webrtcvad aggressiveness is 0 (lenient) to 3 (strict)")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._floor = _floor(min_rms)

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        _check(frame)
        if _quiet(frame, self._floor):
            return False
        return bool(self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))


def silero_model_path() -> Path:
    """The Silero VAD v6 ONNX inside the installed faster-whisper wheel (not imported)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise RuntimeError("Silero VAD needs the faster-whisper package (it ships the model)")
    path = Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise RuntimeError(f"the Silero VAD model is missing from faster-whisper: {path}")
    return path


class SileroActivity:
    """Silero VAD v6 through onnxruntime, one stream per instance (it keeps LSTM state)."""

    def __init__(self, threshold: float = SILERO_THRESHOLD, *, min_rms: float = 0.0) -> None:
        import onnxruntime  # noqa: PLC0415 - only when Silero is chosen

        if not 0.0 < threshold < 1.0:
            raise ValueError("the Silero threshold is a probability in (0, 1)")
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1  # one small step per 32 ms: threads only contend
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(silero_model_path()), providers=["CPUExecutionProvider"], sess_options=options
        )
        self._threshold = threshold
        self._floor = _floor(min_rms)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        # context (64) + pending samples; a chunk is run once 512 new samples are in
        self._buf = np.zeros(SILERO_CONTEXT, dtype=np.float32)
        self._speaking = False
        self.probability = 0.0  # of the newest chunk

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        _check(frame)
        self._buf = np.concatenate((self._buf, frame.astype(np.float32) / 32768.0))
        while len(self._buf) >= SILERO_CONTEXT + SILERO_CHUNK:
            window = self._buf[: SILERO_CONTEXT + SILERO_CHUNK].reshape(1, -1)
            prob, self._h, self._c = self._session.run(
                None, {"input": window, "h": self._h, "c": self._c}
            )
            self.probability = float(prob.reshape(-1)[0])
            self._buf = self._buf[SILERO_CHUNK:]
            cut = self._threshold - SILERO_HYSTERESIS if self._speaking else self._threshold
            self._speaking = self.probability >= cut
        return self._speaking and not _quiet(frame, self._floor)


def voice_activity(
    engine: Engine = "webrtc", *, aggressiveness: int = 2, min_rms: float = 0.0
) -> Activity:
    """The VAD an operator chose (``speech.vad`` in the settings)."""
    if engine == "webrtc":
        return VoiceActivity(aggressiveness, min_rms=min_rms)
    if engine == "silero":
        return SileroActivity(min_rms=min_rms)
    raise ValueError(f"unknown VAD engine {engine!r} (one of {', '.join(ENGINES)})")
