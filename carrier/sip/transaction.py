"""SIP transactions (RFC 3261 sec 17, with the RFC 6026 Accepted state), sans-IO.

Four machines, ICT / NICT / IST / NIST, each a table `(state, input) -> (state,
effects)`. A transaction never touches a socket or a clock: callers pass `now`
(seconds, monotonic), read `next_timer`, call `handle_timer(now)` when it is due,
and carry out the returned actions (send bytes, deliver to the transaction user,
report a timeout). `carrier.sip.transaction_layer.TransactionLayer` matches
messages to them by branch (RFC 3261 17.1.3 / 17.2.3, with the RFC 2543 fallback).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from carrier.sip.errors import LocalProtocolError
from carrier.sip.message import Request, Response

MAGIC_COOKIE = "z9hG4bK"

# transport, host, port: where to send (for streams the adapter maps it to a connection)
Address = tuple[str, str, int]


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer base values (sec 17.1.1.1, table 4), in seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2 or self.t4 <= 0:
            raise ValueError("timers must satisfy 0 < T1 <= T2 and T4 > 0")


class Kind(enum.Enum):
    ICT = "invite client"
    NICT = "non-invite client"
    IST = "invite server"
    NIST = "non-invite server"


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"  # RFC 6026
    TERMINATED = "terminated"


class Input(enum.Enum):
    RECV_1XX = "recv 1xx"
    RECV_2XX = "recv 2xx"
    RECV_FINAL = "recv 300-699"
    RECV_REQUEST = "recv request retransmission"
    RECV_ACK = "recv ACK"
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_FINAL = "send 300-699"
    TIMER_A = "timer A"
    TIMER_B = "timer B"
    TIMER_D = "timer D"
    TIMER_E = "timer E"
    TIMER_F = "timer F"
    TIMER_G = "timer G"
    TIMER_H = "timer H"
    TIMER_I = "timer I"
    TIMER_J = "timer J"
    TIMER_K = "timer K"
    TIMER_L = "timer L"
    TIMER_M = "timer M"
    TRANSPORT_ERROR = "transport error"


class Effect(enum.Enum):
    RESEND_REQUEST = enum.auto()
    SEND_ACK = enum.auto()
    SEND_RESPONSE = enum.auto()  # the response just given by the TU
    RESEND_RESPONSE = enum.auto()  # the last response sent
    DELIVER = enum.auto()  # pass the received message to the TU
    TIMEOUT = enum.auto()
    TRANSPORT_FAILED = enum.auto()
    START_A = enum.auto()
    BACKOFF_A = enum.auto()
    START_D = enum.auto()
    START_E_TRYING = enum.auto()
    START_E_PROCEEDING = enum.auto()
    START_G = enum.auto()
    BACKOFF_G = enum.auto()
    START_H = enum.auto()
    START_I = enum.auto()
    START_J = enum.auto()
    START_K = enum.auto()
    START_L = enum.auto()
    START_M = enum.auto()
    CANCEL_TIMERS = enum.auto()


S, In, E = State, Input, Effect
Row = tuple[State, tuple[Effect, ...]]

# RFC 3261 17.1.1 figure 5, with RFC 6026 sec 7.2 (Accepted, Timer M).
ICT_TABLE: dict[tuple[State, Input], Row] = {
    (S.CALLING, In.TIMER_A): (S.CALLING, (E.RESEND_REQUEST, E.BACKOFF_A)),
    (S.CALLING, In.TIMER_B): (S.TERMINATED, (E.TIMEOUT,)),
    (S.CALLING, In.RECV_1XX): (S.PROCEEDING, (E.CANCEL_TIMERS, E.DELIVER)),
    (S.CALLING, In.RECV_2XX): (S.ACCEPTED, (E.CANCEL_TIMERS, E.DELIVER, E.START_M)),
    (S.CALLING, In.RECV_FINAL): (S.COMPLETED, (E.CANCEL_TIMERS, E.SEND_ACK, E.DELIVER, E.START_D)),
    (S.CALLING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.PROCEEDING, In.RECV_1XX): (S.PROCEEDING, (E.DELIVER,)),
    (S.PROCEEDING, In.RECV_2XX): (S.ACCEPTED, (E.DELIVER, E.START_M)),
    (S.PROCEEDING, In.RECV_FINAL): (S.COMPLETED, (E.SEND_ACK, E.DELIVER, E.START_D)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.PROCEEDING, In.TIMER_A): (S.PROCEEDING, ()),
    (S.PROCEEDING, In.TIMER_B): (S.PROCEEDING, ()),
    (S.COMPLETED, In.RECV_FINAL): (S.COMPLETED, (E.SEND_ACK,)),
    (S.COMPLETED, In.RECV_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.RECV_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.COMPLETED, In.TIMER_D): (S.TERMINATED, ()),
    (S.ACCEPTED, In.RECV_2XX): (S.ACCEPTED, (E.DELIVER,)),
    (S.ACCEPTED, In.RECV_1XX): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.RECV_FINAL): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TRANSPORT_ERROR): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TIMER_M): (S.TERMINATED, ()),
}

# RFC 3261 17.1.2 figure 6.
NICT_TABLE: dict[tuple[State, Input], Row] = {
    (S.TRYING, In.TIMER_E): (S.TRYING, (E.RESEND_REQUEST, E.START_E_TRYING)),
    (S.TRYING, In.TIMER_F): (S.TERMINATED, (E.TIMEOUT,)),
    (S.TRYING, In.RECV_1XX): (S.PROCEEDING, (E.DELIVER,)),
    (S.TRYING, In.RECV_2XX): (S.COMPLETED, (E.CANCEL_TIMERS, E.DELIVER, E.START_K)),
    (S.TRYING, In.RECV_FINAL): (S.COMPLETED, (E.CANCEL_TIMERS, E.DELIVER, E.START_K)),
    (S.TRYING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.PROCEEDING, In.TIMER_E): (S.PROCEEDING, (E.RESEND_REQUEST, E.START_E_PROCEEDING)),
    (S.PROCEEDING, In.TIMER_F): (S.TERMINATED, (E.TIMEOUT,)),
    (S.PROCEEDING, In.RECV_1XX): (S.PROCEEDING, (E.DELIVER,)),
    (S.PROCEEDING, In.RECV_2XX): (S.COMPLETED, (E.CANCEL_TIMERS, E.DELIVER, E.START_K)),
    (S.PROCEEDING, In.RECV_FINAL): (S.COMPLETED, (E.CANCEL_TIMERS, E.DELIVER, E.START_K)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.COMPLETED, In.RECV_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.RECV_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.RECV_FINAL): (S.COMPLETED, ()),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.COMPLETED, ()),
    (S.COMPLETED, In.TIMER_K): (S.TERMINATED, ()),
}

# RFC 3261 17.2.1 figure 7, with RFC 6026 sec 7.1 (Accepted, Timer L).
IST_TABLE: dict[tuple[State, Input], Row] = {
    (S.PROCEEDING, In.RECV_REQUEST): (S.PROCEEDING, (E.RESEND_RESPONSE,)),
    (S.PROCEEDING, In.SEND_1XX): (S.PROCEEDING, (E.SEND_RESPONSE,)),
    (S.PROCEEDING, In.SEND_2XX): (S.ACCEPTED, (E.SEND_RESPONSE, E.START_L)),
    (S.PROCEEDING, In.SEND_FINAL): (S.COMPLETED, (E.SEND_RESPONSE, E.START_G, E.START_H)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.PROCEEDING, In.RECV_ACK): (S.PROCEEDING, ()),
    (S.COMPLETED, In.RECV_REQUEST): (S.COMPLETED, (E.RESEND_RESPONSE,)),
    (S.COMPLETED, In.TIMER_G): (S.COMPLETED, (E.RESEND_RESPONSE, E.BACKOFF_G)),
    (S.COMPLETED, In.TIMER_H): (S.TERMINATED, (E.TIMEOUT,)),
    (S.COMPLETED, In.RECV_ACK): (S.CONFIRMED, (E.CANCEL_TIMERS, E.START_I)),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.CONFIRMED, In.RECV_ACK): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.RECV_REQUEST): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.TIMER_G): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.TIMER_I): (S.TERMINATED, ()),
    (S.ACCEPTED, In.RECV_REQUEST): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.RECV_ACK): (S.ACCEPTED, (E.DELIVER,)),
    (S.ACCEPTED, In.SEND_2XX): (S.ACCEPTED, (E.SEND_RESPONSE,)),
    (S.ACCEPTED, In.TRANSPORT_ERROR): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TIMER_L): (S.TERMINATED, ()),
}

# RFC 3261 17.2.2 figure 8.
NIST_TABLE: dict[tuple[State, Input], Row] = {
    (S.TRYING, In.RECV_REQUEST): (S.TRYING, ()),
    (S.TRYING, In.SEND_1XX): (S.PROCEEDING, (E.SEND_RESPONSE,)),
    (S.TRYING, In.SEND_2XX): (S.COMPLETED, (E.SEND_RESPONSE, E.START_J)),
    (S.TRYING, In.SEND_FINAL): (S.COMPLETED, (E.SEND_RESPONSE, E.START_J)),
    (S.PROCEEDING, In.RECV_REQUEST): (S.PROCEEDING, (E.RESEND_RESPONSE,)),
    (S.PROCEEDING, In.SEND_1XX): (S.PROCEEDING, (E.SEND_RESPONSE,)),
    (S.PROCEEDING, In.SEND_2XX): (S.COMPLETED, (E.SEND_RESPONSE, E.START_J)),
    (S.PROCEEDING, In.SEND_FINAL): (S.COMPLETED, (E.SEND_RESPONSE, E.START_J)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.COMPLETED, In.RECV_REQUEST): (S.COMPLETED, (E.RESEND_RESPONSE,)),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, (E.TRANSPORT_FAILED,)),
    (S.COMPLETED, In.TIMER_J): (S.TERMINATED, ()),
}

TABLES = {Kind.ICT: ICT_TABLE, Kind.NICT: NICT_TABLE, Kind.IST: IST_TABLE, Kind.NIST: NIST_TABLE}
INITIAL = {Kind.ICT: S.CALLING, Kind.NICT: S.TRYING, Kind.IST: S.PROCEEDING, Kind.NIST: S.TRYING}


# ---- actions returned to the caller ---------------------------------------------------
@dataclass(frozen=True)
class SendData:
    """Put these bytes on the wire towards `dest`."""

    data: bytes
    dest: Address


@dataclass(frozen=True)
class Deliver:
    """Pass a message to the transaction user (UA core)."""

    key: str
    message: Request | Response


@dataclass(frozen=True)
class TxTimeout:
    """Timer B/F (client) or H (server) fired: RFC 3261 treats it as a 408 / lost ACK."""

    key: str
    kind: Kind


@dataclass(frozen=True)
class TxTransportError:
    key: str
    kind: Kind


Action = SendData | Deliver | TxTimeout | TxTransportError


def _input_for_response(status: int) -> Input:
    if status < 200:
        return In.RECV_1XX
    return In.RECV_2XX if status < 300 else In.RECV_FINAL


def _send_input(status: int) -> Input:
    if status < 200:
        return In.SEND_1XX
    return In.SEND_2XX if status < 300 else In.SEND_FINAL


_TIMER_INPUT = {
    "A": In.TIMER_A, "B": In.TIMER_B, "D": In.TIMER_D, "E": In.TIMER_E, "F": In.TIMER_F,
    "G": In.TIMER_G, "H": In.TIMER_H, "I": In.TIMER_I, "J": In.TIMER_J, "K": In.TIMER_K,
    "L": In.TIMER_L, "M": In.TIMER_M,
}  # fmt: skip


@dataclass
class Transaction:
    """One transaction; `kind` selects its table. Use the factories below."""

    kind: Kind
    key: str
    request: Request
    dest: Address
    reliable: bool
    timers: Timers = field(default_factory=Timers)
    state: State = S.TRYING
    _due: dict[str, float] = field(default_factory=dict)
    _interval: dict[str, float] = field(default_factory=dict)
    _wire: bytes = b""
    last_response: Response | None = None
    _last_wire: bytes = b""

    @property
    def terminated(self) -> bool:
        return self.state is S.TERMINATED

    @property
    def next_timer(self) -> float | None:
        return min(self._due.values()) if self._due else None

    # -- inputs ---------------------------------------------------------------------
    def handle_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._due:
            name, due = min(self._due.items(), key=lambda item: item[1])
            if due > now:
                break
            del self._due[name]
            actions += self._step(_TIMER_INPUT[name], now, None)
        return actions

    def receive_response(self, response: Response, now: float) -> list[Action]:
        if self.kind not in (Kind.ICT, Kind.NICT):
            raise LocalProtocolError("response given to a server transaction")
        return self._step(_input_for_response(response.status), now, response)

    def receive_request(self, request: Request, now: float) -> list[Action]:
        if self.kind not in (Kind.IST, Kind.NIST):
            raise LocalProtocolError("request given to a client transaction")
        event = In.RECV_ACK if request.method == "ACK" else In.RECV_REQUEST
        return self._step(event, now, request)

    def send_response(self, response: Response, now: float) -> list[Action]:
        if self.kind not in (Kind.IST, Kind.NIST):
            raise LocalProtocolError("only server transactions send responses")
        if (self.state, _send_input(response.status)) not in TABLES[self.kind]:
            raise LocalProtocolError(f"cannot send {response.status} in {self.state.value}")
        self.last_response = response
        self._last_wire = response.serialize()
        return self._step(_send_input(response.status), now, response)

    def transport_error(self, now: float) -> list[Action]:
        return self._step(In.TRANSPORT_ERROR, now, None)

    # -- engine -----------------------------------------------------------------------
    def _step(self, event: Input, now: float, msg: Request | Response | None) -> list[Action]:
        if self.state is S.TERMINATED:
            return []
        row = TABLES[self.kind].get((self.state, event))
        if row is None:
            # Anything not in the table is absorbed; h11-style raising would let a peer
            # crash us with a stray message, so only local misuse raises (above).
            return []
        self.state, effects = row
        actions: list[Action] = []
        for effect in effects:
            actions += self._apply(effect, now, msg)
        if self.state is S.TERMINATED:
            self._due.clear()
        return actions

    def _arm(self, name: str, now: float, interval: float) -> None:
        self._interval[name] = interval
        self._due[name] = now + interval

    def _apply(  # noqa: PLR0911, PLR0912 - one arm per effect of the tables
        self, effect: Effect, now: float, msg: Request | Response | None
    ) -> list[Action]:
        t = self.timers
        unreliable = not self.reliable
        match effect:
            case E.RESEND_REQUEST:
                return [SendData(self._wire, self.dest)]
            case E.SEND_ACK:
                assert isinstance(msg, Response)
                return [SendData(build_ack(self.request, msg).serialize(), self.dest)]
            case E.SEND_RESPONSE:
                return [SendData(self._last_wire, self.dest)]
            case E.RESEND_RESPONSE:
                return [SendData(self._last_wire, self.dest)] if self._last_wire else []
            case E.DELIVER:
                assert msg is not None
                return [Deliver(self.key, msg)]
            case E.TIMEOUT:
                return [TxTimeout(self.key, self.kind)]
            case E.TRANSPORT_FAILED:
                return [TxTransportError(self.key, self.kind)]
            case E.CANCEL_TIMERS:
                self._due.clear()
            case E.START_A if unreliable:
                self._arm("A", now, t.t1)
            case E.BACKOFF_A:
                self._arm("A", now, self._interval["A"] * 2)
            case E.START_D:
                self._arm("D", now, 32.0 if unreliable else 0.0)
            case E.START_E_TRYING if unreliable:
                self._arm("E", now, min(self._interval.get("E", t.t1 / 2) * 2, t.t2))
            case E.START_E_PROCEEDING if unreliable:
                self._arm("E", now, t.t2)
            case E.START_G if unreliable:
                self._arm("G", now, t.t1)
            case E.BACKOFF_G:
                self._arm("G", now, min(self._interval["G"] * 2, t.t2))
            case E.START_H:
                self._arm("H", now, 64 * t.t1)
            case E.START_I:
                self._arm("I", now, t.t4 if unreliable else 0.0)
            case E.START_J:
                self._arm("J", now, 64 * t.t1 if unreliable else 0.0)
            case E.START_K:
                self._arm("K", now, t.t4 if unreliable else 0.0)
            case E.START_L:
                self._arm("L", now, 64 * t.t1)
            case E.START_M:
                self._arm("M", now, 64 * t.t1)
        return []

    def start(self, now: float) -> list[Action]:
        """Client transactions: send the request and arm A/B or E/F."""
        if self.kind not in (Kind.ICT, Kind.NICT):
            raise LocalProtocolError("only client transactions start by sending")
        self._wire = self.request.serialize()
        if self.kind is Kind.ICT:
            if not self.reliable:
                self._arm("A", now, self.timers.t1)
            self._arm("B", now, 64 * self.timers.t1)
        else:
            if not self.reliable:
                self._arm("E", now, self.timers.t1)
            self._arm("F", now, 64 * self.timers.t1)
        return [SendData(self._wire, self.dest)]


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 17.1.1.3): same branch as the INVITE."""
    headers: list[tuple[str, str]] = [("Via", invite.get_all("Via")[0])]
    headers += [(k, v) for k, v in invite.headers if k == "Route"]
    headers.append(("Max-Forwards", "70"))
    for name in ("From", "Call-ID"):
        value = invite.get(name)
        if value is not None:
            headers.append((name, value))
    to = response.get("To")
    if to is not None:
        headers.append(("To", to))
    headers.append(("CSeq", f"{invite.cseq.seq} ACK"))
    return Request(headers=headers, method="ACK", uri=invite.uri)


def client_key(branch: str, method: str) -> str:
    """RFC 3261 17.1.3: branch plus CSeq method (ACK for a non-2xx rides on the INVITE)."""
    return f"c|{branch}|{'INVITE' if method == 'ACK' else method}"


def server_key(request: Request) -> str:
    """RFC 3261 17.2.3: branch + sent-by + method, or the RFC 2543 fields without a cookie."""
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    cseq = request.cseq.seq
    if branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        # Call-ID and CSeq number are added so that a peer reusing a branch for a new
        # request (as the RFC 4475 messages do) gets a new transaction; retransmissions,
        # the non-2xx ACK and CANCEL all carry the same values.
        return f"s|{branch}|{via.sent_by}|{request.call_id}|{cseq}|{method}"
    return f"s2543|{request.call_id}|{request.from_.tag}|{cseq}|{via.sent_by}|{method}"


def new_client(
    request: Request, dest: Address, *, reliable: bool, timers: Timers | None = None
) -> Transaction:
    branch = request.via.branch
    if not branch or not branch.startswith(MAGIC_COOKIE):
        raise LocalProtocolError("outgoing requests need an RFC 3261 branch")
    kind = Kind.ICT if request.method == "INVITE" else Kind.NICT
    return Transaction(
        kind=kind,
        key=client_key(branch, request.method),
        request=request,
        dest=dest,
        reliable=reliable,
        timers=timers or Timers(),
        state=INITIAL[kind],
    )


def new_server(
    request: Request, dest: Address, *, reliable: bool, timers: Timers | None = None
) -> Transaction:
    if request.method == "ACK":
        raise LocalProtocolError("ACK does not create a server transaction")
    kind = Kind.IST if request.method == "INVITE" else Kind.NIST
    return Transaction(
        kind=kind,
        key=server_key(request),
        request=request,
        dest=dest,
        reliable=reliable,
        timers=timers or Timers(),
        state=INITIAL[kind],
    )
