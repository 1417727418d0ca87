"""Keeping trunks reachable: REGISTER for ``auth: register`` trunks, OPTIONS keepalives.

:class:`TrunkLinks` holds one :class:`LinkState` per trunk. ``start(endpoint)`` sends the
first REGISTER (digest answered from the trunk's password variable) for each trunk with
``auth: register``; the user agent refreshes it at half the granted expiry (RFC 3261
10.2.4) and every answer comes back through ``on_registration``. ``keepalive_loop``
sends OPTIONS to each trunk every ``options_keepalive_s`` seconds; a trunk that does not
answer is marked down in the pool (it fails over, and the pool's probes bring it back).

``health()`` shows each trunk's registration state and last error for ``carrier health``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from carrier.health import ComponentHealth
from carrier.settings import TrunkSettings
from carrier.sip.digest import Credentials
from carrier.sip.endpoint import SipEndpoint
from carrier.sip.events import RegistrationChanged
from carrier.sip.ua import Registration
from carrier.sip.uri import parse_uri
from carrier.trunk_address import uri_host
from carrier.trunks import TrunkPool

log = logging.getLogger("carrier.trunks")


@dataclass
class LinkState:
    name: str
    registering: bool
    registered: bool = False
    expires: int = 0
    registrations: int = 0
    """Successful REGISTER answers (the first and every refresh)."""
    last_error: str | None = None
    keepalive_status: int | None = None


def trunk_uri(trunk: TrunkSettings) -> str:
    return f"sip:{uri_host(trunk.host)}:{trunk.port};transport={trunk.transport}"


class TrunkLinks:
    def __init__(self, trunks: tuple[TrunkSettings, ...], pool: TrunkPool, *,
                 clock: Callable[[], float]) -> None:
        self.trunks = {t.name: t for t in trunks}
        self.pool = pool
        self.clock = clock
        self.states = {t.name: LinkState(t.name, t.auth == "register") for t in trunks}
        self._by_aor: dict[str, str] = {}

    def start(self, endpoint: SipEndpoint) -> None:
        """Send the first REGISTER of each ``auth: register`` trunk."""
        endpoint.on_registration = self.on_registration
        for trunk in self.trunks.values():
            if trunk.auth != "register" or not trunk.username:
                continue
            password = os.environ.get(trunk.password_env or "", "")
            aor = f"sip:{trunk.username}@{uri_host(trunk.host)}"
            self._by_aor[aor] = trunk.name
            endpoint.register(Registration(
                registrar=parse_uri(trunk_uri(trunk)), aor=aor,
                credentials=Credentials(trunk.username, password),
                expires=trunk.register_expires_s))

    def on_registration(self, event: RegistrationChanged) -> None:
        name = self._by_aor.get(event.aor)
        if name is None:
            return
        state = self.states[name]
        changed = state.registered != event.registered
        state.registered = event.registered
        state.expires = event.expires
        if event.registered:
            state.registrations += 1
            state.last_error = None
        else:
            state.last_error = "no answer" if event.status is None else f"SIP {event.status}"
        log.log(logging.INFO if changed else logging.DEBUG, "trunk registration",
                extra={"trunk": name, "registered": event.registered, "status": event.status,
                       "expires": event.expires})

    async def keepalive_loop(self, options: Callable[[str], Awaitable[int | None]],
                             stop: asyncio.Event) -> None:
        """OPTIONS to each trunk every ``options_keepalive_s`` (0: none) until ``stop``."""
        due = {name: self.clock() for name, t in self.trunks.items() if t.options_keepalive_s}
        while due and not stop.is_set():
            now = self.clock()
            for name, at in sorted(due.items(), key=lambda kv: kv[1]):
                if at > now:
                    continue
                trunk = self.trunks[name]
                status = await options(trunk_uri(trunk))
                self.states[name].keepalive_status = status
                if status is None:
                    self.pool.mark_down(name, self.clock())
                    log.warning("trunk keepalive unanswered", extra={"trunk": name})
                due[name] = self.clock() + trunk.options_keepalive_s
            wait = max(0.0, min(due.values()) - self.clock())
            try:
                async with asyncio.timeout(wait):
                    await stop.wait()
            except TimeoutError:
                pass

    def health(self) -> list[ComponentHealth]:
        out = []
        for name, s in self.states.items():
            if not s.registering:
                continue
            if s.registered:
                detail = f"registered, expires {s.expires} s ({s.registrations} answers)"
            else:
                detail = f"not registered ({s.last_error or 'pending'})"
            out.append(ComponentHealth(f"trunk.{name}.registration", s.registered, detail))
        return out
