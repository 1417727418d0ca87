"""``carrier speech say`` then ``carrier speech transcribe``: the operator round trip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.speech.audio import read_wav, write_mulaw_wav
from carrier.cli import main

pytestmark = pytest.mark.models


def test_say_then_transcribe_at_8khz(
    tmp_path: Path, whisper_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reply.wav"
    assert (
        main(["speech", "say", "Please call us back tomorrow.", "-o", str(out), "--rate", "8000"])
        == 0
    )
    pcm, rate = read_wav(out)
    assert rate == 8000
    assert len(pcm) > 8000
    capsys.readouterr()
    assert main(["speech", "transcribe", str(out), "--model-dir", str(whisper_dir)]) == 0
    text = capsys.readouterr().out.lower()
    assert "call us back tomorrow" in text
    # The same audio as a mu-law WAV (a telephone recording).
    ulaw = tmp_path / "reply-ulaw.wav"
    write_mulaw_wav(ulaw, pcm, 8000)
    assert main(["speech", "transcribe", str(ulaw), "--model-dir", str(whisper_dir)]) == 0
    assert "tomorrow" in capsys.readouterr().out.lower()


def test_transcribe_unreadable_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    assert main(["speech", "transcribe", str(bad), "--model-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "Traceback" not in err


def test_long_recordings_are_cut_in_a_pause_not_mid_word() -> None:
    import numpy as np  # noqa: PLC0415

    from agent.speech.cli import _pieces  # noqa: PLC0415

    loud = (np.sin(np.arange(16000 * 40) / 5) * 8000).astype(np.int16)
    loud[22 * 16000 : 22 * 16000 + 1600] = 0  # a 100 ms pause at 22 s
    pieces = _pieces(loud)
    assert 22.0 <= len(pieces[0]) / 16000 <= 22.1  # before: a fixed cut at 25.0 s
    assert sum(len(p) for p in pieces) == len(loud)
    assert all(len(p) <= 25 * 16000 for p in pieces)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian) not installed")
def test_transcribe_a_spanish_recording_with_language(
    tmp_path: Path, whisper_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Spanish call recording (another voice than the agent's: Debian's espeak-ng), as
    an operator transcribes it. Told the language, the words come out in Spanish; the
    default is English and ``--language`` is how an operator says otherwise."""
    wav = tmp_path / "llamada.wav"
    subprocess.run(["espeak-ng", "-v", "es+m2", "-s", "130", "-w", str(wav),
                    "Quiero cambiar mi cita para el martes por la mañana."], check=True)
    capsys.readouterr()
    assert main(["speech", "transcribe", str(wav), "--model-dir", str(whisper_dir),
                 "--language", "es"]) == 0
    said = capsys.readouterr().out.lower()
    assert "cita" in said
    assert "martes" in said
    assert main(["speech", "transcribe", str(wav), "--model-dir", str(whisper_dir),
                 "--language", "auto"]) == 0
    assert "martes" in capsys.readouterr().out.lower()


def test_transcribe_refuses_a_language_it_does_not_speak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["speech", "transcribe", str(tmp_path / "x.wav"), "--language", "fr"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --language: invalid choice (choose from 'en', 'es', 'auto')" in err
    assert "'fr'" not in err  # what was typed is not echoed (carrier.cli usage errors)
