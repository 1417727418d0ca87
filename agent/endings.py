"""How a live call ends when it cannot end as the workflow planned: the exempt-call
length budget, a transfer nobody takes, and a warm transfer's hand-over.

* :class:`Budget` - an exempt healthcare call (47 CFR 64.1200(a)(9)(iv), see
  ``docs/exempt-call-limit.md``) has ``CallContext.max_duration_s``. The agent plans
  within it: no prompt starts that would end past the *soft end* (the limit less the
  time a caller needs to finish a sentence and the closing takes); a caller still
  speaking at the soft end is heard out; then the closing is said and the agent hangs
  up, all before the carrier's hard limit (which stays as the backstop).
* :func:`warm_transfer` - an attended transfer: the consult leg rings the human's
  queue with the context in a header, the context is spoken to the human, then the
  patient is bridged to them.
* :func:`transfer_failed_text` / :func:`closing_text` - what the caller hears instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from carrier.call import Call, DialFailure

SPOKEN_WORDS_PER_S = 2.6  # Piper's pace on our prompts, for a prompt not yet synthesised
CLOSING_S = 9.0  # the closing prompt, spoken
FINISH_S = 5.0  # time a caller speaking at the soft end gets to finish the sentence


class BudgetReached(Exception):
    """The call's time is up: say the closing now."""


@dataclass
class Budget:
    """The length budget of one call on the loop's monotonic clock."""

    limit_s: float
    started: float  # time.monotonic() at answer

    @property
    def soft_end(self) -> float:
        return self.started + max(0.0, self.limit_s - CLOSING_S - FINISH_S)

    def remaining(self, now: float | None = None) -> float:
        return self.soft_end - (time.monotonic() if now is None else now)

    def fits(self, seconds: float) -> bool:
        """Whether a prompt lasting ``seconds`` ends before the soft end."""
        return self.remaining() >= seconds


def spoken_seconds(text: str, cached: np.ndarray | None) -> float:
    if cached is not None:
        return len(cached) / 16000
    return len(text.split()) / SPOKEN_WORDS_PER_S


def closing_text(clinic_name: str, number: str) -> str:
    return (f"I am sorry, we have reached the time for this automated call. "
            f"To go on, please call {clinic_name} at {number}. Goodbye.")


def transfer_failed_text(number: str) -> str:
    return (f"I am sorry, I could not reach a member of our team just now. "
            f"Please call us at {number}, and if nobody answers, leave a message "
            f"and we will call you back. Goodbye.")


def context_text(summary: str) -> str:
    """The spoken context for the human (already redacted by the engine)."""
    return "Warm transfer from the automated assistant. " + summary.replace("_", " ") + "."


Speak = Callable[[Call, str], Awaitable[None]]


async def warm_transfer(call: Call, target: str, summary: str, speak: Speak,
                        detach: Callable[[], Awaitable[None]]) -> bool:
    """Call the human at ``target``, give them the context (a header and speech), then
    connect the patient; False (the patient still with us) when nobody takes it."""
    leg = await call.consult(target, {"Subject": "Warm transfer",
                                      "X-Transfer-Context": summary[:400]})
    if isinstance(leg, DialFailure):
        return False
    await speak(leg, context_text(summary))
    if leg.ended.is_set() or call.ended.is_set():
        await leg.hangup("transfer-abandoned")
        return False
    await detach()  # the patient's audio goes to the human from now on
    return await call.bridge(leg)
