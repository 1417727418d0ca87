"""Reassembly of inbound concatenated texts (the parts an SMSC delivers one by one).

Pure: no I/O, the clock passed in. A part is kept under its text's key - the sender, our
number, the reference and the part count - and the text is whole once every number from 1
to the count is in, joined in number order. The library's own store (aiosmpplib 0.7)
keyed parts by the reference alone, mixing two phones' texts that shared one (8 bits), and
joined them sorted as strings ("1", "10", "2"). A part numbered outside its count (or a
count below 2) is a text of its own. Texts still incomplete ``wait_s`` after their first
part are dropped, as is the oldest one waiting when ``max_pending`` wait already; each drop
is counted in ``dropped`` (the caller logs it, without content).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

PARTS_WAIT_S = 900.0
MAX_PENDING = 1000


class TextKey(NamedTuple):
    """Which text a part belongs to."""

    sender: str
    to: str
    ref: int
    parts: int


@dataclass
class _Waiting:
    first_at: float
    parts: dict[int, str] = field(default_factory=dict)


class InboundParts:
    def __init__(self, *, wait_s: float = PARTS_WAIT_S, max_pending: int = MAX_PENDING) -> None:
        self.wait_s = wait_s
        self.max_pending = max_pending
        self.dropped = 0
        self._waiting: dict[TextKey, _Waiting] = {}

    def add(self, key: TextKey, number: int, text: str, *, now: float) -> str | None:
        """The whole text once this part completes it (this part's text when it belongs
        to no other); None while parts are missing."""
        self._expire(now)
        count = key.parts
        if count < 2 or not 1 <= number <= count:
            return text
        waiting = self._waiting.get(key)
        if waiting is None:
            if len(self._waiting) >= self.max_pending:
                oldest = min(self._waiting, key=lambda k: self._waiting[k].first_at)
                del self._waiting[oldest]
                self.dropped += 1
            waiting = self._waiting[key] = _Waiting(now)
        waiting.parts[number] = text
        if len(waiting.parts) < count:
            return None
        del self._waiting[key]
        return "".join(waiting.parts[n] for n in range(1, count + 1))

    def _expire(self, now: float) -> None:
        stale = [k for k, w in self._waiting.items() if now - w.first_at >= self.wait_s]
        for key in stale:
            del self._waiting[key]
        self.dropped += len(stale)

    def __len__(self) -> int:
        return len(self._waiting)
