"""HL7 v2 envelope: what a message's reading and its reply share - the MSH as read
(:class:`Header`), the refusal (:class:`Hl7Error`, with its HL7 table 0357 code and
acknowledgement code), and :func:`ack`, the ACK (AA) or NAK (AE/AR with an ERR segment)
that goes back on the wire. No I/O, no clock (``now`` is passed in), no PHI in any error
text (locations and field names only).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass

from carrier.feeds import hl7_text

SUPPORTED_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1",
                                "2.8"})


class ErrCode(enum.IntEnum):
    """HL7 table 0357 (message error condition codes)."""

    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD = 101
    DATA_TYPE = 102
    TABLE_VALUE = 103
    UNSUPPORTED_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    INTERNAL = 207


ERR_TEXT = {
    ErrCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrCode.REQUIRED_FIELD: "Required field missing",
    ErrCode.DATA_TYPE: "Data type error",
    ErrCode.TABLE_VALUE: "Table value not found",
    ErrCode.UNSUPPORTED_TYPE: "Unsupported message type",
    ErrCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrCode.UNSUPPORTED_PROCESSING: "Unsupported processing id",
    ErrCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrCode.INTERNAL: "Application internal error",
}


# Refusals of what we do not take by design (an interface that sends every event): no one
# needs to act, so they are logged at INFO; every other refusal loses a message until
# someone does (the sender's analyst, the clinic, or us) and is a WARNING.
NOT_TAKEN = frozenset({ErrCode.UNSUPPORTED_TYPE, ErrCode.UNSUPPORTED_EVENT})


class Hl7Error(Exception):
    """A message we refuse. ``reject`` (AR): the message as such cannot be processed
    (framing, encoding characters, type, version); otherwise AE: its content is wrong.
    ``location`` is an ERR-2 location (``PID^1^3``); ``text`` names fields, never values.
    ``level``: how the refusal is logged (default: INFO for :data:`NOT_TAKEN`, else
    WARNING)."""

    def __init__(self, code: ErrCode, location: str, text: str, *, reject: bool = False,
                 level: int | None = None) -> None:
        self.code = code
        self.location = location
        self.text = text
        self.ack_code = "AR" if reject else "AE"
        self.level = level if level is not None else (
            logging.INFO if code in NOT_TAKEN else logging.WARNING)
        self.header: Header | None = None  # set once MSH could be read (the NAK echoes it)
        super().__init__(f"{self.ack_code} {int(code)} at {location}: {text}")


@dataclass(frozen=True)
class Header:
    control_id: str
    sending_app: str
    sending_facility: str
    receiving_app: str
    receiving_facility: str
    message_type: str
    trigger: str
    version: str
    sent_at: dt.datetime | None
    processing_id: str = "P"
    charset: str = ""  # MSH-18 as declared (upper-cased; "" when none): the ACK's own

    @property
    def source(self) -> str:
        """Who sent it (MSH-4 facility, else MSH-3 application): the idempotency scope."""
        return self.sending_facility or self.sending_app or "unknown"


def escape(value: str) -> str:
    """A value for a field of our own messages, with the default delimiters escaped."""
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    return out.replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", " ")


def hl7_ts(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def ack(header: Header | None, *, error: Hl7Error | None, control_id: str, now: dt.datetime,
        app: str = "CARRIER", facility: str = "CARRIER",
        warnings: tuple[Hl7Error, ...] = ()) -> bytes:
    """The ACK (AA) for ``header``'s message, or the NAK for ``error`` (AE/AR, ERR), in
    the character set the message declared (MSH-18, echoed; none: UTF-8);
    ``warnings``: ERR segments of severity W on an AA (applied, with a field passed over)."""
    h = header
    version = h.version if h is not None and h.version in SUPPORTED_VERSIONS else "2.5.1"
    trigger = escape(h.trigger) if h is not None else ""
    msh = "|".join(["MSH", "^~\\&", app, facility,
                    escape(h.sending_app) if h else "", escape(h.sending_facility) if h else "",
                    hl7_ts(now), "", f"ACK^{trigger}^ACK", control_id, "P", version])
    # The sender's character set (MSH-18), so it reads what we echo of its own fields.
    charset = h.charset if h is not None and h.charset in hl7_text.CHARSETS else ""
    if charset:
        msh += "||||||" + escape(charset)
    code = "AA" if error is None else error.ack_code
    echoed = escape(h.control_id) if h is not None else ""
    segments = [msh, f"MSA|{code}|{echoed}"]
    if error is not None:
        segments[1] += f"|{escape(error.text)}"
    for e, severity in [*([(error, "E")] if error else []), *((w, "W") for w in warnings)]:
        segments.append(f"ERR||{e.location}|{int(e.code)}^{ERR_TEXT[e.code]}"
                        f"^HL70357|{severity}||||{escape(e.text)}")
    return ("\r".join(segments) + "\r").encode(hl7_text.CHARSETS[charset], "replace")
