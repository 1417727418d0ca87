"""Replies that sound like a yes or a no and are neither.

- ``UNSURE``: "not sure", "not really sure", "no idea", "I'm not certain": the caller does
  not know ("sure" was read as a yes, "not really" and "no idea" as a no, and stored as a
  screening answer).
- ``FETCH``: "yeah, hang on, I'll get her", "I'll get him", "she's coming": someone else
  answered and is fetching the patient; a request for a moment, not the patient's yes
  (the date of birth was asked of whoever answered).
"""

from __future__ import annotations

import re

UNSURE = re.compile(r"\b(?:not|never) (?:\w+ ){0,3}(?:sure|certain)\b|\bno (?:idea|clue)\b|"
                    r"\b(?:don't|dont|do not) know\b|\bunsure\b")
FETCH = re.compile(r"\b(?:i'll|ill|i will|let me|i'm going to|i'm gonna|i can) (?:go )?"
                   r"(?:get|grab|fetch|call) (?:her|him|them|my \w+)\b|\b(?:she's|he's|she is|"
                   r"he is) (?:coming|on (?:her|his) way)\b")
