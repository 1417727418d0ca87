"""The batched resample+G.711 path matches the per-session path, frame after frame."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.batch import (
    DOWN_MATRIX,
    UP_MATRIX,
    decode_upsample_many,
    downsample_encode_many,
    downsample_encode_packets,
    limit_blas_threads,
)
from media.g711 import PCMA, PCMU, G711Codec
from media.resample import Downsampler, Upsampler
from media.stream import RtpStream


def frames_for(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    t = np.arange(320) / 16000
    out = []
    for _ in range(count):
        f = rng.uniform(200, 3400)
        noise = rng.normal(0, 500, 320)
        out.append(
            np.clip(12000 * np.sin(2 * np.pi * f * t) + noise, -32768, 32767).astype(np.int16)
        )
    return out


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.sampled_from([PCMU, PCMA]), min_size=1, max_size=12))
def test_batched_equals_per_session_over_consecutive_frames(seed: int, pts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    codecs = [G711Codec(pt) for pt in pts]
    n = len(codecs)
    downs_a, downs_b = [Downsampler() for _ in range(n)], [Downsampler() for _ in range(n)]
    ups_a, ups_b = [Upsampler() for _ in range(n)], [Upsampler() for _ in range(n)]
    for _ in range(4):  # several frames: the filter memory must carry over identically
        frames = frames_for(rng, n)
        batched = downsample_encode_many(downs_a, frames, codecs)
        single = [
            c.encode_float(d.process_float(f))
            for c, d, f in zip(codecs, downs_b, frames, strict=True)
        ]
        for c, x, y in zip(codecs, batched, single, strict=True):
            dx, dy = c.decode(x).astype(int), c.decode(y).astype(int)
            # float summation order may flip a code at a decision boundary: one step at most
            assert np.all(np.abs(dx - dy) <= np.maximum(16, np.abs(dy) // 8))
        wide = decode_upsample_many(ups_a, single, codecs)
        assert wide.shape == (n, 320)
        assert wide.dtype == np.int16
        for row, (c, up, payload) in enumerate(zip(codecs, ups_b, single, strict=True)):
            expected = up.process(c.decode(payload))
            assert np.abs(wide[row].astype(int) - expected).max() <= 1


def test_matrices_hold_the_filter() -> None:
    assert DOWN_MATRIX.shape == (47 + 320, 160)
    assert UP_MATRIX.shape == (23 + 160, 320)
    # every output column applies the whole low-pass (unity DC gain, x2 for upsampling phases)
    np.testing.assert_allclose(DOWN_MATRIX.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        UP_MATRIX.sum(axis=0)[0::2] + UP_MATRIX.sum(axis=0)[1::2], 2.0, atol=1e-4
    )


def test_stream_packets_identical_through_either_path() -> None:
    kwargs = {"remote_addr": ("127.0.0.1", 9), "ssrc": 77}
    a, b = RtpStream(**kwargs), RtpStream(**kwargs)  # type: ignore[arg-type]
    b._seq, b._timestamp = a._seq, a._timestamp
    frames = frames_for(np.random.default_rng(3), 6)
    a.audio.extend(frames)
    b.audio.extend(frames)
    for _ in range(8):
        single = a.tick_send()
        plan = b.send_plan()
        if isinstance(plan, np.ndarray):
            [payload] = downsample_encode_many([b.downsampler], [plan], [b.codec])
            batched = b.send_audio(payload)
        else:
            batched = plan
        assert single is not None
        assert batched is not None
        assert single[:12] == batched[:12]  # header (seq, timestamp, marker) identical
        assert len(single) == len(batched)


@pytest.mark.parametrize("pts", [[PCMU, PCMU, PCMU], [PCMU, PCMA, PCMU]])
def test_packets_are_each_header_then_the_batched_payload(pts: list[int]) -> None:
    frames = frames_for(np.random.default_rng(5), 3)
    downs_a = [Downsampler() for _ in pts]
    downs_b = [Downsampler() for _ in pts]
    codecs = [G711Codec(pt) for pt in pts]
    headers = [bytes([0x80, pt, 0, i]) + bytes(8) for i, pt in enumerate(pts)]
    for _ in range(2):  # the second call runs on the filter memory the first one left
        payloads = downsample_encode_many(downs_a, frames, codecs)
        packets = downsample_encode_packets(downs_b, frames, codecs, headers)
        assert packets == [h + p for h, p in zip(headers, payloads, strict=True)]


def test_a_stream_without_srtp_gives_the_header_a_batch_needs() -> None:
    kwargs = {"remote_addr": ("127.0.0.1", 9), "ssrc": 77}
    a, b = RtpStream(**kwargs), RtpStream(**kwargs)  # type: ignore[arg-type]
    b._seq, b._timestamp = a._seq, a._timestamp
    frames = frames_for(np.random.default_rng(4), 3)
    a.audio.extend(frames)
    b.audio.extend(frames)
    for _ in range(3):
        single = a.tick_send()
        plan = b.send_plan()
        assert isinstance(plan, np.ndarray)
        header = b.audio_header(160)
        assert single is not None
        assert header == single[:12]
    assert a.stats() == b.stats()  # packets, octets counted alike


@pytest.mark.parametrize("threads", [1])
def test_limit_blas_threads_is_best_effort(threads: int) -> None:
    assert limit_blas_threads(threads) in (True, False)
