"""Resampling: 8 kHz <-> 16 kHz per frame for RTP, and any rate to any rate for files.

``Downsampler``/``Upsampler`` are the per-call 8 kHz <-> 16 kHz converters (below);
:func:`resample` converts a whole buffer between any two rates (a synthesised voice at
22.05 kHz, a WAV file at 44.1 kHz) with a polyphase windowed-sinc FIR, the design of
``scipy.signal.resample_poly`` (Kaiser window, 10 zero crossings each side of the centre
at the lower rate), so nothing of ours needs a second resampler.


One Kaiser-windowed sinc low-pass (48 taps at 16 kHz, cut-off 3.9 kHz) serves both
directions: passband ripple under 0.3 dB up to 3.4 kHz, stopband at least 53 dB from
4.6 kHz (the telephone band ends at 3.4 kHz, so aliases land outside it). Each direction
keeps the last input samples as filter history, so consecutive 20 ms frames join without
a click. The filter runs as one strided matrix product per frame (no Python loop).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

TAPS = 48
CUTOFF_HZ = 3900.0
HIGH_RATE = 16000
KAISER_BETA = 7.0

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]


def design_lowpass(taps: int = TAPS, cutoff_hz: float = CUTOFF_HZ) -> Float32Array:
    n = np.arange(taps) - (taps - 1) / 2
    wc = 2 * cutoff_hz / HIGH_RATE
    h = wc * np.sinc(wc * n) * np.kaiser(taps, KAISER_BETA)
    out: Float32Array = (h / h.sum()).astype(np.float32)
    return out


LOWPASS: Float32Array = design_lowpass()


def to_int16(samples: Float32Array) -> Int16Array:
    # ufunc minimum/maximum with out= are several times cheaper than np.clip per call;
    # truncation instead of rounding costs under one LSB and saves a pass
    np.minimum(samples, 32767.0, out=samples)
    np.maximum(samples, -32768.0, out=samples)
    return samples.astype(np.int16)


class Downsampler:
    """16 kHz -> 8 kHz, any even frame length, state kept between calls."""

    __slots__ = ("_buf", "_hist", "_history", "_kernel", "_n", "_windows")

    def __init__(self, frame_samples: int = 320) -> None:
        self._hist = TAPS - 1
        self._kernel = LOWPASS[::-1].copy()
        self._resize(frame_samples)

    def _resize(self, n: int) -> None:
        if n % 2:
            raise ValueError("16 kHz frame length must be even")
        old = getattr(self, "_buf", None)
        self._n = n
        self._buf: Float32Array = np.zeros(self._hist + n, dtype=np.float32)
        if old is not None:
            self._buf[: self._hist] = old[: self._hist]
        self._history = self._buf[: self._hist]  # one view, kept: batch reads it per tick
        # row i = the TAPS input samples ending at 16 kHz index 2*i + 1; a view on the
        # persistent buffer, built once (as_strided is costly per call)
        step = self._buf.strides[0]
        self._windows = as_strided(self._buf[1:], shape=(n // 2, TAPS), strides=(2 * step, step))

    def reset(self) -> None:
        self._buf[: self._hist] = 0.0

    @property
    def history(self) -> Float32Array:
        """The filter memory (last input samples), shared with ``media.batch``."""
        return self._history

    @property
    def frame_samples(self) -> int:
        return self._n

    def process(self, frame: Int16Array) -> Int16Array:
        return to_int16(self.process_float(frame))

    def process_float(self, frame: Int16Array) -> Float32Array:
        """Unclipped float output, for a caller that quantises anyway (the G.711 encoder)."""
        n = len(frame)
        if n != self._n:
            self._resize(n)
        buf = self._buf
        buf[self._hist :] = frame
        out: Float32Array = np.dot(self._windows, self._kernel)  # np.dot beats @ on strided views
        buf[: self._hist] = buf[n:]
        return out


class Upsampler:
    """8 kHz -> 16 kHz (zero-stuffing + the same low-pass as two polyphase branches)."""

    __slots__ = ("_buf", "_hist", "_history", "_n", "_phases", "_windows")

    def __init__(self, frame_samples: int = 160) -> None:
        half = TAPS // 2
        self._hist = half - 1
        # column p computes output sample 2*i + p from the last `half` inputs (polyphase)
        even = LOWPASS[0::2][::-1] * 2.0
        odd = LOWPASS[1::2][::-1] * 2.0
        self._phases = np.stack([even, odd], axis=1).astype(np.float32)
        self._resize(frame_samples)

    def _resize(self, n: int) -> None:
        old = getattr(self, "_buf", None)
        self._n = n
        self._buf: Float32Array = np.zeros(self._hist + n, dtype=np.float32)
        if old is not None:
            self._buf[: self._hist] = old[: self._hist]
        self._history = self._buf[: self._hist]  # one view, kept: batch reads it per tick
        step = self._buf.strides[0]
        self._windows = as_strided(self._buf, shape=(n, self._hist + 1), strides=(step, step))

    def reset(self) -> None:
        self._buf[: self._hist] = 0.0

    @property
    def history(self) -> Float32Array:
        return self._history

    @property
    def frame_samples(self) -> int:
        return self._n

    def process(self, frame: Int16Array) -> Int16Array:
        n = len(frame)
        if n != self._n:
            self._resize(n)
        self._buf[self._hist :] = frame
        return self._run()

    def input_slot(self, n: int) -> Float32Array:
        """Where the next ``n`` input samples go, for a decoder writing floats in place;
        follow with ``process_slot()``."""
        if n != self._n:
            self._resize(n)
        return self._buf[self._hist :]

    def process_slot(self) -> Int16Array:
        return self._run()

    def _run(self) -> Int16Array:
        buf = self._buf
        out = np.dot(self._windows, self._phases).reshape(-1)
        buf[: self._hist] = buf[self._n :]
        return to_int16(out)


@lru_cache(maxsize=16)
def _polyphase_taps(up: int, down: int) -> npt.NDArray[np.float64]:
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
    out: npt.NDArray[np.float64] = padded.reshape(k, up).T.copy()
    return out


def resample(x: npt.ArrayLike, rate_in: int, rate_out: int) -> Float32Array:
    """Resample mono float or int16 audio between any two rates; float32 in the input's
    scale (the caller quantises)."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    taps = _polyphase_taps(up, down)
    k = taps.shape[1]
    half = 10 * max(up, down)  # the filter's centre tap, as in _polyphase_taps
    src = np.asarray(x, dtype=np.float64).reshape(-1)
    n_out = (len(src) * up + down - 1) // down
    j = np.arange(n_out, dtype=np.int64) * down + half
    base = j // up
    phase = j % up
    padded = np.concatenate([np.zeros(k), src, np.zeros(k + 1)])  # zero-padded both sides
    idx = base[:, None] - np.arange(k)[None, :] + k
    idx = np.clip(idx, 0, len(padded) - 1)
    y = np.einsum("nk,nk->n", padded[idx], taps[phase])
    out: Float32Array = y.astype(np.float32)
    return out
