"""The words and phrases of a plain yes or no, matched whole on cleaned text
(``agent.grammar.intents.yes_no``: the phrase that starts first wins, the longer of two
that start together, so "that's not right" is a no before "right" is a yes)."""

from __future__ import annotations

DENY_PHRASES = (
    "i don't think so", "i dont think so", "don't think so", "not really", "that's not right",
    "thats not right", "that is not right", "that's not correct", "that is not correct",
    "that's wrong", "thats wrong", "that is wrong", "not correct", "incorrect", "no thanks",
    "no thank you", "not at all", "i can't", "i cannot", "i can not", "i won't", "not me",
    "that's not me", "negative", "absolutely not", "definitely not", "of course not",
    "nope", "nah", "no", "naw", "nuhuh", "never", "not quite", "not exactly", "wrong",
    "wouldn't say so",
    "would not say so", "i doubt it", "doubt it",
    # Spanish "ya no" ("no longer": "ya no quiero...") is no "ya" (yeah); nor is "yeah no".
    "ya no",
)
AFFIRM_PHRASES = (
    "that's right", "thats right", "that is right", "that's correct", "that is correct",
    "that's me", "thats me", "this is he", "this is she", "this is him", "this is her",
    "speaking", "it's me", "its me", "it is me", "it's her", "it's him", "you got her",
    "you got him", "you've got her", "you've got him", "that'd be me", "you got it",
    "sounds good", "that works", "that's fine", "that is fine", "works for me",
    "i'll be there", "i will be there", "see you then",
    "of course", "i will", "i can", "i do", "i am", "it is", "yes please", "uhhuh",
    "mhm", "yes", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "right", "absolutely",
    "definitely", "certainly", "affirmative", "ok", "okay", "alright", "all right", "fine",
    "perfect", "great", "confirm", "confirmed", "exactly", "indeed", "yessir", "no doubt",
)
