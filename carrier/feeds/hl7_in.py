"""HL7 v2 inbound, pure: a message's bytes -> a checked :class:`Inbound`, or an
:class:`~carrier.feeds.hl7_ack.Hl7Error` that knows its acknowledgement code (AE/AR) and
its HL7 table 0357 error code (the reply for either is :func:`carrier.feeds.hl7_ack.ack`).

Parsing is the ``hl7`` library's (``hl7.parse``); this module checks what the library
does not: the MSH encoding characters, segment names, counts and order for each message
structure, required fields and data types, and reduces SIU^S12-S15/S17/S26 and
ADT^A04/A08/A28/A31 to neutral data. No I/O, no clock (``now`` is passed in), no PHI in
any error text (locations and field names only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from dataclasses import dataclass

import hl7

from carrier.feeds import hl7_text
from carrier.feeds.hl7_ack import SUPPORTED_VERSIONS, ErrCode, Header, Hl7Error
from carrier.feeds.hl7_text import CharsetError, Delims, raw_field, unescape
from carrier.plugin import ENDING_KINDS, ScheduleChangeKind
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164
from carrier.records.languages import language_tag

SIU_EVENTS: dict[str, ScheduleChangeKind] = {
    "S12": ScheduleChangeKind.BOOKED, "S13": ScheduleChangeKind.RESCHEDULED,
    "S14": ScheduleChangeKind.MODIFIED, "S15": ScheduleChangeKind.CANCELLED,
    "S17": ScheduleChangeKind.DELETED, "S26": ScheduleChangeKind.NO_SHOW,
}
PROCESSING_IDS = frozenset({"P", "T", "D"})  # production, training, debugging (table 0103)
ADT_EVENTS = frozenset({"A04", "A08", "A28", "A31", "A40"})  # A40: carrier.feeds.merge
DEFAULT_DURATION = dt.timedelta(minutes=30)
MAX_DURATION = dt.timedelta(days=31)  # a longer SCH-9/AIS-7 is a typo, not an appointment
MAX_OFFSET_MIN = 14 * 60  # UTC offsets run from -12:00 to +14:00
# No real value comes near these (HL7 v2.5.1: ST identifiers to 199, XPN parts to 194):
# a longer one is an interface's or an attacker's mistake, refused at its field.
MAX_ID = 199  # MSH-10 control id, PID-3 identifier, SCH-1/2 appointment id
MAX_NAME = 194  # each of PID-5's family and given name
CLOCK_SKEW = dt.timedelta(minutes=5)  # how far a sender's clock may run ahead of ours
MAX_SEGMENTS = 1000  # a message with more is refused unread (parsing costs ~0.2 ms each)
HL7_NULL = '""'  # a field's value that means "delete it" (an empty field: "no change")
_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


@dataclass(frozen=True)
class PatientData:
    authority: str  # the identifier's assigning authority (PID-3.4), else the source
    mrn: str
    family: str | None
    given: str | None
    phone: str | None  # E.164
    dob: dt.date | None
    state: str | None
    # PID-15 primary language (CWE: "SPA^Spanish^HL70296", "es^Spanish^ISO639"): a
    # supported code, else None (the stored preference stays).
    language: str | None = None
    # PID-13 held a number that does not parse (and no other): a new patient is refused
    # for it, an existing one keeps the number on file (AA with a warning).
    phone_unreadable: bool = False
    # Fields the sender deleted (HL7 null ``""``: "delete the value"): the records are not
    # emptied by a feed (a name and a number are required), so the values on file stay
    # and the AA carries a warning per location.
    deleted: tuple[str, ...] = ()
    # The other MR-typed PID-3 repetitions, (authority, id): the same patient's
    # identifiers under other assigning authorities.
    alternates: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.given, self.family) if p]
        return " ".join(parts) or None

    def __repr__(self) -> str:  # never print PHI by accident
        return f"PatientData(authority={self.authority!r})"


@dataclass(frozen=True)
class AppointmentData:
    ref: str
    kind: ScheduleChangeKind
    starts_at: dt.datetime | None  # None: an S15/S17/S26 that names the appointment only
    ends_at: dt.datetime | None
    provider_ref: str
    provider_name: str


@dataclass(frozen=True)
class Inbound:
    header: Header
    patient: PatientData
    appointment: AppointmentData | None  # None: ADT (patient only)
    digest: bytes = b""  # SHA-256 of the segments after MSH (what a resend repeats)
    prior: tuple[str, str] | None = None  # A40: MRG-1 (authority, id) merged into PID-3

    @property
    def kind(self) -> str:
        return f"{self.header.message_type}^{self.header.trigger}"


def parse_dtm(text: str, tz: dt.tzinfo, *, location: str, min_digits: int = 12
              ) -> dt.datetime:
    """An HL7 DTM (``YYYYMMDDHHMM[SS][.S][+ZZZZ]``) as an aware datetime (``tz`` when it
    carries no offset); at least ``min_digits`` digits of precision."""
    m = _DTM.match(text)
    digits = len(text.split(".", maxsplit=1)[0].split("+", maxsplit=1)[0].split("-", maxsplit=1)[0])
    if m is None or digits < min_digits:
        raise Hl7Error(ErrCode.DATA_TYPE, location, "not an HL7 date/time of enough precision")
    year, month, day, hour, minute, sec, off = m.groups()
    zone: dt.tzinfo = tz
    if off:
        sign, hours, minutes = 1 if off[0] == "+" else -1, int(off[1:3]), int(off[3:5])
        if minutes > 59 or hours * 60 + minutes > MAX_OFFSET_MIN:
            raise Hl7Error(ErrCode.DATA_TYPE, location, "UTC offset out of range")
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        value = dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                            int(minute or 0), int(sec or 0), tzinfo=zone)
        value.astimezone(dt.UTC)  # a time at the very edge of the calendar cannot be kept
    except (ValueError, OverflowError) as exc:
        raise Hl7Error(ErrCode.DATA_TYPE, location, "date/time out of range") from exc
    return value


def _val(seg: hl7.Segment | None, field: int, rep: int = 1, comp: int = 1) -> str:
    """A field as data (:mod:`carrier.feeds.hl7_text`: escapes resolved, no control
    characters, trimmed); "" when absent, and for the HL7 null ``""`` (see :func:`_nulled`)."""
    if seg is None:
        return ""
    d = Delims.of(seg.separators, seg.esc)
    raw = raw_field(str(seg), d, field, rep, comp)
    return "" if raw == HL7_NULL else unescape(raw, d)


def _nulled(seg: hl7.Segment, field: int, comps: tuple[int, ...] = (1,)) -> bool:
    """Whether the sender deleted the field (``""`` in it, or in one of ``comps``)."""
    d = Delims.of(seg.separators, seg.esc)
    return any(raw_field(str(seg), d, field, 1, c) == HL7_NULL for c in comps)


def _one(msg: hl7.Message, name: str) -> hl7.Segment | None:
    found = [s for s in msg if str(s[0]) == name]
    return found[0] if found else None


def check_encoding(text: str) -> None:
    """MSH-1 and MSH-2: one field separator and four (v2.7+: five) distinct delimiters."""
    if not text.startswith("MSH"):
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MSH^1", "message must begin with MSH",
                       reject=True)
    if len(text) < 9:
        raise Hl7Error(ErrCode.DATA_TYPE, "MSH^1^2", "MSH too short for its delimiters",
                       reject=True)
    sep = text[3]
    enc = text[4:].split(sep, 1)[0]
    delims = sep + enc
    if (len(enc) not in (4, 5) or len(set(delims)) != len(delims)
            or any(c.isalnum() or c in "\r\n " for c in delims)):
        raise Hl7Error(ErrCode.DATA_TYPE, "MSH^1^2", "bad encoding characters", reject=True)


def sent_time(wall: dt.datetime, arrived: dt.datetime | None) -> dt.datetime:
    """MSH-7 read without an offset (``wall``, in the clinic's zone): in the hour that
    repeats when clocks go back, the later of its two readings unless that is after the
    message arrived (give or take ``CLOCK_SKEW``), else the earlier. So a message sent in
    the second pass orders after one from the first; only one held up for about an hour
    across the change is read an hour late."""
    later = wall.replace(fold=1)
    if arrived is None or later.utcoffset() == wall.replace(fold=0).utcoffset():
        return wall  # not in a repeated hour (or no arrival to judge by)
    return (later if later <= arrived + CLOCK_SKEW else wall.replace(fold=0)).astimezone(dt.UTC)


def header_of(msg: hl7.Message, tz: dt.tzinfo, arrived: dt.datetime | None = None) -> Header:
    """The MSH; ``sent_at`` None when MSH-7 is absent or unreadable (the message is then
    ordered by arrival, see :mod:`carrier.feeds.store`)."""
    msh = msg.segment("MSH")
    sent = _val(msh, 7)
    try:
        sent_at = parse_dtm(sent, tz, location="MSH^1^7", min_digits=8) if sent else None
    except Hl7Error:
        sent_at = None
    if sent_at is not None and sent_at.tzinfo is tz:  # no offset given: the clinic's clock
        sent_at = sent_time(sent_at, arrived)
    return Header(control_id=_val(msh, 10), sending_app=_val(msh, 3),
                  sending_facility=_val(msh, 4), receiving_app=_val(msh, 5),
                  receiving_facility=_val(msh, 6), message_type=_val(msh, 9),
                  trigger=_val(msh, 9, comp=2), version=_val(msh, 12), sent_at=sent_at,
                  processing_id=_val(msh, 11), charset=_val(msh, 18).upper())


def decode(data: bytes) -> tuple[str, str]:
    """(text, codec): the bytes read by their MSH-18 character set, segments separated by
    CR (a sender's LF or CR LF too), blank lines left out."""
    try:
        text, codec = hl7_text.decode(data)
    except CharsetError as exc:
        if not exc.supported:
            raise Hl7Error(ErrCode.TABLE_VALUE, "MSH^1^18", "unsupported character set",
                           reject=True) from None
        why = ("message is not valid in its MSH-18 character set" if exc.declared
               else "message is not valid UTF-8 (declare its character set in MSH-18)")
        raise Hl7Error(ErrCode.DATA_TYPE, "MSH^1^18", why, reject=True) from None
    # Blank (or blank-looking) lines between segments are nothing: a segment of no name
    # is not a segment (the ``hl7`` library's own segment lookup fails on one).
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(s for s in lines if s.strip()), codec


def read_header(data: bytes, tz: dt.tzinfo) -> Header | None:
    """The MSH of a message that is refused as a whole, if it can be read (for the NAK)."""
    try:
        text, _ = decode(data)
        check_encoding(text)
        return header_of(hl7.parse(text), tz)
    except (Hl7Error, hl7.ParseException, IndexError, KeyError, ValueError):
        return None


def parse_message(data: bytes, *, tz: dt.tzinfo, arrived: dt.datetime | None = None
                  ) -> Inbound:
    """Check and reduce one message; raises :class:`Hl7Error` (with ``header`` set when
    MSH could be read, so the NAK can echo the control id). ``arrived``: when it came
    (reads an MSH-7 without offset in the repeated hour, :func:`sent_time`)."""
    text, codec = decode(data)
    check_encoding(text)
    if text.count("\r") >= MAX_SEGMENTS:
        exc = Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MSH^1",
                       f"too many segments (at most {MAX_SEGMENTS})", reject=True)
        exc.header = read_header(text.split("\r", 1)[0].encode(codec), tz)
        raise exc
    try:
        msg = hl7.parse(text)
    except (hl7.ParseException, IndexError, ValueError) as exc:
        raise Hl7Error(ErrCode.DATA_TYPE, "MSH^1", "message does not parse",
                       reject=True) from exc
    token = hl7_text.charset.set(codec)  # \X..\ escapes are bytes in the message's set
    try:
        header = header_of(msg, tz, arrived)
        try:
            body = text.split("\r", 1)[1] if "\r" in text else ""
            return Inbound(header, *_content(msg, header, tz),
                           digest=hashlib.sha256(body.encode()).digest(),
                           prior=_prior(_one(msg, "MRG"), header))
        except Hl7Error as exc:
            exc.header = header
            raise
    finally:
        hl7_text.charset.reset(token)


def _content(msg: hl7.Message, header: Header, tz: dt.tzinfo
             ) -> tuple[PatientData, AppointmentData | None]:
    _check_header(header)
    names = [str(s[0]) for s in msg]
    for i, name in enumerate(names, 1):
        if not _SEGMENT_NAME.match(name):
            raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, f"segment {i}", "bad segment name")
    counts = Counter(names)
    if counts["MSH"] != 1:
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MSH", "exactly one MSH segment expected")
    if counts["PID"] != 1:
        what = "PID segment missing" if not counts["PID"] else "more than one PID segment"
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, "PID", what)
    if counts["PV1"] > 1:
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, "PV1", "more than one PV1 segment")
    if header.trigger == "A40" and counts["MRG"] != 1:
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, "MRG", "exactly one MRG segment expected")
    lead = "SCH" if header.message_type == "SIU" else "EVN"
    if counts[lead] != 1:
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, lead, f"exactly one {lead} segment expected")
    if names.index(lead) > names.index("PID"):
        raise Hl7Error(ErrCode.SEGMENT_SEQUENCE, lead, f"{lead} must come before PID")
    patient = _patient(_one(msg, "PID"), header)
    if header.message_type == "ADT":
        return patient, None
    return patient, _appointment(msg, header, tz)


def _bounded(value: str, limit: int, location: str, *, reject: bool = False) -> str:
    if len(value) > limit:
        raise Hl7Error(ErrCode.DATA_TYPE, location, f"longer than {limit} characters",
                       reject=reject)
    return value


def _check_header(h: Header) -> None:
    if not h.control_id:
        raise Hl7Error(ErrCode.REQUIRED_FIELD, "MSH^1^10", "message control id missing",
                       reject=True)
    _bounded(h.control_id, MAX_ID, "MSH^1^10", reject=True)
    if not h.message_type or not h.trigger:
        raise Hl7Error(ErrCode.REQUIRED_FIELD, "MSH^1^9", "message type missing", reject=True)
    if h.version not in SUPPORTED_VERSIONS:
        raise Hl7Error(ErrCode.UNSUPPORTED_VERSION, "MSH^1^12", "unsupported HL7 version",
                       reject=True)
    if h.processing_id not in PROCESSING_IDS:
        raise Hl7Error(ErrCode.UNSUPPORTED_PROCESSING, "MSH^1^11", "unknown processing id",
                       reject=True)
    if h.message_type not in ("SIU", "ADT"):
        raise Hl7Error(ErrCode.UNSUPPORTED_TYPE, "MSH^1^9", "only SIU and ADT are taken",
                       reject=True)
    events = SIU_EVENTS if h.message_type == "SIU" else ADT_EVENTS
    if h.trigger not in events:
        raise Hl7Error(ErrCode.UNSUPPORTED_EVENT, "MSH^1^9^2", "unsupported trigger event",
                       reject=True)


# Identifier types (HL7 table 0203) that are a person's national or travel documents,
# never a clinic's key for them: social security, driver's licence, passport, and the
# like (NNxxx: a national number of country xxx). A repetition of such a type is
# passed over.
NOT_KEYS = frozenset({"SS", "SSN", "DL", "PPN", "NI", "SR", "SB", "CZ", "BCT"})


def _identifiers(pid: hl7.Segment) -> list[tuple[str, str, str]]:
    """(id, assigning authority, type) of each PID-3 repetition that has an id (and is
    no national document, :data:`NOT_KEYS`)."""
    out = []
    for rep in range(1, 20):
        ident, kind = _val(pid, 3, rep, 1), _val(pid, 3, rep, 5)
        if not ident and not kind and rep > 1:
            break
        if ident and kind.upper() not in NOT_KEYS and not kind.upper().startswith("NN"):
            out.append((ident, _val(pid, 3, rep, 4), kind))
    return out


def _pick_identifier(pid: hl7.Segment) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(id, assigning authority) of the first MR-typed PID-3 repetition, else the first;
    and (authority, id) of the other MR-typed ones (the same patient under another
    authority: the store finds them by any)."""
    found = _identifiers(pid)
    if not found:
        raise Hl7Error(ErrCode.REQUIRED_FIELD, "PID^1^3", "patient identifier missing")
    records = [f for f in found if f[2] == "MR"]
    ident, authority, _ = (records or found)[0]
    others = tuple((a, i) for i, a, _ in records[1:] if (i, a) != (ident, authority))
    for i, a in ((ident, authority), *((i, a) for a, i in others)):
        _bounded(i, MAX_ID, "PID^1^3")
        _bounded(a, MAX_ID, "PID^1^3")
    return ident, authority, others


def _prior(mrg: hl7.Segment | None, header: Header) -> tuple[str, str] | None:
    """A40: (authority, id) of MRG-1, the prior identifier (authority as for PID-3)."""
    if header.trigger != "A40" or mrg is None:
        return None
    if not _val(mrg, 1):
        raise Hl7Error(ErrCode.REQUIRED_FIELD, "MRG^1^1", "prior patient identifier missing")
    return (_bounded(_val(mrg, 1, 1, 4), MAX_ID, "MRG^1^1") or header.source,
            _bounded(_val(mrg, 1), MAX_ID, "MRG^1^1"))


_NOT_PHONES = frozenset({"NET", "X.400", "INTERNET", "FX", "BP"})  # XTN-2/-3: e-mail, fax, pager


def _phone(pid: hl7.Segment) -> tuple[str | None, bool]:
    """(E.164, False) of the first PID-13 repetition that is a phone number (e-mail, fax
    and pager repetitions are passed over), or (None, whether one did not parse)."""
    unreadable = False
    for rep in range(1, 10):
        if {_val(pid, 13, rep, 2).upper(), _val(pid, 13, rep, 3).upper()} & _NOT_PHONES:
            continue
        raw = _val(pid, 13, rep, 1) or _val(pid, 13, rep, 12)
        if not raw and _val(pid, 13, rep, 7):
            raw = _val(pid, 13, rep, 5) + _val(pid, 13, rep, 6) + _val(pid, 13, rep, 7)
        if not raw or "@" in raw:
            continue
        try:
            return normalize_e164(raw), False
        except InvalidPhoneNumber:
            unreadable = True
    return None, unreadable


# Fields whose deletion (HL7 null) we are told of and do not apply: (location, field,
# components); a name with either part deleted is not taken at all (it is kept whole).
DELETABLE = (("PID^1^5", 5, (1, 2)), ("PID^1^7", 7, (1,)), ("PID^1^13", 13, (1,)),
             ("PID^1^15", 15, (1, 2)))


def _patient(pid: hl7.Segment | None, header: Header) -> PatientData:
    assert pid is not None
    deleted = tuple(loc for loc, field, comps in DELETABLE if _nulled(pid, field, comps))
    mrn, authority, others = _pick_identifier(pid)
    dob_text = _val(pid, 7)
    dob = None
    if dob_text:
        dob = parse_dtm(dob_text, dt.UTC, location="PID^1^7", min_digits=8).date()
    state = _val(pid, 11, 1, 4).upper() or None
    if state is not None and not re.fullmatch(r"[A-Z]{2}", state):
        state = None  # only a two-letter state is kept (the calling rules' granularity)
    phone, phone_unreadable = _phone(pid)
    language = language_tag(_val(pid, 15)) or language_tag(_val(pid, 15, 1, 2))
    family, given = ("", "") if "PID^1^5" in deleted else (
        _bounded(_val(pid, 5), MAX_NAME, "PID^1^5"),
        _bounded(_val(pid, 5, 1, 2), MAX_NAME, "PID^1^5"))
    return PatientData(authority=authority or header.source, mrn=mrn,
                       family=family or None, given=given or None,
                       phone=phone, dob=dob, state=state, language=language,
                       phone_unreadable=phone_unreadable, deleted=deleted,
                       alternates=tuple((a or header.source, i) for a, i in others))


def _times(msg: hl7.Message, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    sch, tq1, ais = _one(msg, "SCH"), _one(msg, "TQ1"), _one(msg, "AIS")
    for seg, name, f_start, f_end in ((tq1, "TQ1", 7, 8), (sch, "SCH", 11, 11)):
        start = _val(seg, f_start) if name == "TQ1" else _val(seg, 11, 1, 4)
        if not start:
            continue
        starts = parse_dtm(start, tz, location=f"{name}^1^{f_start}")
        end = _val(seg, f_end) if name == "TQ1" else _val(seg, 11, 1, 5)
        if end:
            return starts, parse_dtm(end, tz, location=f"{name}^1^{f_end}")
        return starts, _after(starts, _duration(_val(sch, 9), _val(sch, 10), "SCH^1^9"))
    if _val(ais, 4):
        starts = parse_dtm(_val(ais, 4), tz, location="AIS^1^4")
        return starts, _after(starts, _duration(_val(ais, 7), _val(ais, 8), "AIS^1^7"))
    raise Hl7Error(ErrCode.REQUIRED_FIELD, "SCH^1^11", "appointment start time missing")


def _after(starts: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    try:
        ends = starts + duration
        ends.astimezone(dt.UTC)
    except OverflowError as exc:
        raise Hl7Error(ErrCode.DATA_TYPE, "SCH^1^11", "date/time out of range") from exc
    return ends


def _timed(msg: hl7.Message) -> bool:
    """Whether the message carries a start time where :func:`_times` looks for one."""
    return bool(_val(_one(msg, "TQ1"), 7) or _val(_one(msg, "SCH"), 11, 1, 4)
                or _val(_one(msg, "AIS"), 4))


def _duration(amount: str, units: str, location: str) -> dt.timedelta:
    if not amount:
        return DEFAULT_DURATION
    if not amount.isdigit() or int(amount) == 0:
        raise Hl7Error(ErrCode.DATA_TYPE, location, "duration is not a positive number")
    unit = units.split("^", maxsplit=1)[0].upper() or "MIN"
    per = {"MIN": 60, "M": 60, "S": 1, "H": 3600, "HR": 3600}.get(unit)
    if per is None:
        raise Hl7Error(ErrCode.TABLE_VALUE, location, "unknown duration units")
    if int(amount) * per > MAX_DURATION.total_seconds():
        raise Hl7Error(ErrCode.DATA_TYPE, location, "duration out of range")
    return dt.timedelta(seconds=int(amount) * per)


def _appointment(msg: hl7.Message, header: Header, tz: dt.tzinfo) -> AppointmentData:
    sch = _one(msg, "SCH")
    ref = _val(sch, 2) or _val(sch, 1)
    if not ref:
        raise Hl7Error(ErrCode.REQUIRED_FIELD, "SCH^1^2", "appointment id missing")
    _bounded(ref, MAX_ID, "SCH^1^2")
    kind = SIU_EVENTS[header.trigger]
    if kind in ENDING_KINDS and not _timed(msg):
        return AppointmentData(ref, kind, None, None, "unassigned", "")
    starts, ends = _times(msg, tz)
    if ends <= starts:
        raise Hl7Error(ErrCode.DATA_TYPE, "SCH^1^11", "appointment ends before it starts")
    aip = _one(msg, "AIP")
    provider = _val(aip, 3) or "unassigned"
    name = " ".join(p for p in (_val(aip, 3, 1, 3), _val(aip, 3, 1, 2)) if p)
    return AppointmentData(ref=ref, kind=kind, starts_at=starts,
                           ends_at=ends, provider_ref=provider, provider_name=name)
