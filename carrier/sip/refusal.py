"""Refusals that do not amplify (issue 11 item 6), sans-IO.

`RefusalGate.screen(data, source, now)` stands in front of the user agent for sources
the inbound policy does not admit. An out-of-dialog INVITE from such a source is
answered 403 statelessly (RFC 3261 sec 8.2.6.2, 16.11: no server transaction, so
nothing is retransmitted and no state is kept), at most as often as a per-source and a
global token bucket allow, and dropped without a word beyond that; malformed messages
from it get their 4xx under the same limit and are counted under the rule "malformed".
Responses, in-dialog requests and other methods from it pass (None) to the user agent,
which handles them as before: a trunk we call need not be in the inbound ACL.

`RefusalLedger` turns refusals (the gate's 403s and the user agent's 503s alike) into
counted `RefusalSummary`s per source, rule and status: the first refusal of a window
is reported at once, the rest as one summary when the window closes, and a window
closes for good after an interval without refusals. A flood of any size from any
number of sources therefore yields a bounded number of audit rows: past `max_sources`
open windows, new sources are counted under "*".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from carrier.sip.errors import SipParseError
from carrier.sip.message import (
    Request,
    Response,
    parse_message,
)
from carrier.sip.policy import InboundPolicy, TokenBucket
from carrier.sip.session_core import ALLOW
from carrier.sip.stateless import error_response, stateless_tag
from carrier.sip.ua_config import SUPPORTED, URI_SCHEMES

Source = tuple[str, str, int]  # (transport, host, port), as the transaction layer's Address
OVERFLOW = "*"


@dataclass(frozen=True)
class RefusalSummary:
    """`count` refusals of `source` by `rule` (answered `status`) between `since` and
    `until` (the endpoint's clock); `answered` of them got an answer, the rest were
    dropped by the rate limit."""

    source: str  # an IP address, or "*" for sources past the ledger's bound
    transport: str
    rule: str
    status: int
    count: int
    answered: int
    since: float
    until: float

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.answered <= self.count or self.until < self.since:
            raise ValueError("a refusal summary counts at least one refusal in its window")


@dataclass
class _Window:
    start: float
    transport: str
    count: int = 0  # refusals not yet reported
    answered: int = 0


class RefusalLedger:
    def __init__(self, *, interval: float = 60.0, max_sources: int = 1024) -> None:
        if interval <= 0 or max_sources < 1:
            raise ValueError("interval and max_sources must be positive")
        self.interval = interval
        self.max_sources = max_sources
        self._open: OrderedDict[tuple[str, str, int], _Window] = OrderedDict()

    def note(self, source: str, transport: str, rule: str, status: int, now: float, *,
             answered: bool = True) -> list[RefusalSummary]:  # fmt: skip
        """Count one refusal; returns the summaries to report now (closed windows, and
        this refusal itself when it opens a window)."""
        out = self.due(now)
        key = (source, rule, status)
        if key not in self._open and len(self._open) >= self.max_sources:
            key = (OVERFLOW, rule, status)
        window = self._open.get(key)
        if window is None:
            self._open[key] = _Window(now, transport)
            out.append(RefusalSummary(key[0], transport, rule, status, 1, int(answered), now,
                                      now))  # fmt: skip
            return out
        window.count += 1
        window.answered += int(answered)
        return out

    def due(self, now: float) -> list[RefusalSummary]:
        """Summaries of the windows that closed by `now`."""
        out: list[RefusalSummary] = []
        while self._open:
            key, window = next(iter(self._open.items()))
            if window.start + self.interval > now:
                break
            del self._open[key]
            if window.count:
                out.append(self._summary(key, window, now))
                # The flood goes on: a new window, reported at its end, not at once.
                self._open[key] = _Window(now, window.transport)
        return out

    def flush(self, now: float) -> list[RefusalSummary]:
        """Everything counted and not yet reported (at shutdown)."""
        out = [self._summary(k, w, now) for k, w in self._open.items() if w.count]
        self._open.clear()
        return out

    @property
    def next_due(self) -> float | None:
        if not self._open:
            return None
        return next(iter(self._open.values())).start + self.interval

    @staticmethod
    def _summary(key: tuple[str, str, int], window: _Window, now: float) -> RefusalSummary:
        source, rule, status = key
        return RefusalSummary(source, window.transport, rule, status, window.count,
                              window.answered, window.start, now)  # fmt: skip


@dataclass
class AnswerLimiter:
    """Whether a refusal may be answered: a token bucket per source (`rate` per second,
    bursting to `burst`) under a global one, so spoofed sources cannot turn us into a
    reflector. At most `max_sources` buckets are kept (least recently used go first)."""

    rate: float = 1.0
    burst: float = 5.0
    global_rate: float = 50.0
    max_sources: int = 4096
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict, init=False)
    _global: TokenBucket | None = field(default=None, init=False)

    def allow(self, source: str, now: float) -> bool:
        bucket = self._buckets.pop(source, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, burst=self.burst)
            if len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
        self._buckets[source] = bucket
        if self._global is None:
            self._global = TokenBucket(self.global_rate)
        return bucket.try_take(now) and self._global.try_take(now)


@dataclass(frozen=True)
class Screened:
    """The gate handled the datagram: send `answer` (if any) back to the source, report
    `summaries`; the user agent never sees it."""

    answer: bytes | None
    summaries: tuple[RefusalSummary, ...] = ()


class RefusalGate:
    def __init__(
        self,
        policy: InboundPolicy,
        ledger: RefusalLedger,
        *,
        limiter: AnswerLimiter | None = None,
        server: str = "carrier-sip",
    ) -> None:
        self.policy = policy
        self.ledger = ledger
        self.limiter = limiter or AnswerLimiter()
        self.server = server

    def screen(self, data: bytes, source: Source, now: float, *,
               known: Callable[[str], bool] = lambda _: False) -> Screened | None:  # fmt: skip
        """None: pass `data` to the user agent. Otherwise the refusal, already counted.
        `known(call_id)`: a call of ours, whose in-dialog requests pass as they are."""
        ip = source[1]
        if self.policy.admits(ip):
            return None
        try:
            msg = parse_message(data)
        except SipParseError as err:
            # Counted like a refusal (rule "malformed"), so an attack is on record; no
            # byte of it is: the summary names the source and the status only.
            resp = error_response(err)
            answered = resp is not None and self.limiter.allow(ip, now)
            summaries = self.ledger.note(ip, source[0], "malformed", err.status_code, now,
                                         answered=answered)  # fmt: skip
            answer = resp.serialize() if resp is not None and answered else None
            return Screened(answer, tuple(summaries))
        if not isinstance(msg, Request) or msg.method == "ACK":
            return None  # a response or an ACK opens no transaction
        if msg.to.tag is not None and known(msg.call_id):
            return None  # a call of ours (a trunk we call need not be in the ACL)
        if msg.method != "INVITE" or msg.to.tag is not None:
            return self._other(msg, ip, now)
        answered = self.limiter.allow(ip, now)
        answer = None
        if answered:
            resp = Response.for_request(msg, 403, to_tag=stateless_tag(msg.headers))
            resp.add("Server", self.server)
            answer = resp.serialize()
        summaries = self.ledger.note(ip, source[0], "acl", 403, now, answered=answered)
        return Screened(answer, tuple(summaries))

    def _other(self, msg: Request, ip: str, now: float) -> Screened | None:
        """Any other request from a refused source: each would open a server transaction
        (kept 32 s after its answer on UDP), so a plain OPTIONS gets its 200 here without
        one, and the rest go on only as fast as the limiter allows (dropped beyond)."""
        plain = not msg.get_all("Require") and msg.uri.scheme in URI_SCHEMES
        if msg.method == "OPTIONS" and msg.to.tag is None and plain:
            resp = Response.for_request(msg, 200, to_tag=stateless_tag(msg.headers))
            for name, value in (("Allow", ALLOW), ("Accept", "application/sdp"),
                                ("Supported", ", ".join(SUPPORTED)), ("Server", self.server)):
                resp.add(name, value)
            return Screened(resp.serialize())
        return None if self.limiter.allow(ip, now) else Screened(None)
