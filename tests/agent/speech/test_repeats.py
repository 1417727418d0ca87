"""Repeats in a transcript: a caller's ("No, no.") is kept, a decoding loop is collapsed, and
a first pass that ends on a phrase said twice is decoded again in the long window.

Every transcript used to go through ``collapse_repeats``, so a real repeat lost words (a WER
loss against the raw model, which never collapses), and a short window's invented copy of
the last sentence ("... start over. Press 8 to start over.", a 6 s human recording over
G.711 on the bench's dev split) went to the workflow as it was. Pure: no model.
"""

from __future__ import annotations

from agent.speech.repeats import repeats_at_end, settle_repeats
from agent.speech.whisper import SttConfig


def test_a_repeat_confirmed_by_the_final_pass_is_kept() -> None:
    assert settle_repeats("No, no.", ran_out=False, final=True) == ("No, no.", False)
    assert settle_repeats("Yes yes", ran_out=False, final=True) == ("Yes yes", False)


def test_a_first_pass_repeat_is_collapsed_and_decoded_again() -> None:
    assert settle_repeats("No, no.", ran_out=False, final=False) == ("No,", True)


def test_loops_are_still_collapsed_on_every_pass() -> None:
    for final in (False, True):
        assert settle_repeats("No. No. No. No.", ran_out=False, final=final)[0] == "No."
        assert settle_repeats("Stop calling me Stop calling me Stop", ran_out=False,
                              final=final)[0] == "Stop calling me"
        assert settle_repeats("No. No.", ran_out=True, final=final) == ("No.", True)
    assert settle_repeats("5 5 5 1 2 3", ran_out=False, final=True) == ("5 5 5 1 2 3", False)


def test_an_invented_copy_of_the_last_sentence_sends_the_first_pass_to_the_long_window() -> None:
    said = ("Press 1 to switch to playback mode. Press 8 to truncate the file and start over. "
            "Press 8 to truncate the file and start over.")
    assert repeats_at_end(said)
    assert settle_repeats(said, ran_out=False, final=False) == (said, True)
    assert settle_repeats(said, ran_out=False, final=True) == (said, False)  # as decoded
    # Not a trailing repeat: no second pass (no cost).
    for text in ("My number is 5 5 5 1 2 3.", "Yes, that's right.", "1 2 1 2 3"):
        assert not repeats_at_end(text)
        assert settle_repeats(text, ran_out=False, final=False) == (text, False)
    # The second pass runs in Whisper's own 30 s window (10 s still invented the copy).
    assert SttConfig(model_dir=__import__("pathlib").Path(".")).retry_window_s == 30.0
