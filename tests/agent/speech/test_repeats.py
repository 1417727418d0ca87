"""A caller who repeats themselves ("No, no.") keeps both words; a decoding loop does not.

Every transcript used to go through ``collapse_repeats``, so a real repeat lost words (a WER
loss against the raw model, which never collapses). Pure: no model.
"""

from __future__ import annotations

from agent.speech.whisper import settle_repeats


def test_a_repeat_confirmed_by_the_final_pass_is_kept() -> None:
    assert settle_repeats("No, no.", ran_out=False, final=True) == "No, no."
    assert settle_repeats("Yes yes", ran_out=False, final=True) == "Yes yes"


def test_a_first_pass_repeat_is_collapsed_so_the_long_window_decodes_it_again() -> None:
    # text != said marks the item as suspect: transcribe_batch decodes it again.
    assert settle_repeats("No, no.", ran_out=False, final=False) == "No,"


def test_loops_are_still_collapsed_on_every_pass() -> None:
    for final in (False, True):
        assert settle_repeats("No. No. No. No.", ran_out=False, final=final) == "No."
        assert settle_repeats("Stop calling me Stop calling me Stop", ran_out=False,
                              final=final) == "Stop calling me"
        assert settle_repeats("No. No.", ran_out=True, final=final) == "No."
    assert settle_repeats("5 5 5 1 2 3", ran_out=False, final=True) == "5 5 5 1 2 3"
