"""SMPP 3.4 link to the upstream SMSC, over ``aiosmpplib`` (the asyncio ESME).

The library binds as a transceiver, sends enquire_link on an idle link, correlates
responses and delivery receipts, and reassembles inbound concatenated texts. This
adapter adds what a carrier needs around it:

* our own segmentation (:mod:`carrier.sms.segment`): each part goes out pre-encoded with
  its concatenation header, so GSM-7 160/153 and UCS-2 70/67 hold whatever the library's
  own splitting would do;
* pacing: every part takes a token from the carrier's one :class:`TokenBucket` at
  ``rate_per_s`` (the SMSC's contracted throughput); the clock and the sleep are injected;
* ``send`` returns when the SMSC accepted every part (``submit_sm_resp`` OK) or raises
  :class:`SmsRefused` carrying the SMPP command_status, like a SIP error its code;
* inbound texts and delivery receipts are handed to the callbacks given at construction.

The link is an async context manager: the ESME's task lives exactly as long as the
``async with`` block, and leaving it unbinds.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiosmpplib import ESME, PhoneNumber, SmppError, SubmitSm
from aiosmpplib.codec import find_codec_info
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.hook import AbstractHook
from aiosmpplib.protocol import DeliverSm, GenericNack, SmppMessage, SubmitSmResp
from aiosmpplib.ratelimiter import AbstractRateLimiter
from aiosmpplib.state import SmppCommandStatus

from carrier.dialer.ports import TextNotSent
from carrier.sip.policy import TokenBucket
from carrier.sms.parts import InboundParts, TextKey
from carrier.sms.segment import GSM7_BASIC, GSM7_EXTENSION, Coding, Part, decode_gsm7, plan
from carrier.sms.settings import SmsSettings

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

log = logging.getLogger("carrier.sms")

_ENCODING = {Coding.GSM7: "gsm0338", Coding.UCS2: "ucs2"}


class SmsRefused(TextNotSent):
    """The SMSC refused a part; ``status`` is the SMPP command_status (0x58: throttled)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(f"SMSC refused the message: {reason} (0x{status:08x})")


@dataclass(frozen=True)
class InboundText:
    """A text from a phone to one of our numbers. ``sender`` is PHI: never log it."""

    sender: str
    to: str
    text: str

    def __repr__(self) -> str:
        return "InboundText(<redacted>)"


@dataclass(frozen=True)
class Receipt:
    message_id: str
    status: str  # DELIVRD, UNDELIV, EXPIRED, ...
    error: int


class BucketLimiter(AbstractRateLimiter):  # type: ignore[misc] # the wheel ships no py.typed
    """The library's rate-limit hook on the carrier's token bucket (one token per part)."""

    def __init__(self, rate_per_s: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.bucket = TokenBucket(rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self.waits = 0  # parts that had to wait for a token (the throttle acting)

    async def limit(self) -> None:
        while not self.bucket.try_take(self._clock()):
            self.waits += 1
            await self._sleep(self.bucket.ready_at(self._clock()) - self._clock())


class _Hook(AbstractHook):  # type: ignore[misc] # the wheel ships no py.typed
    def __init__(self, link: SmppLink) -> None:
        self._link = link

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes,
                       client_id: str) -> None:
        await self._link._received(smpp_message)

    async def send_error(self, smpp_message: SmppMessage, error: Exception,
                         client_id: str) -> None:
        self._link._failed(smpp_message, error)


def _ucs2_decode(raw: Buffer, errors: str = "strict", /) -> tuple[str, int]:
    """UCS-2 as phones send it, for the library's ``ucs2`` codec: half of a surrogate pair
    (its other half in the next part of a concatenated text) is kept for :func:`inbound_text`
    (the library's strict decoder dropped a trailing half and refused a part starting with
    one, losing the whole text); a stray last byte is a replacement character."""
    data = bytes(raw)
    even = len(data) - len(data) % 2
    text, _ = codecs.utf_16_be_decode(data[:even], "surrogatepass", True)
    return text + ("\ufffd" if even < len(data) else ""), len(data)


UCS2 = codecs.CodecInfo(name="ucs2", encode=codecs.utf_16_be_encode, decode=_ucs2_decode)
_GSM7 = find_codec_info("gsm0338")


CARRIED_ESCAPE = "\x1b"
"""A part's last septet was the escape: its extension code is the next part's first
(never in decoded text otherwise: the escape always decodes to something else)."""
_EXTENDED = {GSM7_BASIC[code]: ch for ch, code in GSM7_EXTENSION.items()}


def _gsm7_decode(raw: Buffer, errors: str = "strict", /) -> tuple[str, int]:
    """GSM-7 as 23.038 reads it, for the library's ``gsm0338`` codec: a byte past the
    alphabet is "?", an escape before an unknown code shows that code's basic character,
    an escape pair a space (the library's strict decoder refused the whole deliver_sm, and
    its lenient one dropped the character after an escape pair). A last lone escape is
    kept (``CARRIED_ESCAPE``) for :func:`inbound_text`: its code may open the next part."""
    data = bytes(raw)
    lone = (len(data) - len(data.rstrip(b"\x1b"))) % 2 == 1
    body = bytes(b if b < 0x80 else 0x3F for b in (data[:-1] if lone else data))  # 0x3F "?"
    return decode_gsm7(body) + (CARRIED_ESCAPE if lone else ""), len(data)


def inbound_text(text: str) -> str:
    """A received text (its parts joined) as the patient typed it: surrogate halves joined
    into their characters (a half without its other, U+FFFD); an escape carried from the
    end of a part read with the next part's first character ("1" ESC | "e5" is "1€5");
    one with nothing after it is a non-breaking space, as GSM 03.38 shows a lone escape."""
    text = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
    if CARRIED_ESCAPE not in text:
        return text
    out, chars = [], iter(text)
    for ch in chars:
        if ch != CARRIED_ESCAPE:
            out.append(ch)
            continue
        after = next(chars, None)
        if after is None:
            out.append("\xa0")
        else:  # an unknown extension code shows its basic character (23.038 6.2.1.1)
            out.append(_EXTENDED.get(after, after))
    return "".join(out)


GSM7 = codecs.CodecInfo(name="gsm0338", encode=_GSM7.encode, decode=_gsm7_decode)


class _WithholdPdus(logging.Filter):
    """On the library's own logger (it writes to stderr itself): a deliver_sm it cannot
    parse was logged at ERROR with the whole PDU in hex and the exception's traceback, whose
    frames hold it too: the sender's number and the text. The PDU is withheld, and the
    traceback replaced by the exception's type; the line's other fields stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        head, sep, fields = str(record.msg).partition(" >>> ")
        if sep:
            try:
                data = json.loads(fields)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                record.msg = head
            elif "pdu" in data:
                record.msg = f"{head}{sep}{json.dumps({**data, 'pdu': '<withheld>'})}"
        if record.exc_info:
            error = record.exc_info[1]
            record.msg = f"{record.msg} ({type(error).__name__})"
            record.exc_info, record.exc_text = None, None
        return True


class _Reassembly(SimpleCorrelator):  # type: ignore[misc] # the wheel ships no py.typed
    """The library's correlator with our reassembly of inbound concatenated texts
    (:mod:`carrier.sms.parts`: per sender and reference, in number order, bounded)."""

    def __init__(self, system_id: str, clock: Callable[[], float]) -> None:
        super().__init__(system_id)
        self.parts = InboundParts()
        self._clock = clock

    async def put_delivery_segmented(self, deliver_sm: DeliverSm) -> DeliverSm | None:
        ref, number, count = deliver_sm.get_segmentation_data()
        if ref > 0xFF and ref & 0xFFFF == (count << 8 | number):
            ref >>= 16  # a 16-bit UDH reference the library read as 32 bits (count, number)
        dropped = self.parts.dropped
        key = TextKey(deliver_sm.source.number, deliver_sm.destination.number, ref, count)
        whole = self.parts.add(key, number,
                               deliver_sm.short_message or deliver_sm.message_payload,
                               now=self._clock())
        if self.parts.dropped > dropped:
            log.warning("sms: %d incomplete inbound text(s) dropped (parts missing)",
                        self.parts.dropped - dropped)
        if whole is None:
            return None
        if deliver_sm.short_message:
            deliver_sm.short_message = whole
        else:
            deliver_sm.message_payload = whole
        return deliver_sm


class SmppLink:
    def __init__(self, host: str, port: int, system_id: str, password: str, *,
                 source: str, rate_per_s: float, enquire_link_s: float = 30.0,
                 on_text: Callable[[InboundText], Awaitable[None]] | None = None,
                 on_receipt: Callable[[Receipt], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 timeout: float = 10.0) -> None:
        self.source = source
        self.limiter = BucketLimiter(rate_per_s, clock=clock, sleep=sleep)
        self._on_text = on_text
        self._on_receipt = on_receipt
        self._timeout = timeout
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._ids = itertools.count(1)
        self._refs = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.esme = ESME(host, port, system_id, password, enquire_link_interval=enquire_link_s,
                         hook=_Hook(self), rate_limiter=self.limiter,
                         correlator=_Reassembly(system_id, clock),
                         custom_codecs={"ucs2": UCS2, "gsm0338": GSM7},
                         log_level=logging.WARNING, socket_timeout=timeout)
        self.esme._logger.addFilter(_WithholdPdus())

    @classmethod
    def from_settings(cls, sms: SmsSettings, password: str, **kw: Any) -> SmppLink:
        """The link ``sms`` describes (host, port, system_id, sending number, rate, keepalive)."""
        return cls(sms.smsc_host, sms.smsc_port, sms.system_id, password,
                   source=sms.from_number, rate_per_s=sms.rate_per_s,
                   enquire_link_s=sms.enquire_link_s, **kw)

    async def __aenter__(self) -> SmppLink:
        try:
            await self.esme.connect()  # bind_transceiver
        except (SmppError, ValueError) as exc:
            # A refused bind (ValueError: a bind_resp without a body, as some SMSCs send)
            await self._close_socket()
            status = int(exc.command_status) if isinstance(exc, SmppError) else -1
            raise SmsRefused(status, "bind_transceiver refused") from None
        self._writer = self.esme._writer
        self._task = asyncio.create_task(self.esme.start(), name="smpp-esme")
        return self

    async def _reap_loose_sends(self) -> None:
        """The library sends enquire_link from a task it does not keep; one started just
        before the unbind fails on the closed writer. Collect them so none outlives us."""
        loose = [t for t in asyncio.all_tasks()
                 if getattr(t.get_coro(), "__qualname__", "") == "ESME._send_data"
                 and t is not asyncio.current_task()]
        for t in loose:
            t.cancel()
        for t in loose:
            with contextlib.suppress(asyncio.CancelledError, AssertionError, OSError):
                await t

    async def _close_socket(self) -> None:
        writer = self._writer or self.esme._writer
        self._writer = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # Unbind; the library's loop then ends and `stop` returns. A receipt arriving just
        # after the unbind makes the library answer it on the writer its unbind dropped
        # (AssertionError inside aiosmpplib 0.7): its loop then dies without telling `stop`,
        # so whichever of the two ends first ends the other.
        stopping = asyncio.ensure_future(self.esme.stop())
        await asyncio.wait({stopping, task}, timeout=self._timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled() and task.exception() is None:
            await asyncio.wait({stopping}, timeout=self._timeout)  # a clean end: unbind goes on
        for pending in (stopping, task):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError, OSError,
                                     TimeoutError):
                await pending
        await self._reap_loose_sends()
        await self._close_socket()
        for fut in self._pending.values():
            fut.cancel()

    async def send(self, to: str, text: str) -> list[str]:
        """Submit ``text`` to ``to`` (E.164); returns the SMSC's message id of each part."""
        if self._task is None:
            raise RuntimeError("the SMPP link is not open")
        parts = plan(text, reference=next(self._refs) % 256).parts
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[str]] = []
        for part in parts:
            log_id = f"m{next(self._ids)}"
            fut: asyncio.Future[str] = loop.create_future()
            self._pending[log_id] = fut
            futures.append(fut)
            await self.esme.broker.enqueue(self._submit(part, to, log_id))
        try:
            async with asyncio.timeout(self._timeout * len(parts)):
                results = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        refused = [r for r in results if isinstance(r, BaseException)]
        if refused:
            first = refused[0]
            if isinstance(first, SmsRefused):
                # every part refused by status: nothing reached the patient
                first.nothing_sent = len(refused) == len(results) and all(
                    isinstance(r, SmsRefused) for r in refused)
            raise first
        return [str(r) for r in results]

    def _submit(self, part: Part, to: str, log_id: str) -> SubmitSm:
        message = SubmitSm(short_message=part.text, source=PhoneNumber(self.source),
                           destination=PhoneNumber(to), esm_class=part.esm_class,
                           encoding=_ENCODING[part.coding], registered_delivery=1,
                           log_id=log_id)
        message.set_encoded_message(part.short_message)  # our parts, sent as they are
        return message

    async def _received(self, message: SmppMessage | None) -> None:
        if isinstance(message, SubmitSmResp | GenericNack):
            fut = self._pending.pop(getattr(message, "log_id", ""), None)
            if fut is None or fut.done():
                return
            if message.command_status == SmppCommandStatus.ESME_ROK and isinstance(
                    message, SubmitSmResp):
                fut.set_result(message.message_id)
            else:
                status = message.command_status
                fut.set_exception(SmsRefused(int(status), getattr(status, "name", str(status))))
        elif isinstance(message, DeliverSm):
            if message.is_receipt():
                receipt = message.parse_receipt()
                if self._on_receipt is not None:
                    await self._on_receipt(Receipt(str(receipt.get("id", "")),
                                                   str(receipt.get("stat", "UNKNOWN")),
                                                   _int(receipt.get("err", 0))))
            elif self._on_text is not None:
                await self._on_text(InboundText(
                    message.source.number, message.destination.number,
                    inbound_text(message.short_message or message.message_payload)))

    def _failed(self, message: SmppMessage, error: Exception) -> None:
        fut = self._pending.pop(getattr(message, "log_id", ""), None)
        if fut is not None and not fut.done():
            fut.set_exception(SmsRefused(-1, type(error).__name__))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
