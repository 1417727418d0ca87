"""Resampler quality: frequency kept, band limited, and frame boundaries seamless."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.resample import LOWPASS, TAPS, Downsampler, Upsampler


def tone(freq: float, rate: int, seconds: float, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def framed(processor: Downsampler | Upsampler, signal: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate(
        [processor.process(signal[i : i + size]) for i in range(0, len(signal), size)]
    )


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def snr_db(signal: np.ndarray, freq: float, rate: int) -> float:
    """Power at ``freq`` against everything else, after a least-squares sine fit."""
    t = np.arange(len(signal)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, signal.astype(float), rcond=None)
    fit = basis @ coef
    noise = signal - fit
    return float(10 * np.log10(np.sum(fit**2) / np.sum(noise**2)))


def test_filter_is_symmetric_and_unity_gain() -> None:
    assert len(LOWPASS) == TAPS
    np.testing.assert_allclose(LOWPASS, LOWPASS[::-1], atol=1e-7)
    assert abs(float(LOWPASS.sum()) - 1.0) < 1e-5


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_down_then_up_keeps_tone_clean(freq: float) -> None:
    wide = tone(freq, 16000, 1.0)
    narrow = framed(Downsampler(), wide, 320)
    assert len(narrow) == 8000
    back = framed(Upsampler(), narrow, 160)
    assert len(back) == 16000
    for signal, rate in ((narrow[400:], 8000), (back[800:], 16000)):
        assert abs(peak_hz(signal, rate) - freq) < 2
        assert snr_db(signal, freq, rate) > 45  # far above G.711's own ~38 dB
    # passband gain within 0.5 dB
    assert 0.94 < np.abs(back[800:]).max() / 10000 < 1.06


def test_downsampling_rejects_what_would_alias() -> None:
    wide = tone(5000.0, 16000, 0.5)  # would fold to 3 kHz
    narrow = framed(Downsampler(), wide, 320)
    rms = float(np.sqrt(np.mean(narrow[200:].astype(float) ** 2)))
    assert rms < 10000 / np.sqrt(2) * 10 ** (-45 / 20)


def test_upsampling_suppresses_images() -> None:
    narrow = tone(1000.0, 8000, 0.5)
    wide = framed(Upsampler(), narrow, 160).astype(float)
    spectrum = np.abs(np.fft.rfft(wide[800:] * np.hanning(len(wide) - 800)))
    freqs = np.fft.rfftfreq(len(wide) - 800, 1 / 16000)
    image = spectrum[np.abs(freqs - 7000) < 50].max()
    wanted = spectrum[np.abs(freqs - 1000) < 50].max()
    assert 20 * np.log10(image / wanted) < -45


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([2, 4, 160, 320, 640]), min_size=1, max_size=8))
def test_output_does_not_depend_on_frame_boundaries(sizes: list[int]) -> None:
    """State carried across frames: any framing gives the same samples as one block."""
    total = sum(sizes)
    signal = tone(700.0, 16000, total / 16000)
    whole = Downsampler().process(signal)
    down = Downsampler()
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(down.process(signal[pos : pos + size]))
        pos += size
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    up_whole = Upsampler().process(whole)
    up = Upsampler()
    halves = [size // 2 for size in sizes]
    up_pieces, pos = [], 0
    for size in halves:
        up_pieces.append(up.process(whole[pos : pos + size]))
        pos += size
    np.testing.assert_array_equal(np.concatenate(up_pieces), up_whole)


def test_full_scale_input_saturates_instead_of_wrapping() -> None:
    square = np.tile(np.array([32767] * 32 + [-32768] * 32, dtype=np.int16), 10)
    out = Downsampler().process(square).astype(int)
    # the Gibbs overshoot at each edge is clipped to the rails...
    assert out.max() == 32767
    assert out.min() == -32768
    # ...and never wraps round (a wrapped sample jumps by about 65,536)
    assert np.abs(np.diff(out[40:])).max() < 40000


def test_odd_frame_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        Downsampler().process(np.zeros(321, dtype=np.int16))
