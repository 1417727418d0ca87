"""G.711 mu-law (PCMU) and A-law (PCMA), table-based and vectorised.

The tables are computed once at import from the ITU-T G.711 segment rules as written in
the widely used Sun reference (``g711.c``, also the algorithm of CPython's former
``audioop``): 16-bit input, mu-law with bias 0x84 on the 14-bit value, A-law on the 13-bit
value with even-bit inversion (XOR 0x55). Encoding one frame is then a single indexing
operation on a 65,536-entry table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PCMU = 0
PCMA = 8

_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_SEG_END = np.array([0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF], dtype=np.int32)

Int16Array = npt.NDArray[np.int16]
Uint8Array = npt.NDArray[np.uint8]


def _ulaw_encode_all() -> Uint8Array:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.where(pcm < 0, -pcm, pcm)
    mag = np.minimum(mag, 8159) + (0x84 >> 2)
    seg = np.searchsorted(_ULAW_SEG_END >> 2, mag, side="left")
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> np.maximum(seg + 1, 0)) & 0xF))
    return (uval ^ mask).astype(np.uint8)


def _ulaw_decode_all() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    out = np.where(u & 0x80, 0x84 - t, t - 0x84)
    return out.astype(np.int16)


def _alaw_encode_all() -> Uint8Array:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0xF))
    return (aval ^ mask).astype(np.uint8)


def _alaw_decode_all() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    out = np.where(a & 0x80, t, -t)
    return out.astype(np.int16)


ULAW_ENCODE: Uint8Array = _ulaw_encode_all()
ULAW_DECODE: Int16Array = _ulaw_decode_all()
ALAW_ENCODE: Uint8Array = _alaw_encode_all()
ALAW_DECODE: Int16Array = _alaw_decode_all()


class G711Codec:
    """Stateless G.711 codec for one payload type (0 = PCMU, 8 = PCMA)."""

    __slots__ = ("_decode", "_decode_f32", "_encode", "payload_type", "silence_byte")
    wideband = False  # 8 kHz audio: the session resamples to and from 16 kHz frames

    def __init__(self, payload_type: int) -> None:
        if payload_type == PCMU:
            self._encode, self._decode = ULAW_ENCODE, ULAW_DECODE
        elif payload_type == PCMA:
            self._encode, self._decode = ALAW_ENCODE, ALAW_DECODE
        else:
            raise ValueError(f"payload type {payload_type} is not G.711")
        self._decode_f32 = self._decode.astype(np.float32)
        self.payload_type = payload_type
        self.silence_byte = int(self._encode[32768])

    @property
    def encode_table(self) -> Uint8Array:
        """65,536 codes indexed by ``sample + 32768``."""
        return self._encode

    @property
    def decode_table_f32(self) -> npt.NDArray[np.float32]:
        return self._decode_f32

    def encode(self, pcm: Int16Array) -> bytes:
        """8 kHz int16 samples -> G.711 bytes (one byte per sample)."""
        index = pcm.astype(np.int16, copy=False).view(np.uint16) ^ 0x8000
        out: bytes = self._encode[index].tobytes()
        return out

    def decode(self, payload: bytes) -> Int16Array:
        """G.711 bytes -> 8 kHz int16 samples."""
        return self._decode[np.frombuffer(payload, dtype=np.uint8)]

    def decode_into(self, payload: bytes, out: npt.NDArray[np.float32]) -> None:
        """Decode straight into a float buffer (the upsampler's input), no temporaries."""
        np.take(self._decode_f32, np.frombuffer(payload, dtype=np.uint8), out=out)

    def encode_float(self, samples: npt.NDArray[np.float32]) -> bytes:
        """Encode float samples (overwritten) with saturation, fused with quantisation:
        the table index is ``sample + 32768`` rounded and clamped to 0..65535."""
        np.add(samples, 32768.5, out=samples)
        np.minimum(samples, 65535.0, out=samples)
        np.maximum(samples, 0.0, out=samples)
        out: bytes = self._encode[samples.astype(np.intp)].tobytes()
        return out

    def silence(self, samples: int) -> bytes:
        return bytes([self.silence_byte]) * samples


def encode(pcm: Int16Array, payload_type: int) -> bytes:
    return G711Codec(payload_type).encode(pcm)


def decode(payload: bytes, payload_type: int) -> Int16Array:
    return G711Codec(payload_type).decode(payload)
