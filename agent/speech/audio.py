"""Small audio helpers for the speech pipeline: sample formats, telephone audio, WAV.

Framing, G.711 and resampling come from ``media`` (one of each mechanism): this module
re-exports them under the names the speech code and its tests have always used.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from media.framing import FRAME_MS, FRAME_SAMPLES, RATE, frames
from media.g711 import PCMU, G711Codec
from media.resample import resample

__all__ = ["FRAME_MS", "FRAME_SAMPLES", "RATE", "frames", "resample"]

_PCMU = G711Codec(PCMU)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in int16 scale -> int16 with clipping."""
    out: np.ndarray = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16."""
    return to_int16(np.asarray(x, dtype=np.float64) * 32767.0)


def int16_to_float(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32) / 32768.0).astype(np.float32)


# --- G.711 mu-law (media.g711, the Sun reference algorithm) --------------------------


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """int16 -> mu-law bytes (uint8)."""
    return np.frombuffer(_PCMU.encode(np.asarray(pcm, dtype=np.int16)), dtype=np.uint8)


def mulaw_decode(data: np.ndarray | bytes) -> np.ndarray:
    """mu-law bytes -> int16."""
    raw = data if isinstance(data, bytes) else np.asarray(data, dtype=np.uint8).tobytes()
    return _PCMU.decode(raw)


def telephone(pcm16k: np.ndarray) -> np.ndarray:
    """16 kHz int16 -> 8 kHz G.711 mu-law -> back to 16 kHz int16 (a phone line)."""
    narrow = to_int16(resample(pcm16k, RATE, 8000))
    back = mulaw_decode(mulaw_encode(narrow))
    return to_int16(resample(back, 8000, RATE))


# --- WAV ----------------------------------------------------------------------------

_WAVE_FORMAT_MULAW = 7


class WavError(ValueError):
    """The file is not a WAV this tool reads (16-bit PCM or 8-bit mu-law)."""


def read_wav(source: Path | bytes) -> tuple[np.ndarray, int]:
    """Read a WAV as mono int16 at its own rate. Stereo is averaged. Mu-law is decoded."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    fmt = _wav_format_tag(raw)
    if fmt == _WAVE_FORMAT_MULAW:
        return _read_mulaw_wav(raw)
    try:
        with wave.open(io.BytesIO(raw)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavError(f"not a readable WAV file: {exc}") from exc
    if width != 2:
        raise WavError(f"only 16-bit PCM or mu-law WAV is supported (got {8 * width}-bit)")
    pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
    return _downmix(pcm, channels), rate


def _downmix(pcm: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return pcm
    usable = len(pcm) - len(pcm) % channels
    mixed = pcm[:usable].reshape(-1, channels).astype(np.int32).mean(axis=1)
    return to_int16(mixed)


def _wav_format_tag(raw: bytes) -> int | None:
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    for tag, body in _chunks(raw):
        if tag == b"fmt ":
            return int.from_bytes(body[0:2], "little")
    raise WavError("WAV file has no fmt chunk")


def _chunks(raw: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    pos = 12
    while pos + 8 <= len(raw):
        tag = raw[pos : pos + 4]
        size = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        out.append((tag, raw[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def _read_mulaw_wav(raw: bytes) -> tuple[np.ndarray, int]:
    chunks = dict(_chunks(raw))
    fmt = chunks[b"fmt "]
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    if b"data" not in chunks:
        raise WavError("WAV file has no data chunk")
    pcm = mulaw_decode(np.frombuffer(chunks[b"data"], dtype=np.uint8))
    return _downmix(pcm, channels), rate


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> None:
    """Write mono int16 PCM."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def write_mulaw_wav(path: Path, pcm: np.ndarray, rate: int = 8000) -> None:
    """Write mono mu-law (format tag 7) from int16 samples already at ``rate``."""
    data = mulaw_encode(pcm).tobytes()
    fmt = (
        _WAVE_FORMAT_MULAW.to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + rate.to_bytes(4, "little")
        + rate.to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little")
        + (0).to_bytes(2, "little")
    )
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data + (b"\0" if len(data) & 1 else b"")
    Path(path).write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
