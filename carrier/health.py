"""Health of the running stack: a small registry of component checks, and its probe.

Each component registers a check (a callable returning :class:`ComponentHealth`):
the dialer loop (:class:`Liveness`: last good pass, consecutive failures), the records
writers (anything with ``health()``, see :class:`WriterReport`), the application's
speech workers, the SIP endpoint, the certificates served with and the data folder's free
space (:mod:`carrier.stack_watch`). :meth:`Health.report` asks them all; the stack is
healthy when every check is. Details name components, counts and error classes only,
never PHI.

``carrier serve`` opens the console port (:mod:`carrier.console`, ``console.bind_host``/
``console.port``): ``GET /health`` answers 200 with the report (:func:`render`) as JSON
when healthy, 503 naming the failed components otherwise; ``GET /metrics`` answers the
Prometheus exposition of :mod:`carrier.metrics`. ``carrier health`` reads the report (and sends
SIP OPTIONS) and exits non-zero naming what failed.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    ok: bool
    detail: str = ""  # counts and error classes: never PHI


Check = Callable[[], ComponentHealth | Sequence[ComponentHealth]]


@dataclass
class Health:
    """The registry: ``register(name, check)``, then ``report()``."""

    checks: dict[str, Check] = field(default_factory=dict)

    def register(self, name: str, check: Check) -> None:
        if name in self.checks:
            raise ValueError(f"health check {name!r} registered twice")
        self.checks[name] = check

    def report(self) -> list[ComponentHealth]:
        out: list[ComponentHealth] = []
        for name, check in self.checks.items():
            try:
                got = check()
            except Exception as exc:  # noqa: BLE001 - a broken check is itself a failure
                got = ComponentHealth(name, False, f"check raised {type(exc).__name__}")
            out.extend([got] if isinstance(got, ComponentHealth) else got)
        return out

    def failed(self) -> list[ComponentHealth]:
        return [c for c in self.report() if not c.ok]


@dataclass
class Liveness:
    """A loop's liveness: when it last succeeded, how many times it failed since.

    Unhealthy after ``max_failures`` failures in a row, or when no pass succeeded for
    ``stale_after`` seconds (a loop that hangs). ``clock`` is monotonic seconds.
    """

    name: str
    max_failures: int = 3
    stale_after: float = 600.0
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)
    last_success: float | None = None
    failures: int = 0
    last_error: str | None = None

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def success(self) -> None:
        self.last_success = self.clock()
        self.failures = 0
        self.last_error = None

    def failure(self, error: BaseException) -> None:
        self.failures += 1
        self.last_error = type(error).__name__

    def health(self) -> ComponentHealth:
        since = self.last_success if self.last_success is not None else self.started
        age = self.clock() - since
        if self.failures >= self.max_failures:
            return ComponentHealth(self.name, False, f"{self.failures} failed passes in a row"
                                   f" (last: {self.last_error})")
        if age > self.stale_after:
            return ComponentHealth(self.name, False, f"no successful pass for {age:.0f} s")
        last = "none yet" if self.last_success is None else f"{age:.0f} s ago"
        return ComponentHealth(self.name, True, f"last good pass {last}; "
                                                f"{self.failures} failures since")


class WriterReport(Protocol):
    """What a records writer reports (``carrier.records``' ``WriterHealth``)."""

    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...


class WritersReport(Protocol):
    """``carrier.records``' ``RecordsHealth``: every durable writer's state."""

    @property
    def writers(self) -> Sequence[WriterReport]: ...


@runtime_checkable
class HasWriters(Protocol):
    """The records facade, once it reports its writers' health (``Records.health()``)."""

    def health(self) -> WritersReport: ...


def writer_detail(w: WriterReport) -> str:
    """What an on-call engineer needs of a writer: what waits in its spool and since when
    (the database not taking writes), what was set aside or lost, the last error class."""
    parts = []
    spooled = getattr(w, "spooled", 0)
    if spooled:
        outage = " (database unreachable)" if getattr(w, "outage", False) else ""
        parts.append(f"{spooled} spooled for {getattr(w, 'spooled_for', 0.0):.0f} s{outage}")
    for what in ("quarantined", "unrecorded"):
        if getattr(w, what, 0):
            parts.append(f"{getattr(w, what)} {what}")
    if w.last_error:
        parts.append(f"last error {w.last_error}")
    return "; ".join(parts)


def writers_check(records: HasWriters) -> Check:
    def check() -> list[ComponentHealth]:
        return [ComponentHealth(f"records.{w.name}", w.ok, writer_detail(w))
                for w in records.health().writers]
    return check


# ---- the loopback probe --------------------------------------------------------------


def render(report: Sequence[ComponentHealth]) -> tuple[int, bytes]:
    """HTTP status and JSON body for a report."""
    failed = [c.name for c in report if not c.ok]
    body = json.dumps({"ok": not failed, "failed": failed,
                       "components": [asdict(c) for c in report]}).encode()
    return (503 if failed else 200), body


async def fetch_health(host: str, port: int, *, timeout: float = 3.0,  # noqa: ASYNC109
                       tls: ssl.SSLContext | None = None) -> tuple[int, dict[str, object]]:
    """(HTTP status, parsed report) from a running stack's probe (over TLS with ``tls``)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        try:
            writer.write(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")
