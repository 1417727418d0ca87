"""Console fixtures: the app on a fresh migrated database, a hand-moved wall clock, and
signed-in clients per role (password + TOTP, as an operator signs in).

* ``clock``: the console's ``now`` (UTC), moved by ``clock.advance(seconds)``.
* ``console``: a :class:`ConsoleContext` on the ``records`` fixture, with a stub live-call
  registry and a campaign store on the same database.
* ``served``: the console on a real HTTPS port of 127.0.0.1 (its base URL).
* ``client``: an ``httpx.AsyncClient`` speaking ASGI to the app (``https://testserver``,
  so the Secure cookie is sent). ``signin(role)`` gives a client signed in as that role.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from carrier.console import auth
from carrier.console.app import ConsoleContext, build_app
from carrier.console.live import LiveCallView
from carrier.console.server import console_tls_files, serve_console
from carrier.dialer.store import OutreachStore
from carrier.records import operators
from carrier.records.operators import Issued, Operators
from carrier.records.store import Records
from carrier.settings import ConsoleSettings, Settings

START = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class StubLive:
    """A live-call registry with one synthetic call (the real one is the gateway's)."""

    def __init__(self) -> None:
        self.calls = {"call-1": LiveCallView(
            call_id="call-1", direction="inbound", caller="+1******0101", called="+1******0100",
            trunk="demo", verstat="TN-Validation-Passed", attestation="A",
            stir_status="passed", workflow="appointment_reminder", state="up", duration_s=3.0)}
        self.actions: list[tuple[str, str]] = []
        self.targets: list[str] = []  # what transfers were asked to go to

    def snapshot(self) -> list[LiveCallView]:
        return list(self.calls.values())

    async def hangup(self, call_id: str, reason: str) -> bool:
        self.actions.append(("hangup", call_id))
        return self.calls.pop(call_id, None) is not None

    async def transfer(self, call_id: str, target: str) -> bool:
        self.actions.append(("transfer", call_id))
        self.targets.append(target)
        return call_id in self.calls


class StubAppointments:
    """The application's appointment port with nothing booked (the agent's own calendar
    is tested with the agent)."""

    async def upcoming(self, now: dt.datetime, horizon: dt.timedelta) -> list[Any]:
        return []

    async def missed_since(self, since: dt.datetime) -> list[Any]:
        return []

    async def state(self, appointment_id: str) -> None:
        return None


def settings(tmp_path: Any, **console: Any) -> Settings:
    return Settings(data_dir=str(tmp_path), console=ConsoleSettings(**console))


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, at a test cost (the production parameters take ~0.1 s and 64 MiB
    per hash; test_auth checks those are what accounts get)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(operators, "_HASHER", cheap)
    monkeypatch.setattr(auth, "HASHER", cheap)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console_settings(request: pytest.FixtureRequest, tmp_path: Any) -> Settings:
    """Console settings; a test may set some with ``indirect`` parametrization."""
    return settings(tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def console(records: Records, clock: Clock, console_settings: Settings
                  ) -> ConsoleContext:
    return ConsoleContext(console_settings, records=records, live=StubLive(),
                          campaigns=OutreachStore(records.pool),
                          appointments=StubAppointments(), now=clock)


@pytest.fixture
async def served(console: ConsoleContext) -> AsyncIterator[str]:
    """The console served over HTTPS on 127.0.0.1 (uvicorn, the loopback certificate made
    at first start): its base URL. Clients verify with ``client_context(settings)``."""
    tls = console_tls_files(console.settings)
    async with serve_console(console, "127.0.0.1", 0, tls=tls) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.fixture
async def client(console: ConsoleContext) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(console) as c:
        yield c


def _client(console: ConsoleContext) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(console)),
                             base_url="https://testserver")


def code_at(issued: Issued, when: dt.datetime, steps: int = 0) -> str:
    secret = issued.totp_uri.split("secret=")[1].split("&")[0]
    totp = pyotp.TOTP(secret)
    return totp.at(when, counter_offset=steps)


@dataclasses.dataclass
class SignedIn:
    client: httpx.AsyncClient
    issued: Issued
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


@pytest.fixture
async def signin(console: ConsoleContext, clock: Clock
                 ) -> AsyncIterator[Callable[[str], Awaitable[SignedIn]]]:
    opened: list[httpx.AsyncClient] = []

    async def make(role: str, name: str | None = None) -> SignedIn:
        issued = await Operators(console.records.pool, console.records.keys).add(
            name or f"op-{role}", role, now=clock())
        c = _client(console)
        opened.append(c)
        r = await c.post("/api/v1/session", json={
            "name": issued.name, "password": issued.password, "totp": code_at(issued, clock())})
        assert r.status_code == 200, r.text
        return SignedIn(c, issued, r.json()["csrf_token"])

    yield make
    for c in opened:
        await c.aclose()
