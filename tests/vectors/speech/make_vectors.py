"""Regenerate the caller vectors: Piper's packaged voice -> 8 kHz G.711 mu-law WAV.

Run from the repository root: ``python tests/vectors/speech/make_vectors.py``.
Synthetic speech only (no real caller audio). Each file is a few tens of kB.
``caller_count_fast.wav`` (dense speech: more tokens a second than the decoder's old
budget allowed) was made with espeak-ng, not here::

    espeak-ng -v en-us -s 230 -w count.wav "one two three ... nineteen twenty"
    (then 16 kHz mu-law with agent.speech.audio.write_mulaw_wav)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.speech.audio import RATE, resample, to_int16, write_mulaw_wav
from agent.speech.models import piper_voice_paths
from agent.speech.tts import TtsConfig, load_voice

HERE = Path(__file__).parent
VECTORS = {
    "caller_yes.wav": "Yes, that's right.",
    "caller_dob.wav": "My date of birth is March fourth, nineteen eighty two.",
    "caller_person.wav": "I want to talk to a person.",
}


def main() -> None:
    voice = load_voice(piper_voice_paths(), TtsConfig(intra_op_threads=1))
    rate = voice.config.sample_rate
    for name, text in VECTORS.items():
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text)])
        narrow = to_int16(resample(audio * 32767.0, rate, 8000))
        write_mulaw_wav(HERE / name, narrow, 8000)
        print(name, f"{len(narrow) / 8000:.2f} s", RATE)


if __name__ == "__main__":
    main()
