"""Greedy Whisper decoding in stages, so a decoding loop stops as soon as it shows.

In a short encoder window Whisper often loops ("Yes. Yes. Yes. ...") and a greedy pass
then runs to its token budget: every token costs a full pass over the output layer
(about 6.5 ms of a core for tiny.en and 11 ms for base on the AMD EPYC of
``bench/concurrent_calls.py``), so a 0.6 s "Yes." that loops cost 14-22 tokens where it
needed 3. CTranslate2's Whisper ``generate`` has no per-token callback to stop it, so
this module generates ``FIRST_TOKENS`` tokens, keeps the items that ended or that already
show a loop (``unloop``: a run said three times at the end), and continues only the rest,
each from its own tokens (CTranslate2 takes them as a forced prefix), doubling the length
each stage up to the item's budget.

Greedy search is deterministic, so a continued item gets the tokens a single pass would
have given (``tests/speech/test_staged.py`` checks it on real audio); only a loop is cut
sooner. The scores are put back together as one pass's: CTranslate2 reports the sum of
the new tokens' log-probabilities divided by the whole sequence's length, prefix
included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.speech.repeats import unloop

__all__ = ["FIRST_TOKENS", "Generated", "generate_staged", "generation_limit"]

# Enough for the commonest answers to end in the first stage ("Yes, that's right." is 6
# tokens and the end of text).
FIRST_TOKENS = 8


@dataclass(frozen=True, slots=True)
class Generated:
    ids: list[int]  # the text's tokens (no end of text)
    avg_logprob: float  # mean log-probability per token, as one pass reports it
    no_speech_prob: float
    ran_out: bool  # reached its budget, or stopped because it was looping


def generation_limit(prompt_tokens: int, tokens: int) -> int:
    """CTranslate2's ``max_length`` for ``tokens`` tokens of text after a prompt.

    Its Whisper returns at most min(max_length / 2, max_length - prompt + 1) tokens after
    the prompt (the half is Whisper's sample length), counting a forced prefix among them
    (measured: a 2-token prompt and max_length 64 give 32 tokens, a 15-token prompt and 24
    give 10). ``prompt + 2 * budget`` (before) let a loop run half the hint prompt's
    length past its budget: with a 16-token hint, 8 tokens nobody keeps."""
    return min(max(2 * tokens, prompt_tokens + tokens), 440)


def generate_staged(model: Any, encoded: Any, prompts: list[list[int]], budgets: list[int],
                    *, eot: int, first: int = FIRST_TOKENS) -> list[Generated]:
    """Greedy decoding of a batch (one prompt and token budget per item), in stages.

    The prompts must be aligned (one length: ``agent.speech.whisper._aligned``)."""
    import ctranslate2  # noqa: PLC0415 - heavy; only in processes that transcribe

    n = len(prompts)
    ids: list[list[int]] = [[] for _ in range(n)]
    sums = [0.0] * n  # the log-probabilities of the tokens generated so far
    no_speech = [0.0] * n
    ran_out: dict[int, bool] = {}  # finished items: ran to their budget or looped
    live = list(range(n))
    stage, cap = 0, first
    while live:
        # Stage 0 decodes the batch as a whole; later ones the items still going, each
        # from its own tokens so far (a forced prefix, counted in the returned length).
        target = min(max(budgets[i] for i in live), cap)
        results = model.generate(
            encoded if stage == 0 else _select(ctranslate2, encoded, live),
            [prompts[i] + ids[i] for i in live],
            beam_size=1,
            max_length=generation_limit(len(prompts[live[0]]), target),
            # Only the very first step may not end (Whisper's rule; a prefix is not one).
            suppress_blank=stage == 0,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=stage == 0,
        )
        going = []
        for i, result in zip(live, results, strict=True):
            seq = [t for t in result.sequences_ids[0] if t < eot]
            # the score is the new tokens' log-probability over the whole length
            sums[i] += (result.scores[0] if result.scores else 0.0) * max(1, len(seq))
            if stage == 0:
                no_speech[i] = result.no_speech_prob
            ids[i] = seq
            if len(seq) >= budgets[i]:
                ran_out[i] = True
            elif len(seq) < target:  # it ended (end of text) before the stage's limit
                ran_out[i] = False
            elif len(unloop(seq)) < len(seq):  # looping: it would run to its budget
                ran_out[i] = True
            else:
                going.append(i)
        live = going
        stage, cap = stage + 1, cap * 2
    return [Generated(ids[i][:budgets[i]], sums[i] / max(1, len(ids[i])), no_speech[i],
                      ran_out[i]) for i in range(n)]


def _select(ctranslate2: Any, encoded: Any, items: list[int]) -> Any:
    """The encoder output of some items of a batch (a CTranslate2 StorageView)."""
    import numpy as np  # noqa: PLC0415

    array = np.asarray(encoded)
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array[items]))
