"""Small audio helpers for the speech pipeline: resampling, G.711 mu-law, framing, WAV.

numpy only (scipy is not a dependency). The resampler is a polyphase windowed-sinc FIR,
the same design as ``scipy.signal.resample_poly`` (Kaiser window, 10 zero crossings
each side of the centre at the lower of the two rates), good to well past telephone
quality. G.711 here exists so the CLI can read mu-law WAV files and the tests and the
bench can make telephone audio without depending on ``media/``.
"""

from __future__ import annotations

import io
import math
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

RATE = 16_000
FRAME_SAMPLES = 320  # 20 ms at 16 kHz, the MediaSession frame
FRAME_MS = 20


@lru_cache(maxsize=16)
def _polyphase_taps(up: int, down: int) -> np.ndarray:
    """Filter taps arranged as ``(up, K)``: row p holds h[p], h[p+up], h[p+2up], ..."""
    top = max(up, down)
    half = 10 * top
    length = 2 * half + 1
    m = np.arange(length) - half
    cutoff = 1.0 / top
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(length, 5.0) * up
    k = math.ceil(length / up)
    padded = np.zeros(k * up)
    padded[:length] = h
    return padded.reshape(k, up).T.copy()


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample mono float or int16 audio; returns float32 in the input's scale."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    taps = _polyphase_taps(up, down)
    k = taps.shape[1]
    half = 10 * max(up, down)  # the filter's centre tap, as in _polyphase_taps
    src = np.asarray(x, dtype=np.float64)
    n_out = (len(src) * up + down - 1) // down
    j = np.arange(n_out, dtype=np.int64) * down + half
    base = j // up
    phase = j % up
    # x is zero-padded by k on the left and k on the right.
    padded = np.concatenate([np.zeros(k), src, np.zeros(k + 1)])
    idx = base[:, None] - np.arange(k)[None, :] + k
    idx = np.clip(idx, 0, len(padded) - 1)
    y: np.ndarray = np.einsum("nk,nk->n", padded[idx], taps[phase])
    return y.astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in int16 scale -> int16 with clipping."""
    out: np.ndarray = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16."""
    return to_int16(np.asarray(x, dtype=np.float64) * 32767.0)


def int16_to_float(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32) / 32768.0).astype(np.float32)


def frames(pcm16k: np.ndarray, *, pad: bool = True) -> list[np.ndarray]:
    """Cut int16 16 kHz audio into 20 ms frames; the last one zero-padded if ``pad``."""
    pcm = np.asarray(pcm16k, dtype=np.int16)
    n = len(pcm) // FRAME_SAMPLES
    out = [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].copy() for i in range(n)]
    rest = pcm[n * FRAME_SAMPLES :]
    if pad and len(rest):
        last = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        last[: len(rest)] = rest
        out.append(last)
    return out


# --- G.711 mu-law (ITU-T G.711, the classic Sun reference algorithm) ---------------

_BIAS = 0x84
_CLIP = 32635


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """int16 -> mu-law bytes (uint8)."""
    x = np.asarray(pcm, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    codes: np.ndarray = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -mag, mag).astype(np.int16)


_MULAW_DECODE = _mulaw_table()


def mulaw_decode(data: np.ndarray | bytes) -> np.ndarray:
    """mu-law bytes -> int16."""
    codes = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    return _MULAW_DECODE[np.asarray(codes, dtype=np.uint8)]


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
