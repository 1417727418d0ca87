"""The patient web page's ASGI app (Starlette): text chat and WebRTC voice, no login.

Routes (all answers ``Cache-Control: no-store``; a strict CSP; no cookie is ever set or read)::

    GET  /                         the page (static, inside the package, no build step)
    GET  /static/{app.js,app.css}
    POST /api/session              {"mode": "text"|"voice", "phone": "..."} -> 201
                                   {"session", "token", "replies", "ended"}
    POST /api/session/{id}/message {"text": "..."}           -> {"replies", "ended"}
    POST /api/session/{id}/voice   {"type": "offer", "sdp"}  -> {"type": "answer", "sdp"}
    POST /api/session/{id}/end                               -> 204

Every POST is JSON (a cross-site form cannot send it without a CORS preflight, which is
never granted) and, past the first, carries the session's token in ``X-Webchat-Token``;
an ``Origin`` other than our own is refused. Each client address (behind
``trusted_proxies``, the one they forward) is held to ``requests_per_minute``; at most
``max_sessions`` run at once (503 beyond); a session idle for ``idle_timeout_s`` is ended
by the reaper. The phone number the patient types picks
their record as caller ID does on the phone: it is not vouched for, so the workflow asks
the date of birth and the full name before any PHI. Logs name sessions by id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carrier.call import Call, CallerInfo, Direction
from carrier.client_key import client_key
from carrier.plugin import CallContext, CallHandler, ChatHandler
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164
from carrier.webchat.chat import InboxFull, TextLeg
from carrier.webchat.sessions import (
    RateLimiter,
    SessionsFull,
    SessionTable,
    TooManyFromClient,
    UnknownSession,
    WebSession,
)
from carrier.webchat.settings import WebchatSettings

log = logging.getLogger("carrier.webchat")

MAX_BODY = 64 * 1024  # an SDP offer is a few kB
REPLY_WAIT_S = 20.0  # how long a message waits for the agent's replies
CONNECT_S = 20.0  # a voice session's peer connection must come up within this
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}


class _Headers:
    """``HEADERS`` on every answer, the server's own too (its 404, 405 and the body limit's
    413 carried none of them: only the routes' answers did); a route's own value stays."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                had = list(message.get("headers", []))
                names = {k.lower() for k, _ in had}
                message["headers"] = had + [h for h in self.headers if h[0] not in names]
            await send(message)

        await self.app(scope, receive, sending)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebchatServer:
    """Sessions, limits and the tasks of every chat; an ``async with`` block owns them."""

    def __init__(self, settings: WebchatSettings, *, handler: Callable[[], CallHandler],
                 chat_handler: Callable[[], ChatHandler | None],
                 clock: Callable[[], float] = time.monotonic,
                 audit: Callable[..., Awaitable[object]] | None = None) -> None:
        """``audit(actor, action, record, reason, details)``: the records' audit trail
        (``Records.audit``), for what a browser call's carrier side decides (its limit)."""
        self.settings = settings
        self.audit = audit
        self.handler = handler
        self.chat_handler = chat_handler
        self.clock = clock
        self.table = SessionTable(max_sessions=settings.max_sessions,
                                  max_per_owner=settings.max_sessions_per_client,
                                  idle_s=settings.idle_timeout_s)
        self.limiter = RateLimiter(settings.requests_per_minute)
        self.outcomes: list[Any] = []  # CallOutcomes (ids and enums only), for tests
        self._outcome_added = asyncio.Condition()
        self._tasks: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> WebchatServer:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._tasks.create_task(self._reaper(), name="webchat-reaper")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._stop.set()
        for session in self.table.all():
            await self.end(session, "shutdown")
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            await tasks.__aexit__(None, None, None)

    async def wait_outcomes(self, count: int = 1) -> list[Any]:
        """The outcomes once at least ``count`` chats have ended with one (bound it with
        ``asyncio.timeout``): what a caller awaits instead of polling ``outcomes``."""
        async with self._outcome_added:
            await self._outcome_added.wait_for(lambda: len(self.outcomes) >= count)
            return list(self.outcomes)

    async def _add_outcome(self, outcome: Any) -> None:
        async with self._outcome_added:
            self.outcomes.append(outcome)
            self._outcome_added.notify_all()

    # ---- sessions -----------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> None:
        if self._tasks is None:
            coro.close()
            raise Refused(503, "not serving")
        self._tasks.create_task(coro, name=name)

    async def open(self, mode: str, phone: str, client: str = "-"
                   ) -> tuple[WebSession, list[str], bool]:
        if mode not in ("text", "voice"):
            raise Refused(400, "mode is text or voice")
        chat = self.chat_handler() if mode == "text" else None
        if mode == "text" and chat is None:
            raise Refused(501, "text chat is not offered here")
        session = self.table.open(mode, self.clock(), client)
        caller = CallerInfo(number=_e164(phone))
        call_id = f"web-{secrets.token_hex(8)}"
        context = CallContext(direction=Direction.INBOUND, extra={"channel": "web"},
                              max_duration_s=self.settings.max_call_s if mode == "voice"
                              else None)
        session.attached.update(call_id=call_id, caller=caller, context=context)
        log.info("webchat session opened", extra={"session": session.id, "mode": mode,
                                                  "sessions": len(self.table)})
        if chat is None:
            return session, [], False
        leg = TextLeg(call_id=call_id, caller=caller, called=self.settings.number,
                      context=context, max_chars=self.settings.max_message_chars)
        session.attached["leg"] = leg
        self._spawn(self._run_text(session, leg, chat), f"webchat-text-{session.id[:6]}")
        replies, ended = await leg.exchange(None, wait_s=REPLY_WAIT_S)
        return session, replies, ended

    async def _run_text(self, session: WebSession, leg: TextLeg, chat: ChatHandler) -> None:
        try:
            await self._add_outcome(await chat(leg, leg.context))
        except Exception as exc:  # the edge: one chat's fault ends that chat only
            log.exception("webchat session %s: chat handler failed (%s)", session.id,
                      type(exc).__name__)
        finally:
            leg.leave("ended")
            self.table.close(session.id)

    async def message(self, session: WebSession, text: str) -> tuple[list[str], bool]:
        leg = session.attached.get("leg")
        if not isinstance(leg, TextLeg):
            raise Refused(409, "not a text session")
        if not text.strip():
            raise Refused(400, "message is empty")
        hard = hard_message_limit(self.settings.max_message_chars)
        if len(text) > hard:  # never handed over: reading it could hold the event loop
            raise Refused(413, f"message too long: send one of at most {hard} characters")
        # Over max_message_chars (up to the hard limit): handed over all the same, so an
        # opt-out (or an emergency) in it is never lost; the handler asks for it shorter.
        try:
            return await leg.exchange(text, wait_s=REPLY_WAIT_S)
        except InboxFull:
            raise Refused(429, "earlier messages are still being answered") from None

    async def voice(self, session: WebSession, offer: str) -> str:
        from carrier.webchat.voice import answer_offer  # noqa: PLC0415 - aiortc on demand

        if session.kind != "voice" or "pc" in session.attached or "offer" in session.attached:
            raise Refused(409, "not a voice session, or its voice is already open")
        # Taken before the answer is awaited: an offer sent twice at once opens one call.
        session.attached["offer"] = offer
        answered = False
        try:
            pc, call, answer = await answer_offer(
                offer, call_id=session.attached["call_id"], caller=session.attached["caller"],
                called=self.settings.number, context=session.attached["context"])
            answered = True
        except ValueError:  # aiortc's word for an offer it cannot parse or has no audio in
            raise Refused(400, "the SDP offer is not usable") from None
        finally:
            if not answered:
                session.attached.pop("offer", None)  # the page may offer again
        session.attached.update(pc=pc, call=call)
        self._spawn(self._run_voice(session, pc, call), f"webchat-voice-{session.id[:6]}")
        return answer

    async def _run_voice(self, session: WebSession, pc: Any, call: Call) -> None:
        from carrier.webchat.voice import run_call  # noqa: PLC0415

        try:
            outcome = await run_call(pc, call, self.handler(), connect_s=CONNECT_S,
                                     audit=self._call_audit)
            if outcome is not None:
                await self._add_outcome(outcome)
        except Exception as exc:  # the edge: one session's fault ends that session only
            log.exception("webchat session %s: voice failed (%s)", session.id,
                      type(exc).__name__)
        finally:
            self.table.close(session.id)
            log.info("webchat session ended", extra={"session": session.id})

    async def _call_audit(self, action: str, call_id: str, reason: str,
                          details: Mapping[str, Any]) -> None:
        if self.audit is not None:
            await self.audit("webchat", action, ("call", call_id), reason, dict(details))

    async def end(self, session: WebSession, reason: str) -> None:
        self.table.close(session.id)
        leg = session.attached.get("leg")
        if isinstance(leg, TextLeg):
            leg.leave(reason)
        call = session.attached.get("call")
        if isinstance(call, Call):
            call.mark_ended(reason)
        pc = session.attached.get("pc")
        if pc is not None:
            await pc.close()

    async def _reaper(self) -> None:
        every = min(5.0, self.settings.idle_timeout_s / 4)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._stop.wait()
            await self.reap(self.clock())

    async def reap(self, now: float) -> int:
        """End the sessions idle at ``now`` (a connected voice session is not idle)."""
        for session in self.table.all():
            pc = session.attached.get("pc")
            if pc is not None and pc.connectionState == "connected":
                self.table.touch(session.id, now)
        expired = self.table.expired(now)
        for session in expired:
            log.info("webchat session idle: ended", extra={"session": session.id})
            await self.end(session, "idle")
        return len(expired)


def hard_message_limit(max_message_chars: int) -> int:
    """The longest message handed to the chat handler: four times ``max_message_chars``
    (which the handler asks patients to keep to), at most 5000 characters. Past it, 413:
    the body limit let 64 KiB of text through, and the application's grammar took over a
    minute of the event loop (every call's) to read it."""
    return max(max_message_chars, min(4 * max_message_chars, 5000))


def _e164(phone: str) -> str:
    """The number on record as typed, in E.164 (as the records index it); anything else:
    no number, an unknown caller."""
    try:
        return normalize_e164(phone[:32])
    except InvalidPhoneNumber:
        return ""


# ---- HTTP --------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=HEADERS)


async def _body(request: Request, server: WebchatServer) -> dict[str, Any]:
    """The POST guard: rate limit, JSON only, same origin, bounded body (the app's
    ``RequestBodyLimitMiddleware`` refuses a longer one from its length, or cuts it off at
    ``MAX_BODY`` bytes, before it is held in memory)."""
    if not server.limiter.allow(_client(request), server.clock()):
        raise Refused(429, "too many requests")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(415, "JSON only")
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise Refused(403, "cross-origin request")
    try:
        raw = await request.body()
    except HTTPException as exc:  # the body limit, before the body was read whole
        raise Refused(exc.status_code, "request too large") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        raise Refused(400, "not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "a JSON object is expected")
    return data


def _client(request: Request) -> str:
    """The client address (behind ``trusted_proxies``, the one the proxy forwards), as the
    limits count it: an IPv6 client by its /64 (``carrier.client_key``)."""
    return client_key(request.client.host) if request.client else "-"


def _text(data: Mapping[str, Any], key: str, default: str) -> str:
    """A string field of the page's JSON, its accents composed (NFC): some keyboards and
    pastes send "a" + U+0301, which the grammars and the redactor would read apart."""
    value = data.get(key, default)
    if not isinstance(value, str):
        raise Refused(400, f"{key} must be a string")
    return unicodedata.normalize("NFC", value)


def _session(request: Request, server: WebchatServer) -> WebSession:
    token = request.headers.get("x-webchat-token", "")
    return server.table.get(request.path_params["sid"], token, server.clock())


def build_app(server: WebchatServer) -> Starlette:
    async def page(request: Request) -> Response:
        return Response(_asset("index.html"), media_type="text/html", headers=HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response(status_code=404, headers=HEADERS)
        return Response(_asset(name), media_type=STATIC[name], headers=HEADERS)

    async def guarded(request: Request, act: Callable[[dict[str, Any]], Any]) -> Response:
        try:
            result: Response = await act(await _body(request, server))
        except Refused as exc:
            return _json({"error": exc.reason}, exc.status)
        except (SessionsFull, UnknownSession, TooManyFromClient) as exc:
            return _json({"error": type(exc).__name__}, exc.status)
        return result

    async def open_session(request: Request) -> Response:
        async def act(data: dict[str, Any]) -> Response:
            session, replies, ended = await server.open(_text(data, "mode", "text"),
                                                        _text(data, "phone", ""),
                                                        _client(request))
            return _json({"session": session.id, "token": session.token,
                          "replies": replies, "ended": ended}, 201)
        return await guarded(request, act)

    async def message(request: Request) -> Response:
        async def act(data: dict[str, Any]) -> Response:
            replies, ended = await server.message(_session(request, server),
                                                  _text(data, "text", ""))
            return _json({"replies": replies, "ended": ended})
        return await guarded(request, act)

    async def voice(request: Request) -> Response:
        async def act(data: dict[str, Any]) -> Response:
            if data.get("type") != "offer" or not isinstance(data.get("sdp"), str):
                raise Refused(400, "an SDP offer is expected")
            answer = await server.voice(_session(request, server), data["sdp"])
            return _json({"type": "answer", "sdp": answer})
        return await guarded(request, act)

    async def end(request: Request) -> Response:
        async def act(data: dict[str, Any]) -> Response:
            await server.end(_session(request, server), "left")
            return Response(status_code=204, headers=HEADERS)
        return await guarded(request, act)

    routes = [
        Route("/", page), Route("/static/{name}", static),
        Route("/api/session", open_session, methods=["POST"]),
        Route("/api/session/{sid}/message", message, methods=["POST"]),
        Route("/api/session/{sid}/voice", voice, methods=["POST"]),
        Route("/api/session/{sid}/end", end, methods=["POST"]),
    ]
    limit = Middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY)
    return Starlette(routes=routes, middleware=[Middleware(_Headers), limit],
                     exception_handlers={Exception: _server_error})


async def _server_error(request: Request, exc: Exception) -> Response:
    """A fault no route caught: Starlette's outermost middleware answers it, outside
    ``_Headers``, so the answer carries ``HEADERS`` itself (and nothing of the fault)."""
    return _json({"error": "internal error"}, 500)


def _asset(name: str) -> bytes:
    return resources.files("carrier.webchat").joinpath("static", name).read_bytes()


@contextlib.asynccontextmanager
async def serve_webchat(server: WebchatServer, host: str, port: int) -> AsyncIterator[int]:
    """The page on ``host:port`` (plain HTTP on loopback; put TLS in front to publish it:
    browsers give microphones only to secure origins) while the block runs; yields the
    bound port."""
    from carrier.console.server import serve_app  # noqa: PLC0415 - one uvicorn runner

    async with server, serve_app(build_app(server), host, port,
                                 trusted_proxies=server.settings.trusted_proxies) as bound:
        log.info("webchat listening", extra={"host": host, "port": bound})
        yield bound
