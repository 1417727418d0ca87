"""What the engine asks the host to do (effects) and what the host tells it (inputs).

Frozen dataclasses that check themselves. The host (the call handler, the
simulator) executes effects in order and feeds inputs back; the engine never
does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.grammar.completion import Completion

DTMF_KEYS = frozenset("0123456789*#")


# ---- effects -------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    prompt_id: str
    text: str
    interruptible: bool
    contains_phi: bool


@dataclass(frozen=True)
class Expectation:
    """What the next caller turn should contain: hints for STT and a completeness test."""

    intents: tuple[str, ...]
    slot_type: str | None
    dtmf: tuple[str, ...]
    hints: tuple[str, ...]

    def is_complete(self, partial: str, now: dt.datetime) -> bool:
        """True when a partial transcript already answers (the endpointer may stop early)."""
        from agent.grammar import parse_slot, understand  # noqa: PLC0415 - keep effects light

        if self.slot_type is not None and self.slot_type not in ("text", "name"):
            return parse_slot(self.slot_type, partial, now, options=9) is not None
        return bool(understand(partial).intents & set(self.intents))

    def completion(self, partial: str, now: dt.datetime) -> Completion:
        """Whether a partial transcript has finished the answer, is on its way to one, or
        cannot be judged (``speech.turn_end: grammar`` acts on it)."""
        from agent.grammar.completion import completion  # noqa: PLC0415 - keep effects light

        return completion(partial, now, slot_type=self.slot_type, intents=self.intents)


@dataclass(frozen=True)
class Listen:
    expected: Expectation
    # How long to wait for the caller before NoInput; None: the channel's own wait. Longer
    # after "hold on, let me get my card" (``asides.HOLD_WAIT_S``).
    wait_s: float | None = None


@dataclass(frozen=True)
class Action:
    name: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class Transfer:
    target: str
    summary: str  # redacted: no names, dates or numbers of the patient
    patient_id: str | None


@dataclass(frozen=True)
class Hangup:
    reason: str


@dataclass(frozen=True)
class RecordRevocation:
    """Consent revoked (47 CFR 64.1200(a)(10)): record it in the consent ledger at once."""

    patient_id: str | None
    phone: str | None
    channel: str
    method: str  # "voice" or "dtmf"
    at: dt.datetime


@dataclass(frozen=True)
class AddDoNotCall:
    phone: str | None
    patient_id: str | None
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class AuditStep:
    call_id: str
    workflow: str
    seq: int
    state: str
    event: str  # enter | input | no_input | no_match | action | result | verify | global | end
    at: dt.datetime
    intent: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)  # values replaced by placeholders
    action: str | None = None
    result: str | None = None


@dataclass(frozen=True)
class Audit:
    step: AuditStep


@dataclass(frozen=True)
class Remember:
    """What this interaction decided, for the next one on any channel (no PHI values)."""

    patient_id: str | None
    workflow: str
    outcome: str
    collected: frozenset[str]
    facts: Mapping[str, str]
    at: dt.datetime


Effect = (Say | Listen | Action | Transfer | Hangup | RecordRevocation | AddDoNotCall | Audit
          | Remember)


# ---- inputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    text: str


@dataclass(frozen=True)
class Dtmf:
    key: str

    def __post_init__(self) -> None:
        if self.key not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {self.key!r}")


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class ActionResult:
    name: str
    status: str  # "ok", "none", "error", or an action-specific status
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallerHangup:
    pass


Input = Utterance | Dtmf | NoInput | ActionResult | CallerHangup
