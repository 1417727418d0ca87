"""The MLLP listener: HL7 v2 messages in, one ACK or NAK out per message, in order.

The server is the ``hl7`` library's (``hl7.mllp.start_hl7_server``); framing is
:class:`carrier.feeds.framing.Framer`, which resynchronises after noise, a missing end
block or an oversized frame, so each message gets exactly one reply. Each connection is
served one message at a time (the sender waits for our acknowledgement before its next
message), and the store holds a per-patient lock in each message's transaction, so a
patient's changes apply in order across connections too. Acknowledgement codes (HL7 original mode):

* ``AA``: applied (or a repeat of an applied control id: applied once, acknowledged again);
* ``AE`` + ERR: the content is wrong (missing PID, segment counts, required fields, data
  types); nothing of the message was written;
* ``AR`` + ERR: the message as such is refused (framing, encoding characters, type,
  version) or we cannot take it now (database unreachable: ``207``, send it again later).

A sender cannot hold the listener's resources for ever (:class:`MllpLimits`): at most
``max_connections`` connections are open (``max_per_source`` of one address; one more is
closed as soon as it is accepted), a frame begun and not ended within ``frame_timeout_s``
is refused (AR 100) and its connection closed, a connection silent between messages for
``idle_timeout_s`` is closed. A reaper task runs while connections are open.

The adapter alone reads the clock. TLS is the ``ssl`` context passed to :meth:`start`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import hl7.mllp

from carrier.feeds.framing import Frame, Framer
from carrier.feeds.hl7_ack import ErrCode, Header, Hl7Error, ack
from carrier.feeds.hl7_in import Inbound, parse_message, read_header
from carrier.feeds.merge import MergeRefused
from carrier.feeds.store import (
    AmbiguousPatient,
    AppointmentIn,
    FeedItem,
    FeedRejected,
    FeedStore,
    PatientIn,
    RetiredIdentifier,
    ReusedMessageId,
    fault_origin,
)

log = logging.getLogger(__name__)
MAX_MESSAGE = 1 << 20  # bytes; a longer block is refused (AR) and skipped
READ_CHUNK = 1 << 16
REFUSAL_LOG_EVERY_S = 60.0  # refused connections: at most one warning line per this
PHONE_UNREADABLE = "not a valid phone number"
DELETION_KEPT = "deleted by the sender (\"\"); not deleted here, the value on file is kept"
# Deletions applied (HL7 null): the record's field cleared (a number the EHR removed is
# not called); the others (name, language) keep the value on file, the AA says so.
CLEARED = {"PID^1^13": "phone", "PID^1^7": "dob"}
FRAME_TIMED_OUT = "message not completed in time (no end block)"


@dataclass(frozen=True)
class MllpLimits:
    max_connections: int = 32
    max_per_source: int = 8
    frame_timeout_s: float = 30.0
    idle_timeout_s: float = 900.0


@dataclass(eq=False)
class _Conn:
    source: str
    writer: hl7.mllp.HL7StreamWriter
    framer: Framer
    last: float  # the listener's monotonic clock at the last bytes read
    busy: bool = False  # a complete message is being applied
    frame_since: float | None = None  # when the frame now pending began (its bytes read)


def feed_item(inbound: Inbound) -> FeedItem:
    h, p, a = inbound.header, inbound.patient, inbound.appointment
    appt = None if a is None else AppointmentIn(a.ref, a.kind, a.starts_at, a.ends_at,
                                                a.provider_ref, a.provider_name)
    return FeedItem(source=h.source, message_id=h.control_id, kind=inbound.kind,
                    patient=PatientIn(p.authority, p.mrn, p.name, p.phone, p.dob, p.state,
                                      p.language, p.alternates, tuple(
                                          CLEARED[loc] for loc in p.deleted if loc in CLEARED)),
                    appointment=appt, sent_at=h.sent_at, digest=inbound.digest,
                    merge_from=inbound.prior,
                    scope=f"{h.sending_app}^{h.sending_facility}")


def _safe(text: str) -> str:
    """A sender's own name or message type for a log line: its first 40 letters, digits
    and ``^._-`` (a sender that puts anything else there is not echoed)."""
    return re.sub(r"[^A-Za-z0-9^._ -]", "?", text[:40])


def _refusal(exc: FeedRejected, inbound: Inbound) -> Hl7Error:
    """The ERR for what the store refused (AE)."""
    if isinstance(exc, MergeRefused):  # the clinic must merge the two: a warning
        return Hl7Error(ErrCode.UNSUPPORTED_EVENT, exc.field, exc.text, reject=True,
                        level=logging.WARNING)
    if isinstance(exc, ReusedMessageId | AmbiguousPatient):
        return Hl7Error(ErrCode.DUPLICATE_KEY, exc.field, exc.text)
    if isinstance(exc, RetiredIdentifier):
        return Hl7Error(ErrCode.UNKNOWN_KEY, exc.field, exc.text)
    if exc.field == "PID^1^13" and inbound.patient.phone_unreadable:
        return Hl7Error(ErrCode.DATA_TYPE, exc.field, PHONE_UNREADABLE)
    # A new patient with no phone at all is an everyday registration, nothing to act on.
    level = logging.INFO if exc.field == "PID^1^13" else None
    return Hl7Error(ErrCode.REQUIRED_FIELD, exc.field, exc.text, level=level)


class RefusalLog:
    """Refused connections as one warning per ``every`` seconds with how many, not one
    line each (a flood of connections must not be a flood of log lines): the first of a
    quiet spell at once, those after it counted and said when the interval is over (at the
    next refusal, or by the reaper once the flood has stopped)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.held = 0  # refused since the last line
        self.said_at: float | None = None

    def refused(self, now: float, detail: str) -> None:
        self.held += 1
        if self.said_at is None or now - self.said_at >= self.every:
            self._say(now, detail)

    def due(self, now: float, detail: str, *, ending: bool = False) -> None:
        """Say what was held back once the interval is over (``ending``: now, the last
        connection has closed and no reaper runs until the next)."""
        if self.held and self.said_at is not None and (ending
                                                       or now - self.said_at >= self.every):
            self._say(now, detail)

    def _say(self, now: float, detail: str) -> None:
        log.warning("hl7: %d connection%s refused%s (%s)", self.held,
                    "s" if self.held != 1 else "",
                    "" if self.said_at is None else f" in the last {now - self.said_at:.0f} s",
                    detail)
        self.held, self.said_at = 0, now


class Hl7Listener:
    def __init__(self, store: FeedStore, *, tz: dt.tzinfo,
                 clock: Callable[[], dt.datetime] | None = None,
                 limits: MllpLimits | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.tz = tz
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.limits = limits or MllpLimits()
        self.monotonic = monotonic
        self.reap_every = min(5.0, self.limits.frame_timeout_s / 4)
        self._ids = itertools.count(1)
        self._prefix = f"{id(self) & 0xFFFF:04X}"
        self.counts: dict[str, int] = {"AA": 0, "AE": 0, "AR": 0, "duplicate": 0,
                                       "refused_connections": 0, "timed_out": 0}
        self._conns: set[_Conn] = set()
        self.reads = 0  # reads from senders (a probe for tests and operators)
        self._reaper: asyncio.Task[None] | None = None
        self.refusals = RefusalLog(REFUSAL_LOG_EVERY_S)

    def _control_id(self) -> str:
        return f"CAR{self._prefix}{next(self._ids):08d}"

    async def handle(self, data: bytes) -> bytes:
        """The acknowledgement for one message's bytes (what goes back on the wire). A fault
        of ours (a bug here or in the application's feed) is answered AE 207 with the
        control id (nothing of the message was kept; a resend would meet the same fault)
        and logged by its class and place only: its text may hold a name."""
        now = self.clock()
        try:
            return await self._handle(data, now)
        except Exception as exc:  # noqa: BLE001 - the edge: a fault costs this message only
            log.error("hl7: message not applied: internal fault (%s at %s)",  # noqa: TRY400 - no traceback: its text may hold PHI
                      exc.__class__.__name__, fault_origin(exc))
            err = Hl7Error(ErrCode.INTERNAL, "MSH^1^10", "internal error; message not applied")
            return self._nak(err, read_header(data, self.tz), now)

    async def _handle(self, data: bytes, now: dt.datetime) -> bytes:
        header: Header | None = None
        try:
            inbound = parse_message(data, tz=self.tz, arrived=now)
            header = inbound.header
            applied = await self.store.apply(feed_item(inbound), now)
        except Hl7Error as exc:
            return self._nak(exc, exc.header, now)
        except FeedRejected as exc:
            return self._nak(_refusal(exc, inbound), header, now)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # The database refuses this content as such: a resend would be refused again.
            log.warning("hl7: message refused by the database (%s)", exc.__class__.__name__)
            err = Hl7Error(ErrCode.INTERNAL, "MSH^1^10", "content refused by the database")
            return self._nak(err, header, now)
        except (OSError, TimeoutError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as exc:
            log.warning("hl7: message not applied (%s); refused for a resend",
                        exc.__class__.__name__)
            err = Hl7Error(ErrCode.INTERNAL, "MSH^1^10", "not applied now; send it again",
                           reject=True)
            return self._nak(err, header, now)
        self.counts["duplicate" if applied.duplicate else "AA"] += 1
        warnings: tuple[Hl7Error, ...] = (Hl7Error(
            ErrCode.DATA_TYPE, "PID^1^13", f"{PHONE_UNREADABLE}; the number on file is kept"),
        ) if inbound.patient.phone_unreadable else ()
        warnings += tuple(Hl7Error(ErrCode.REQUIRED_FIELD, loc, DELETION_KEPT)
                          for loc in inbound.patient.deleted if loc not in CLEARED)
        return ack(header, error=None, control_id=self._control_id(), now=now,
                   warnings=warnings)

    def _nak(self, exc: Hl7Error, header: Header | None, now: dt.datetime) -> bytes:
        """The NAK, logged at the refusal's level with what finds the message at its
        sender (MSH-3^MSH-4, type, the ERR location and text: field names, no values)."""
        self.counts[exc.ack_code] += 1
        h = exc.header or header
        log.log(exc.level, "hl7: %s %d at %s from %s (%s): %s", exc.ack_code, int(exc.code),
                exc.location, _safe(f"{h.sending_app}^{h.sending_facility}") if h else "?",
                _safe(f"{h.message_type}^{h.trigger}") if h else "unreadable MSH", exc.text)
        return ack(h, error=exc, control_id=self._control_id(), now=now)

    async def reply(self, frame: Frame) -> bytes:
        """The reply to one frame: the message's ACK, or the refusal of a broken frame
        (echoing the control id when its MSH can be read)."""
        if frame.skipped and not frame.problem:
            log.info("hl7: %d bytes before a start block skipped", frame.skipped)
        if not frame.problem:
            return await self.handle(frame.data)
        header = read_header(frame.data, self.tz) if frame.data else None
        err = Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MSH^1", frame.problem, reject=True)
        return self._nak(err, header, self.clock())

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def pending_frames(self) -> int:
        """Connections with a frame begun and not yet ended."""
        return sum(c.framer.pending for c in self._conns)

    def _admit(self, writer: hl7.mllp.HL7StreamWriter) -> _Conn | None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        lim = self.limits
        if (len(self._conns) >= lim.max_connections
                or sum(c.source == source for c in self._conns) >= lim.max_per_source):
            self.counts["refused_connections"] += 1
            self.refusals.refused(self.monotonic(), self._refusal_detail())
            return None
        conn = _Conn(source, writer, Framer(MAX_MESSAGE), self.monotonic())
        self._conns.add(conn)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_while_open())
        return conn

    def _refusal_detail(self) -> str:
        lim = self.limits
        return (f"{len(self._conns)} open, at most {lim.max_connections},"
                f" {lim.max_per_source} per address")

    async def _reap_while_open(self) -> None:
        while self._conns:
            await asyncio.sleep(self.reap_every)
            self.reap()

    def reap(self, now: float | None = None) -> int:
        """Close the connections past their frame or idle timeout (a frame begun gets its
        AR first); how many were closed."""
        now = self.monotonic() if now is None else now
        self.refusals.due(now, self._refusal_detail())
        closed = 0
        for conn in list(self._conns):
            pending = conn.framer.pending
            since = conn.frame_since if pending and conn.frame_since is not None else conn.last
            limit = self.limits.frame_timeout_s if pending else self.limits.idle_timeout_s
            if conn.busy or now - since < limit:
                continue
            self._conns.discard(conn)
            closed += 1
            self.counts["timed_out"] += 1
            transport = conn.writer.transport
            if pending and not transport.is_closing():
                data = conn.framer.partial()
                header = read_header(data, self.tz) if data else None
                err = Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MSH^1", FRAME_TIMED_OUT, reject=True)
                conn.writer.writeblock(self._nak(err, header, self.clock()))
            log.info("hl7: connection closed after %s", "a frame timeout" if pending
                     else "an idle timeout")
            if transport.get_write_buffer_size():
                transport.abort()  # a sender that does not read its replies
            else:
                transport.close()
        return closed

    async def serve_client(self, reader: hl7.mllp.HL7StreamReader,
                           writer: hl7.mllp.HL7StreamWriter) -> None:
        conn = self._admit(writer)
        if conn is None:
            writer.transport.abort()
            return
        try:
            while data := await reader.read(READ_CHUNK):
                conn.last = self.monotonic()
                self.reads += 1
                was_pending = conn.framer.pending
                frames = conn.framer.feed(data)
                if not conn.framer.pending:
                    conn.frame_since = None
                elif frames or not was_pending:  # a frame began in these bytes
                    conn.frame_since = conn.last
                for frame in frames:
                    conn.busy = True
                    try:
                        reply = await self.reply(frame)
                    finally:
                        conn.busy = False
                    writer.writeblock(reply)
                    await writer.drain()
        except ConnectionError:
            pass  # the sender went away
        finally:
            self._conns.discard(conn)
            writer.close()
            if not self._conns and self._reaper is not None:
                self._reaper.cancel()  # none left to watch; the next connection starts one
                self.refusals.due(self.monotonic(), self._refusal_detail(), ending=True)

    async def start(self, host: str, port: int, *, tls: ssl.SSLContext | None = None
                    ) -> asyncio.Server:
        server: asyncio.Server = await hl7.mllp.start_hl7_server(
            self.serve_client, host, port, limit=MAX_MESSAGE, ssl=tls)
        return server


async def run_listener(listener: Hl7Listener, host: str, port: int, stop: asyncio.Event, *,
                       tls: ssl.SSLContext | None = None,
                       started: Callable[[int], None] | None = None) -> None:
    """Serve until ``stop``; ``started(port)`` once listening (port 0: the one bound)."""
    server = await listener.start(host, port, tls=tls)
    bound = server.sockets[0].getsockname()[1]
    log.info("hl7 listening", extra={"host": host, "port": bound, "tls": tls is not None})
    if started is not None:
        started(bound)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
