"""FHIR R4 client for the schedule feeds: SMART Backend Services auth, paging, retries and
rate limits, and the write-back of outcomes.

* :class:`SmartAuth`: the client-credentials grant with a signed JWT assertion (RS384 or
  ES384, ``pyjwt``), as SMART App Launch "Backend Services" specifies; the token is cached
  until shortly before it expires and fetched again after a 401.
* :class:`FhirClient`: ``search`` follows the Bundle's ``next`` links while they stay on
  the server (same scheme, host, port and base path: the bearer token goes nowhere else)
  and lead somewhere new (a link back to a page already read ends the search); every
  request is retried on connection errors, 5xx and 429 (honouring ``Retry-After``, seconds
  or an HTTP date) with a capped exponential back-off, up to ``retries`` times. HTTP runs
  in a worker thread (``urllib``).
* ``send(outcome)``: the write-back destination. Appointment outcomes update the
  Appointment (status, and the patient participant's ``accepted``/``declined``); a refill
  request creates a Task, conditionally on its identifier so a resend never duplicates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from carrier.feeds.hl7_out import ANSWER_KINDS, OUTCOME_TEXT, Outcome
from carrier.feeds.writeback import DeliveryError
from carrier.settings_feeds import FeedsSettings

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = ("system/Patient.read system/Appointment.read system/Appointment.write "
          "system/Slot.read system/Schedule.read system/Practitioner.read "
          "system/MedicationRequest.read system/Task.write "
          "system/QuestionnaireResponse.write")
TASK_SYSTEM = "urn:carrier:writeback"


class FhirHttpError(OSError):
    """The server's refusal (an I/O failure to the poll loop, which retries later)."""

    def __init__(self, status: int, what: str) -> None:
        self.status = status
        super().__init__(f"FHIR server answered {status} for {what}")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


class FhirReplyError(OSError):
    """A reply that cannot be a FHIR answer: not a JSON object (an HTML page from a proxy,
    a list), or larger than ``MAX_REPLY``. An I/O failure to the poll loop (retried later);
    the text says which, never the body."""


MAX_REPLY = 32 << 20  # bytes; no Bundle page we ask for comes near it
REPLY_DEADLINE_S = 120.0  # a whole reply, however slowly it drips in
_CHUNK = 1 << 16


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Redirects are followed on the same scheme, host and port only: ``urllib`` would carry
    the bearer token to wherever a ``Location`` points. Another one is not followed (its
    3xx is the answer)."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
            self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
            newurl: str) -> urllib.request.Request | None:
        there, here = urllib.parse.urlsplit(newurl), urllib.parse.urlsplit(req.full_url)
        if (there.scheme, there.netloc.lower()) != (here.scheme, here.netloc.lower()):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOrigin)


def _read(resp: Any, clock: Callable[[], float]) -> bytes:
    """The body, at most ``MAX_REPLY`` bytes, all of it within ``REPLY_DEADLINE_S`` (the
    socket timeout bounds each read only: a server dripping a byte at a time would hold a
    worker thread for ever)."""
    start, out = clock(), bytearray()
    while chunk := resp.read(_CHUNK):
        out += chunk
        if len(out) > MAX_REPLY:
            raise FhirReplyError(f"FHIR reply too large (over {MAX_REPLY} bytes)")
        if clock() - start > REPLY_DEADLINE_S:
            raise TimeoutError("FHIR reply not complete within its deadline")
    return bytes(out)


def _object(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data) if data else {}
    except (ValueError, RecursionError):  # not JSON; or nested past the parser's depth
        parsed = None
    if not isinstance(parsed, dict):
        raise FhirReplyError("FHIR reply is not a FHIR JSON object")
    return parsed


def _http(method: str, url: str, body: bytes | None, headers: dict[str, str],
          timeout: float, *, clock: Callable[[], float] = time.monotonic) -> Reply:
    if not url.startswith(("http://", "https://")):
        raise ValueError("FHIR URLs must be http(s)")
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return Reply(resp.status, _object(_read(resp, clock)), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        try:
            parsed = _object(_read(exc, clock))
        except FhirReplyError:
            parsed = {}  # the status is the answer; an error page's body is not needed
        return Reply(exc.code, parsed, dict(exc.headers or {}))


@dataclass
class SmartAuth:
    token_url: str
    client_id: str
    key_pem: bytes = field(repr=False)
    scope: str = SCOPES
    timeout: float = 10.0
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0

    @property
    def algorithm(self) -> str:
        return "ES384" if b"EC PRIVATE" in self.key_pem or b"ecdsa" in self.key_pem \
            else "RS384"

    def assertion(self, now: float) -> str:
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "exp": int(now) + 300, "iat": int(now), "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.key_pem, algorithm=self.algorithm,
                          headers={"kid": self.client_id})

    async def header(self, *, refresh: bool = False) -> dict[str, str]:
        now = time.time()
        if refresh or self._token is None or now >= self._expires:
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(now)}).encode()
            reply = await asyncio.to_thread(
                _http, "POST", self.token_url, form,
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Accept": "application/json"}, self.timeout)
            token = reply.body.get("access_token")
            if reply.status != 200 or not isinstance(token, str):
                raise FhirHttpError(reply.status, "token request")
            self._token = token
            self._expires = now + _lifetime(reply.body.get("expires_in")) - 30
        return {"Authorization": f"Bearer {self._token}"}


def _lifetime(value: object) -> float:
    """A token's ``expires_in`` (RFC 6749: recommended only, so absent, null or text from
    some servers): seconds, 300 when it is not a positive number."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 300.0
    return seconds if 0 < seconds < float("inf") else 300.0


class FhirClient:
    def __init__(self, base_url: str, *, auth: SmartAuth | None = None, timeout: float = 10.0,
                 retries: int = 4, backoff: float = 0.5, max_wait: float = 30.0,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base_url.rstrip("/")
        self.clock = clock  # times a reply against REPLY_DEADLINE_S
        self.auth = auth
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep or asyncio.sleep
        self.waited: list[float] = []  # pauses taken (rate limits, retries), for operators

    async def request(self, method: str, path_or_url: str, body: dict[str, Any] | None = None,
                      headers: Mapping[str, str] | None = None) -> Reply:
        url = path_or_url if "://" in path_or_url else f"{self.base}/{path_or_url}"
        data = None if body is None else json.dumps(body).encode()
        refreshed = False
        for attempt in range(self.retries + 1):
            h = {"Accept": FHIR_JSON, **(headers or {})}
            if data is not None:
                h["Content-Type"] = FHIR_JSON
            if self.auth is not None:
                h.update(await self.auth.header())
            try:
                reply = await asyncio.to_thread(_http, method, url, data, h, self.timeout,
                                                clock=self.clock)
            except (OSError, TimeoutError):
                if attempt == self.retries:
                    raise
                await self._pause(self.backoff * 2 ** attempt)
                continue
            if reply.status == 401 and self.auth is not None and not refreshed:
                refreshed = True
                await self.auth.header(refresh=True)
                continue
            if (reply.status == 429 or reply.status >= 500) and attempt < self.retries:
                after = self._retry_after(reply)  # 0 is a real answer: retry at once
                await self._pause(self.backoff * 2 ** attempt if after is None else after)
                continue
            return reply
        raise AssertionError("unreachable")

    def _retry_after(self, reply: Reply) -> float | None:
        value = ({k.lower(): v for k, v in reply.headers.items()}.get("retry-after")
                 or "").strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)  # an HTTP date
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, when.timestamp() - time.time())

    async def _pause(self, seconds: float) -> None:
        wait = min(seconds, self.max_wait)
        self.waited.append(wait)
        await self._sleep(wait)

    async def search(self, rtype: str, params: Mapping[str, str]) -> AsyncIterator[
            dict[str, Any]]:
        """Every matching resource, page after page (Bundle ``link`` ``next``)."""
        async for entry in self._entries(
                f"{rtype}?{urllib.parse.urlencode(dict(params))}", f"search {rtype}"):
            res = entry.get("resource")
            if isinstance(res, dict) and res.get("resourceType") == rtype:
                yield res

    async def history(self, rtype: str, since: dt.datetime) -> AsyncIterator[dict[str, Any]]:
        """The entries of the type's history since ``since`` (``_history?_since=``), page
        after page; a deletion is an entry whose ``request.method`` is DELETE."""
        url = f"{rtype}/_history?" + urllib.parse.urlencode({"_since": since.isoformat()})
        async for entry in self._entries(url, f"history {rtype}"):
            yield entry

    async def _entries(self, first: str, what: str) -> AsyncIterator[dict[str, Any]]:
        """The Bundle entries (objects only) of ``first`` and the pages after it."""
        url: str | None = first
        seen: set[str] = set()
        while url is not None:
            seen.add(self._absolute(url))
            reply = await self.request("GET", url)
            if reply.status != 200:
                raise FhirHttpError(reply.status, what)
            entries, links = reply.body.get("entry"), reply.body.get("link")
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    yield entry
            url = next((str(link.get("url")) for link in
                        (links if isinstance(links, list) else [])
                        if isinstance(link, dict) and link.get("relation") == "next"), None)
            if url is not None and not self._ours(url):
                log.warning("fhir: %s: a next link off the server was not followed", what)
                url = None
            elif url is not None and self._absolute(url) in seen:
                log.warning("fhir: %s: a next link back to a page read was not followed", what)
                url = None

    def _absolute(self, url: str) -> str:
        return url if "://" in url else f"{self.base}/{url}"

    def _ours(self, url: str) -> bool:
        """Whether ``url`` is on the server (scheme, host, port and base path)."""
        if "://" not in url:
            return True
        there, here = urllib.parse.urlsplit(url), urllib.parse.urlsplit(self.base)
        return (there.scheme, there.netloc.lower()) == (here.scheme, here.netloc.lower()) \
            and (there.path + "/").startswith(here.path.rstrip("/") + "/")

    async def read(self, rtype: str, rid: str) -> dict[str, Any] | None:
        reply = await self.request("GET", f"{rtype}/{urllib.parse.quote(rid)}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise FhirHttpError(reply.status, f"read {rtype}")
        return reply.body

    # ---- write-back (carrier.feeds.writeback.Destination) ------------------------------

    async def send(self, outcome: Outcome) -> None:
        try:
            if outcome.kind in ANSWER_KINDS:
                await self._answers(outcome)
            elif outcome.kind == "refill_request":
                await self._task(outcome)
            elif outcome.appointment_ref and outcome.kind in ("confirmed", "cancelled",
                                                               "rescheduled"):
                await self._appointment(outcome)
            else:
                await self._task(outcome)  # opted out, no answer: a Task for staff
        except FhirHttpError as exc:
            retry = exc.status >= 500 or exc.status in {429, 409, 412}
            raise DeliveryError(str(exc), retry=retry) from exc
        except (OSError, TimeoutError) as exc:
            raise DeliveryError(exc.__class__.__name__, retry=True) from exc

    async def _appointment(self, o: Outcome) -> None:
        ref = o.appointment_ref or ""
        appt = await self.read("Appointment", ref)
        if appt is None:
            raise FhirHttpError(404, "read Appointment")
        moved = o.kind == "rescheduled" and o.new_start is not None
        status = {"confirmed": "booked", "cancelled": "cancelled",
                  "rescheduled": "booked" if moved else "cancelled"}[o.kind]
        appt["status"] = status
        if moved:  # the Appointment update carries the new slot (no $book here)
            assert o.new_start is not None
            appt["start"] = o.new_start.isoformat()
            if o.new_end is not None:
                appt["end"] = o.new_end.isoformat()
                appt["minutesDuration"] = int((o.new_end - o.new_start).total_seconds() // 60)
            appt.pop("slot", None)  # the old Slot reference no longer holds
        for part in appt.get("participant", []):
            if part.get("actor", {}).get("reference", "").startswith("Patient/"):
                part["status"] = "accepted" if o.kind == "confirmed" or moved else "declined"
        if o.kind == "cancelled":
            appt["cancelationReason"] = {"text": "cancelled by patient on a reminder call"}
        version = appt.get("meta", {}).get("versionId")
        headers = {"If-Match": f'W/"{version}"'} if version else {}
        reply = await self.request("PUT", f"Appointment/{urllib.parse.quote(ref)}", appt,
                                   headers)
        if reply.status not in (200, 201):
            raise FhirHttpError(reply.status, "update Appointment")

    async def _task(self, o: Outcome) -> None:
        ident = f"{TASK_SYSTEM}|{o.control_id}"
        task: dict[str, Any] = {
            "resourceType": "Task", "status": "requested", "intent": "order",
            "identifier": [{"system": TASK_SYSTEM, "value": o.control_id}],
            "code": {"coding": [{"system": TASK_SYSTEM, "code": o.kind,
                                 "display": OUTCOME_TEXT.get(o.kind, o.kind)}]},
            "description": OUTCOME_TEXT.get(o.kind, o.kind),
            "authoredOn": o.at.isoformat(),
            "for": {"identifier": {"system": o.authority, "value": o.mrn}},
        }
        if o.appointment_ref:
            task["focus"] = {"reference": f"Appointment/{o.appointment_ref}"}
        reply = await self.request("POST", "Task", task,
                                   {"If-None-Exist": f"identifier={ident}"})
        if reply.status not in (200, 201):
            raise FhirHttpError(reply.status, "create Task")

    async def _answers(self, o: Outcome) -> None:
        """Intake answers or a screening result as a QuestionnaireResponse (conditional
        create on its identifier: a resend files none twice)."""
        qr: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "identifier": {"system": TASK_SYSTEM, "value": o.control_id},
            "questionnaire": f"{TASK_SYSTEM}:{o.kind}",
            "authored": o.at.isoformat(),
            "subject": {"identifier": {"system": o.authority, "value": o.mrn}},
            "item": [{"linkId": link, "text": link, "answer": [{"valueString": value}]}
                     for link, value in o.answers if value],
        }
        reply = await self.request("POST", "QuestionnaireResponse", qr, {
            "If-None-Exist": f"identifier={TASK_SYSTEM}|{o.control_id}"})
        if reply.status not in (200, 201):
            raise FhirHttpError(reply.status, "create QuestionnaireResponse")


def client_from_settings(f: FeedsSettings) -> FhirClient:
    assert f.fhir_base_url is not None
    auth = None
    if f.fhir_token_url and f.fhir_client_id and f.fhir_key_file:
        auth = SmartAuth(f.fhir_token_url, f.fhir_client_id,
                         Path(f.fhir_key_file).read_bytes())
    return FhirClient(f.fhir_base_url, auth=auth)


def instant(text: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """A FHIR instant; one a server sent without its offset is taken in ``tz`` (UTC for
    the server's own clock, ``meta.lastUpdated``; the clinic's zone for appointment times)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)
