"""The resampling and G.711 work of many sessions in one matrix product per direction.

The pacer ticks sessions in groups; doing their frames together replaces ~17 small numpy
calls per session and tick with ~5, and turns the FIR into one BLAS ``sgemm`` over a
banded matrix (the same filter as ``media.resample``, so the batched and the per-session
paths can alternate on one stream: both keep the filter memory in the resampler).
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from media.framing import FRAME_SAMPLES, WIRE_SAMPLES
from media.g711 import G711Codec
from media.resample import LOWPASS, TAPS, Downsampler, Float32Array, Int16Array, Upsampler, to_int16

WIDE = FRAME_SAMPLES  # 20 ms at 16 kHz
NARROW = WIRE_SAMPLES  # 20 ms at 8 kHz
RTP_HEADER = 12  # a plain RTP header (no CSRC, no extension)
DOWN_HIST = TAPS - 1
UP_HIST = TAPS // 2 - 1


def _down_matrix() -> Float32Array:
    kernel = LOWPASS[::-1]
    m = np.zeros((DOWN_HIST + WIDE, NARROW), dtype=np.float32)
    for i in range(NARROW):  # output i sums the TAPS inputs ending at 2*i + 1 (+ history)
        m[1 + 2 * i : 1 + 2 * i + TAPS, i] = kernel
    return m


def _up_matrix() -> Float32Array:
    half = TAPS // 2
    even = LOWPASS[0::2][::-1] * 2.0
    odd = LOWPASS[1::2][::-1] * 2.0
    m = np.zeros((UP_HIST + NARROW, WIDE), dtype=np.float32)
    for i in range(NARROW):
        m[i : i + half, 2 * i] = even
        m[i : i + half, 2 * i + 1] = odd
    return m


DOWN_MATRIX = _down_matrix()
UP_MATRIX = _up_matrix()


def batchable_down(down: Downsampler) -> bool:
    return down.frame_samples == WIDE


def batchable_up(up: Upsampler, payload: bytes) -> bool:
    return up.frame_samples == NARROW and len(payload) == NARROW


def _downsample_index(
    downs: Sequence[Downsampler], frames: Sequence[Int16Array]
) -> npt.NDArray[np.intp]:
    """16 kHz frames -> G.711 table indices (sessions, 160), filter memories updated."""
    count = len(downs)
    x = np.empty((count, DOWN_HIST + WIDE), dtype=np.float32)
    # whole-matrix copies from lists of arrays, one per side (not a row view each)
    x[:, DOWN_HIST:] = frames
    x[:, :DOWN_HIST] = [down.history for down in downs]
    y = x @ DOWN_MATRIX
    for down, tail in zip(downs, x[:, WIDE:], strict=True):
        down.history[:] = tail
    # round, saturate and index the encode table in one pass (see G711Codec.encode_float)
    np.add(y, 32768.5, out=y)
    np.minimum(y, 65535.0, out=y)
    np.maximum(y, 0.0, out=y)
    return y.astype(np.intp)


def downsample_encode_many(
    downs: Sequence[Downsampler], frames: Sequence[Int16Array], codecs: Sequence[G711Codec]
) -> list[bytes]:
    """16 kHz frames -> G.711 payloads, one per session, filter memories updated."""
    index = _downsample_index(downs, frames)
    first = codecs[0]
    if all(c.payload_type == first.payload_type for c in codecs):
        coded = first.encode_table[index]
        return [row.tobytes() for row in coded]
    return [c.encode_table[index[row]].tobytes() for row, c in enumerate(codecs)]


def downsample_encode_packets(
    downs: Sequence[Downsampler],
    frames: Sequence[Int16Array],
    codecs: Sequence[G711Codec],
    headers: Sequence[bytes],
) -> list[bytes]:
    """As ``downsample_encode_many``, but whole RTP packets: each session's 12-byte
    ``headers`` entry, then its payload, built in one buffer for the group (one copy per
    packet instead of a payload copy plus a header concatenation)."""
    count = len(downs)
    index = _downsample_index(downs, frames)
    size = RTP_HEADER + NARROW
    out = np.empty((count, size), dtype=np.uint8)
    out[:, :RTP_HEADER] = np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(
        count, RTP_HEADER
    )
    first = codecs[0]
    if all(c.payload_type == first.payload_type for c in codecs):
        out[:, RTP_HEADER:] = first.encode_table[index]
    else:
        for row, codec in enumerate(codecs):
            out[row, RTP_HEADER:] = codec.encode_table[index[row]]
    data = out.tobytes()
    return [data[i : i + size] for i in range(0, count * size, size)]


def decode_upsample_many(
    ups: Sequence[Upsampler], payloads: Sequence[bytes], codecs: Sequence[G711Codec]
) -> Int16Array:
    """G.711 payloads (160 bytes each) -> a (sessions, 320) array of 16 kHz frames."""
    count = len(ups)
    x = np.empty((count, UP_HIST + NARROW), dtype=np.float32)
    codes = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(count, NARROW)
    first = codecs[0]
    if all(c.payload_type == first.payload_type for c in codecs):
        x[:, UP_HIST:] = first.decode_table_f32[codes]
    else:
        for row, codec in enumerate(codecs):
            x[row, UP_HIST:] = codec.decode_table_f32[codes[row]]
    x[:, :UP_HIST] = [up.history for up in ups]
    y = x @ UP_MATRIX
    for up, tail in zip(ups, x[:, NARROW:], strict=True):
        up.history[:] = tail
    return to_int16(y)


def limit_blas_threads(threads: int = 1) -> bool:
    """Ask numpy's bundled OpenBLAS to use ``threads`` threads (best effort).

    The batched products are small; with OpenBLAS's default thread pool they run several
    times slower on a busy machine (threads wake and contend for every call). Returns
    False when no OpenBLAS with a known entry point is found (another BLAS: nothing done).
    """
    libs_dir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    names = (
        "scipy_openblas_set_num_threads64_",
        "openblas_set_num_threads64_",
        "openblas_set_num_threads",
    )
    for path in glob.glob(os.path.join(libs_dir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False


__all__ = [
    "DOWN_MATRIX",
    "UP_MATRIX",
    "batchable_down",
    "batchable_up",
    "decode_upsample_many",
    "downsample_encode_many",
    "downsample_encode_packets",
    "limit_blas_threads",
]

_ = npt  # numpy.typing is used through the aliases imported from media.resample
