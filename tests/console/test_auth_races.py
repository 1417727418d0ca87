"""Sign-in attempts racing each other, over real HTTPS on 127.0.0.1: the lockout counts an
attempt before its password is checked, so many attempts sent at once get no more checks
than ``lockout_failures``; a TOTP code used by two sign-ins at once opens one session.

Each password check is held at a gate (the test sees which attempts reached it), so the
interleaving is fixed by the test, not by timing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from carrier.console import auth
from carrier.console.app import ConsoleContext
from carrier.console.server import client_context
from carrier.records.operators import Operators
from tests.console.conftest import Clock, code_at, settings

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


class Gate:
    """Holds every password check until ``open()``; ``reached`` names each one that came."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loop = asyncio.get_running_loop()
        self.reached: asyncio.Queue[str] = asyncio.Queue()
        self._open = threading.Event()
        real = auth._verify_password

        def held(stored: str, password: str) -> bool:
            self.loop.call_soon_threadsafe(self.reached.put_nowait, password)
            self._open.wait(60)
            return real(stored, password)

        monkeypatch.setattr(auth, "_verify_password", held)

    def open(self) -> None:
        self._open.set()


@pytest.fixture
async def gate(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gate]:
    held = Gate(monkeypatch)
    try:
        yield held
    finally:
        held.open()  # whatever the test saw, no check stays held


@pytest.fixture
def console_settings(tmp_path):  # type: ignore[no-untyped-def]
    return settings(tmp_path, lockout_failures=2, lockout_s=600)


@pytest.fixture
async def web(console: ConsoleContext, served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)
                                 ) as c:
        yield c


async def test_attempts_in_flight_count_against_the_lockout(
        console: ConsoleContext, web: httpx.AsyncClient, clock: Clock, gate: Gate) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "race", "supervisor", now=clock())

    def attempt(password: str, code: str = "000000") -> asyncio.Task[httpx.Response]:
        return asyncio.create_task(web.post("/api/v1/session", json={
            "name": "race", "password": password, "totp": code}))

    first, second = attempt("guess-1"), attempt("guess-2")
    assert {await gate.reached.get(), await gate.reached.get()} == {"guess-1", "guess-2"}
    # two failures are in flight (the lockout's limit): a third attempt, even the right
    # password and code, is refused as locked without its password being checked
    third = attempt(issued.password, code_at(issued, clock()))
    reached = asyncio.create_task(gate.reached.get())
    done, _ = await asyncio.wait({third, reached}, return_when=asyncio.FIRST_COMPLETED)
    gate.open()
    assert third in done, "a third password was checked while two failures were in flight"
    reached.cancel()
    assert (await third).status_code == 401
    assert "locked" in (await third).json()["detail"]
    results = [await first, await second]
    assert [r.status_code for r in results] == [401, 401]
    assert any("locked" in r.json()["detail"] for r in results)
    clock.advance(600)  # the lock ends; the right password and a fresh code open a session
    clock.advance(30)
    assert (await attempt(issued.password, code_at(issued, clock()))).status_code == 200


async def test_one_code_sent_twice_at_once_opens_one_session(
        console: ConsoleContext, web: httpx.AsyncClient, served: str, clock: Clock,
        gate: Gate) -> None:
    issued = await Operators(console.records.pool, console.records.keys).add(
        "twice", "scheduler", now=clock())
    code = code_at(issued, clock())
    body = {"name": "twice", "password": issued.password, "totp": code}
    async with httpx.AsyncClient(base_url=served,
                                 verify=client_context(console.settings)) as other:
        a = asyncio.create_task(web.post("/api/v1/session", json=body))
        b = asyncio.create_task(other.post("/api/v1/session", json=body))
        await gate.reached.get()
        await gate.reached.get()  # both checks under way with the same code
        gate.open()
        codes = sorted([(await a).status_code, (await b).status_code])
    assert codes == [200, 401]
    assert len(console.sessions) == 1
