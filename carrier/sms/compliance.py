"""SMS compliance rules, pure: opt-out keywords and their replies, the exempt-text limits.

* CTIA Messaging Principles and Best Practices (2023) 5.1: a message that is only one of
  the opt-out words (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) opts out at once and
  gets one confirmation naming the program and how to opt back in; START/UNSTOP opt back
  in; HELP/INFO get the program name, a contact, frequency and "Msg & data rates may apply".
  A keyword is the whole message (case, spaces and trailing punctuation aside): "cancel my
  appointment" is no opt-out, "Cancel" is.
* FCC 15-72 (healthcare exemption, 47 CFR 64.1200(a)(9)(iv) as applied to texts): an exempt
  text is at most 160 characters, names the provider, and carries nothing beyond the
  minimum necessary; a reminder template may use only ``{clinic}``, ``{day}``, ``{time}``.
* 10DLC: the sending number's campaign (The Campaign Registry id, ``C`` + 6 letters/digits).
"""

from __future__ import annotations

import enum
import re
import string
from dataclasses import dataclass

EXEMPT_TEXT_LIMIT = 160
REMINDER_FIELDS = frozenset({"clinic", "day", "time"})
# Longest values the reminder fields take ("Wednesday, September 30", "12:45 PM").
_LONGEST = {"clinic": None, "day": "Wednesday, September 30", "time": "12:45 PM"}
_CAMPAIGN = re.compile(r"^C[A-Z0-9]{6}$")


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.STOP),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}


def keyword(text: str) -> Keyword | None:
    """The compliance keyword this whole message is, or None."""
    word = text.strip().strip(string.punctuation + " ").upper()
    return KEYWORDS.get(word)


@dataclass(frozen=True)
class Program:
    """What the required replies name: the program (brand) and where to get help."""

    brand: str
    help_number: str

    def reply(self, kw: Keyword) -> str:
        """The one reply CTIA requires for ``kw`` (each well under 160 characters)."""
        if kw is Keyword.STOP:
            return (f"{self.brand}: You are unsubscribed and will receive no more messages. "
                    "Reply START to resubscribe.")
        if kw is Keyword.START:
            return (f"{self.brand}: You are subscribed to appointment messages. Msg frequency "
                    "varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.")
        return (f"{self.brand} appointment messages. Help: {self.help_number}. Msg frequency "
                "varies. Msg & data rates may apply. Reply STOP to opt out.")


class ExemptTextError(ValueError):
    """An exempt (healthcare) text that breaks the exemption's conditions."""

    rule = "sms.exempt.length"


def check_exempt_text(text: str) -> None:
    """An exempt text is at most 160 characters (FCC 15-72 para. 147)."""
    if len(text) > EXEMPT_TEXT_LIMIT:
        raise ExemptTextError(f"exempt text is {len(text)} characters "
                              f"(limit {EXEMPT_TEXT_LIMIT})")


def template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None


def check_reminder_template(template: str, clinic: str) -> None:
    """Only the minimum necessary fields, and at most 160 characters at their longest."""
    fields = template_fields(template)
    extra = fields - REMINDER_FIELDS
    if extra:
        raise ValueError(f"a reminder text may name only {sorted(REMINDER_FIELDS)}, "
                         f"not {sorted(extra)} (minimum necessary)")
    longest = template.format(**{**_LONGEST, "clinic": clinic})
    check_exempt_text(longest)


def check_campaign_id(value: str) -> None:
    if not _CAMPAIGN.match(value):
        raise ValueError("a 10DLC campaign id is C followed by 6 capital letters or digits")
