"""G.711 against reference values (ITU-T G.711 / Sun g711.c, as audioop computed them)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from media.g711 import PCMA, PCMU, G711Codec

# (linear input, PCMU byte, PCMA byte), worked by hand from the G.711 segment rules
# (e.g. mu-law -1: 14-bit -1, magnitude 1 + bias 33 = 34, segment 0, step 34 >> 1 & 15 = 1,
# 1 ^ 0x7F = 0x7E) and identical to audioop's lin2ulaw/lin2alaw
ENCODE_VECTORS = [
    (0, 0xFF, 0xD5),
    (-1, 0x7E, 0x55),
    (8, 0xFE, 0xD5),
    (-8, 0x7E, 0x55),
    (1000, 0xCE, 0xFA),
    (-1000, 0x4E, 0x7A),
    (32767, 0x80, 0xAA),
    (-32768, 0x00, 0x2A),
]
# (byte, PCMU linear, PCMA linear); e.g. A-law 0xFF: ^0x55 = 0xAA, segment 2,
# (10 << 4) + 0x108 = 424, << 1 = 848
DECODE_VECTORS = [
    (0x00, -32124, -5504),
    (0x80, 32124, 5504),
    (0xFF, 0, 848),
    (0x7F, 0, -848),
    (0xD5, 716, 8),
    (0x55, -716, -8),
    (0x2A, -5372, -32256),
    (0xAA, 5372, 32256),
]


@pytest.mark.parametrize(("linear", "ulaw", "alaw"), ENCODE_VECTORS)
def test_encode_vectors(linear: int, ulaw: int, alaw: int) -> None:
    pcm = np.array([linear], dtype=np.int16)
    assert G711Codec(PCMU).encode(pcm) == bytes([ulaw])
    assert G711Codec(PCMA).encode(pcm) == bytes([alaw])


@pytest.mark.parametrize(("byte", "ulaw", "alaw"), DECODE_VECTORS)
def test_decode_vectors(byte: int, ulaw: int, alaw: int) -> None:
    assert int(G711Codec(PCMU).decode(bytes([byte]))[0]) == ulaw
    assert int(G711Codec(PCMA).decode(bytes([byte]))[0]) == alaw


def test_silence_bytes() -> None:
    assert G711Codec(PCMU).silence(3) == b"\xff\xff\xff"
    assert G711Codec(PCMA).silence(2) == b"\xd5\xd5"


def test_rejects_other_payload_types() -> None:
    with pytest.raises(ValueError, match=r"not G\.711"):
        G711Codec(9)


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # noqa: PLC0415 - deprecated, present up to 3.12
        except ImportError:
            return None
    return audioop


def test_bit_exact_with_audioop_when_available() -> None:
    audioop = _audioop()
    if audioop is None:
        pytest.skip("audioop is gone (Python 3.13+); the fixed vectors above still apply")
    every = np.arange(-32768, 32768, dtype=np.int16)
    raw = every.tobytes()
    codes = bytes(range(256))
    assert G711Codec(PCMU).encode(every) == audioop.lin2ulaw(raw, 2)
    assert G711Codec(PCMA).encode(every) == audioop.lin2alaw(raw, 2)
    assert G711Codec(PCMU).decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert G711Codec(PCMA).decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_every_code_is_a_fixed_point(pt: int) -> None:
    codec = G711Codec(pt)
    codes = bytes(range(256))
    decoded = codec.decode(codes)
    again = codec.encode(decoded)
    # each code decodes to a value that encodes back to itself (except mu-law's -0)
    mismatches = [c for c, d in zip(codes, again, strict=True) if c != d]
    assert mismatches == ([0x7F] if pt == PCMU else [])


@settings(deadline=None)
@given(arrays(np.int16, st.integers(1, 320)), st.sampled_from([PCMU, PCMA]))
def test_round_trip_error_is_within_the_segment_step(pcm: np.ndarray, pt: int) -> None:
    codec = G711Codec(pt)
    out = codec.decode(codec.encode(pcm)).astype(np.int32)
    err = np.abs(out - pcm.astype(np.int32))
    # quantisation step doubles per segment: at most 1/16 of the magnitude plus the floor
    assert np.all(err <= np.abs(pcm.astype(np.int32)) // 16 + 16 + (pt == PCMU) * 16)
    assert len(codec.encode(pcm)) == len(pcm)


@settings(deadline=None)
@given(
    arrays(np.float32, st.integers(1, 320), elements=st.floats(-40000, 40000, width=32)),
    st.sampled_from([PCMU, PCMA]),
)
def test_encode_float_equals_rounding_and_saturating_first(samples: np.ndarray, pt: int) -> None:
    codec = G711Codec(pt)
    expected = codec.encode(
        np.clip(np.floor(samples.astype(np.float64) + 0.5), -32768, 32767).astype(np.int16)
    )
    assert codec.encode_float(samples.copy()) == expected


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_decode_into_float_buffer(pt: int) -> None:
    codec = G711Codec(pt)
    codes = bytes(range(256))
    out = np.empty(256, dtype=np.float32)
    codec.decode_into(codes, out)
    np.testing.assert_array_equal(out, codec.decode(codes).astype(np.float32))
