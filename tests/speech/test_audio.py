from __future__ import annotations

import contextlib
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agent.speech.audio import (
    FRAME_SAMPLES,
    WavError,
    frames,
    mulaw_decode,
    mulaw_encode,
    read_wav,
    resample,
    telephone,
    write_mulaw_wav,
    write_wav,
)

# G.711 reference points (Sun g711.c): linear -> mu-law code. The codec is media.g711's,
# bit-exact with audioop over every input (tests/media/test_media_g711.py): -1 is 14-bit -1,
# magnitude 1 + 33 = 34, step 1, 1 ^ 0x7F = 0x7E (this file's own encoder said 0x7F).
MULAW_VECTORS = [(0, 0xFF), (-1, 0x7E), (1000, 0xCE), (-1000, 0x4E), (32767, 0x80), (-32768, 0x00)]


@pytest.mark.parametrize(("linear", "code"), MULAW_VECTORS)
def test_mulaw_reference_codes(linear: int, code: int) -> None:
    assert mulaw_encode(np.array([linear], dtype=np.int16))[0] == code


def test_mulaw_decode_reference() -> None:
    codes = np.array([0xFF, 0x80, 0x00, 0xEA], dtype=np.uint8)
    assert mulaw_decode(codes).tolist() == [0, 32124, -32124, 212]


def test_mulaw_every_code_round_trips() -> None:
    codes = np.arange(256, dtype=np.uint8)
    again = mulaw_encode(mulaw_decode(codes))
    # 0x7F and 0xFF both decode to 0 (negative and positive zero) and encode to 0xFF.
    assert (again == codes).sum() == 255
    assert again[0x7F] == 0xFF


@given(hnp.arrays(np.int16, st.integers(1, 400)))
def test_mulaw_error_is_bounded_by_segment_step(pcm: np.ndarray) -> None:
    back = mulaw_decode(mulaw_encode(pcm)).astype(np.int32)
    err = np.abs(back - pcm.astype(np.int32))
    # Quantisation step doubles per segment: at most ~1/32 of the magnitude, plus clipping.
    assert np.all(
        err
        <= np.abs(pcm.astype(np.int32)) // 16
        + 8
        + np.maximum(0, np.abs(pcm.astype(np.int32)) - 32124)
    )


@pytest.mark.parametrize(
    ("rate_in", "rate_out"), [(22050, 16000), (8000, 16000), (16000, 8000), (44100, 16000)]
)
def test_resample_keeps_an_in_band_tone(rate_in: int, rate_out: int) -> None:
    t = np.arange(rate_in) / rate_in
    y = resample(10000 * np.sin(2 * np.pi * 1000 * t), rate_in, rate_out)
    assert len(y) == rate_out
    ref = 10000 * np.sin(2 * np.pi * 1000 * np.arange(rate_out) / rate_out)
    assert np.max(np.abs(y[300:-300] - ref[300:-300])) < 40  # better than -48 dB


def test_resample_rejects_out_of_band_tone() -> None:
    t = np.arange(22050) / 22050
    y = resample(10000 * np.sin(2 * np.pi * 10000 * t), 22050, 16000)  # above 8 kHz Nyquist
    assert np.max(np.abs(y[300:-300])) < 100


def test_telephone_keeps_speech_band_and_length() -> None:
    t = np.arange(16000) / 16000
    x = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    y = telephone(x)
    assert len(y) == len(x)
    assert np.corrcoef(x[400:-400], y[400:-400])[0, 1] > 0.99


def test_frames_pads_last() -> None:
    out = frames(np.ones(FRAME_SAMPLES * 2 + 5, dtype=np.int16))
    assert [len(f) for f in out] == [FRAME_SAMPLES] * 3
    assert out[-1][:5].tolist() == [1] * 5
    assert not out[-1][5:].any()


def _wav_bytes(pcm: np.ndarray, rate: int, channels: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def test_read_wav_pcm_mono_and_stereo(tmp_path: Path) -> None:
    pcm = np.arange(-100, 100, dtype=np.int16)
    write_wav(tmp_path / "a.wav", pcm, 8000)
    got, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000
    assert got.tolist() == pcm.tolist()
    stereo = np.stack([pcm, pcm + 2], axis=1).reshape(-1)
    got, rate = read_wav(_wav_bytes(stereo, 44100, 2))
    assert rate == 44100
    assert got.tolist() == (pcm + 1).tolist()


def test_read_wav_mulaw(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(800) / 5) * 9000).astype(np.int16)
    write_mulaw_wav(tmp_path / "u.wav", pcm, 8000)
    got, rate = read_wav(tmp_path / "u.wav")
    assert rate == 8000
    assert got.tolist() == mulaw_decode(mulaw_encode(pcm)).tolist()


def test_read_wav_refuses_other_formats() -> None:
    with pytest.raises(WavError, match="RIFF"):
        read_wav(b"not a wav file at all")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(10))
    with pytest.raises(WavError, match="8-bit"):
        read_wav(buf.getvalue())


@settings(max_examples=30)
@given(st.binary(min_size=0, max_size=64))
def test_read_wav_garbage_raises_wav_error_only(data: bytes) -> None:
    with contextlib.suppress(WavError):
        read_wav(b"RIFF\x00\x00\x00\x00WAVE" + data)
