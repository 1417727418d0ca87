"""An over-long utterance is cut between two words, and the rest follows at once.

The endpointer cut at exactly ``max_utterance_ms``: inside a word, whose two halves went to
two transcriptions (and a remainder under ``min_speech_ms`` was dropped). On the
human-speech bench (bench/speech_wer_human.py) 2 of the 4 dev-split recordings over 12 s
were cut that way. Recorded (synthetic) caller counting fast, real webrtcvad, frame clock.
"""

from __future__ import annotations

import numpy as np

from agent.speech.audio import frames
from agent.speech.endpoint import (
    EndpointConfig,
    Endpointer,
    EndReason,
    SpeechEnd,
    SpeechStart,
    Utterance,
)
from tests.speech.conftest import load_vector, silence


def _rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def test_a_max_length_cut_falls_in_a_pause_and_the_rest_starts_the_next_utterance() -> None:
    pcm = np.concatenate([silence(0.3), load_vector("caller_count_fast.wav"), silence(1.0)])
    ep = Endpointer(EndpointConfig(max_utterance_ms=2000))
    events = [e for i, f in enumerate(frames(pcm)) for e in ep.feed(f, (i + 1) * 0.02)]
    events += ep.force_end(len(pcm) / 16000)
    cut = next(i for i, e in enumerate(events)
               if isinstance(e, SpeechEnd) and e.reason is EndReason.MAX_LENGTH)
    first = events[cut + 1]
    assert isinstance(first, Utterance)
    # The last 20 ms of the first utterance is a pause: far quieter than its speech.
    loud = np.median([_rms(f) for f in frames(first.audio) if _rms(f) > 300])
    assert _rms(first.audio[-320:]) < 0.2 * loud
    # The next utterance starts in the same frame, at the cut, within the search stretch.
    start = events[cut + 2]
    assert isinstance(start, SpeechStart)
    assert start.now == first.now
    assert first.end <= start.onset <= first.now
    assert first.now - start.onset <= 1.0 + 1e-6  # cut_search_ms
    # The two utterances meet at the cut sample: no frame between them is lost.
    at = round(start.onset * 16000)
    second = next(e for e in events[cut + 3:] if isinstance(e, Utterance))
    assert second.onset == start.onset
    assert np.array_equal(first.audio[-320:], pcm[at - 320:at])
    lead = 10 * 320  # 200 ms of silence lead in (the pre-roll), then the audio after the cut
    assert not second.audio[:lead].any()
    assert np.array_equal(second.audio[lead:lead + 320], pcm[at:at + 320])
