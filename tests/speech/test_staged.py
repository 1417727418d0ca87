"""Greedy decoding in stages (``agent.speech.staged``): the same tokens as one pass, a
loop stopped as soon as it shows. Real tiny.en, real caller audio (8 kHz G.711 vectors);
the model is wrapped only to count what it was asked to generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.speech.audio import int16_to_float
from agent.speech.models import quick_model_dir
from agent.speech.repeats import unloop
from agent.speech.staged import Generated, generate_staged, generation_limit
from agent.speech.whisper import SttConfig, WhisperEngine, _aligned
from tests.speech.conftest import load_vector

SHORT_WINDOW_S = 3.0  # where tiny loops on a short answer (why stages exist)


class Counting:
    """The real CTranslate2 model; remembers the ``max_length`` of each generate call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.limits: list[int] = []

    def __getattr__(self, name: str) -> Any:  # encode, device, is_multilingual, ...
        return getattr(self.model, name)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> Any:
        self.limits.append(options["max_length"])
        return self.model.generate(features, prompts, **options)


@pytest.fixture(scope="module")
def tiny() -> WhisperEngine:
    return WhisperEngine(SttConfig(model_dir=quick_model_dir(), cpu_threads=1))


def decode(engine: WhisperEngine, names: list[str], budgets: list[int], first: int,
           prompt: str | None = None) -> tuple[list[Generated], list[int]]:
    audio = [int16_to_float(load_vector(n)) for n in names]
    encoded = engine.model.model.encode(engine._features(audio, SHORT_WINDOW_S), to_cpu=False)
    tok = engine.tokenizer
    prompts = _aligned([engine._prompt_tokens(prompt, tok) for _ in names], tok.sot_prev,
                       engine._filler)
    model = Counting(engine.model.model)
    return generate_staged(model, encoded, prompts, budgets, eot=tok.eot, first=first), \
        model.limits


def test_the_generation_limit_follows_ctranslate2s_rule() -> None:
    # returned tokens = min(max_length / 2, max_length - prompt + 1), measured on 4.8
    assert generation_limit(2, 8) == 16  # the half binds
    assert generation_limit(15, 8) == 23  # the prompt binds: 23 - 15 + 1 >= 8
    assert generation_limit(2, 300) == 440  # Whisper's context


@pytest.mark.parametrize("prompt", [None, "My date of birth is March 4, 1982."])
@pytest.mark.parametrize("name", ["caller_yes.wav", "caller_dob.wav", "caller_person.wav",
                                  "caller_count_fast.wav"])
def test_stages_give_the_tokens_and_score_of_one_pass(tiny: WhisperEngine, name: str,
                                                     prompt: str | None) -> None:
    budget = 40
    [one], _ = decode(tiny, [name], [budget], first=budget, prompt=prompt)
    [staged], limits = decode(tiny, [name], [budget], first=4, prompt=prompt)
    if one.ran_out:  # a loop: stopped sooner, with what one pass said first
        assert staged.ran_out
        assert one.ids[:len(staged.ids)] == staged.ids
        assert sum(limits) < generation_limit(2, budget) * len(limits)
    else:
        assert staged.ids == one.ids
        assert not staged.ran_out
        assert staged.avg_logprob == pytest.approx(one.avg_logprob, abs=2e-3)
        assert staged.no_speech_prob == pytest.approx(one.no_speech_prob, abs=1e-6)


def test_a_loop_stops_in_the_stage_where_it_shows(tiny: WhisperEngine) -> None:
    # tiny.en loops on a short answer in a 3 s window (to its budget, one pass)
    [one], _ = decode(tiny, ["caller_yes.wav"], [40], first=40)
    assert one.ran_out, "no loop to stop here"
    assert len(unloop(one.ids)) < len(one.ids)
    [staged], limits = decode(tiny, ["caller_yes.wav"], [40], first=8)
    assert staged.ran_out
    assert unloop(staged.ids) == unloop(one.ids)
    # "Yes, that's right." is 6 tokens: by 8 it is not a loop yet, by 16 it is (two whole
    # copies and a third begun), where one pass ran on to 40
    assert limits == [generation_limit(2, 8), generation_limit(2, 16)]
    assert len(staged.ids) <= 17 < len(one.ids)


def test_a_batch_continues_only_the_items_still_going(tiny: WhisperEngine) -> None:
    # the same batch (one shared window: its longest item's) decoded in one pass and in
    # stages, so only the staging differs
    names = ["caller_person.wav", "caller_yes.wav", "caller_count_fast.wav"]
    one, _ = decode(tiny, names, [60, 60, 60], first=60)
    together, limits = decode(tiny, names, [60, 60, 60], first=4)
    assert len(limits) >= 2
    for a, t in zip(one, together, strict=True):
        if a.ran_out:  # stopped sooner: what it has is what one pass said first
            assert t.ran_out
            assert a.ids[:len(t.ids)] == t.ids
        else:
            assert t.ids == a.ids


def test_the_engine_decodes_in_stages_on_a_cpu(tiny: WhisperEngine, tmp_path: Path) -> None:
    counting = Counting(tiny.model.model)
    real = tiny.model.model
    tiny.model.model = counting
    try:
        said = tiny.transcribe(load_vector("caller_count_fast.wav"), window_s=SHORT_WINDOW_S)
    finally:
        tiny.model.model = real
    assert said.text
    assert counting.limits[0] == generation_limit(2, 8)
    assert np.isfinite(said.avg_logprob)
