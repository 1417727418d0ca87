"""The asyncio edge of the media layer: UDP sockets and the shared 20 ms pacer.

Only this module (with ``media.session``) touches the event loop. One ``Pacer`` per loop
drives every session: sessions are spread over ``PHASES`` sub-slots of the 20 ms period
so that their packets do not all leave at the same instant, and each sub-slot is
scheduled at absolute deadlines ``start + n * period`` with ``loop.call_at`` so the
cadence never drifts.
"""

from __future__ import annotations

import asyncio
import gc
import random
import socket
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from media.batch import limit_blas_threads

Address = tuple[str, int]

PERIOD = 0.02
PHASES = 4
MAX_CATCH_UP = 5  # ticks replayed after a stall; beyond that they are skipped
# Upper bounds (seconds) of the lateness histogram: how long after its deadline a tick's
# last packet left (the last bucket is everything later).
LATENESS_BOUNDS = (0.002, 0.005, 0.01, 0.02, 0.04)
PORT_RANGE = (20000, 59998)
# Allocations between young collections (CPython's default is 700); see tune_gc
GC_YOUNG_THRESHOLD = 10_000
_BLAS_LIMITED = False  # once per process: BLAS threads limited, start-up heap frozen


class TickTarget:
    """What the pacer calls; ``media.session.MediaSession`` implements it."""

    def on_tick(self, now: float, late: bool) -> None:
        raise NotImplementedError

    @classmethod
    def tick_group(cls, targets: Sequence[TickTarget], now: float, late: bool) -> None:
        """Tick several targets of this class at once (a subclass may batch the work)."""
        for target in targets:
            target.on_tick(now, late)

    def on_skipped(self, count: int) -> None:
        raise NotImplementedError

    def on_failed(self, exc: BaseException) -> None:
        raise NotImplementedError


def tune_gc() -> tuple[int, int, int]:
    """Fewer full collections while calls run (returns the thresholds now in force).

    Every call keeps short-lived objects alive across a tick (wake-up futures, address
    tuples, resumed coroutines). At each middle-generation collection the ones alive at
    that instant move to the oldest generation, and once enough have moved CPython runs a
    full collection: 10-14 ms of CPU at 250 echo calls, measured once every ~20 s, during
    which every session's tick waits. Young collections ``GC_YOUNG_THRESHOLD`` allocations
    apart instead of 700 make middle ones (and so full ones) that many times rarer; each
    young collection stays well under a millisecond. A threshold already higher, or a
    collector switched off (0), is kept.
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    return gc.get_threshold()


class Pacer:
    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float = PERIOD) -> None:
        global _BLAS_LIMITED  # noqa: PLW0603 - once per process
        if not _BLAS_LIMITED:
            # the batched per-tick products are small: OpenBLAS threads only add contention
            limit_blas_threads(1)
            # Everything alive when media starts (modules, settings, the SIP stack) moves
            # to the permanent generation: a full collection during calls then scans only
            # what calls created, not the whole heap (one took 15-20 ms at 300 calls and
            # made every session's tick late).
            gc.freeze()
            tune_gc()
            _BLAS_LIMITED = True
        self._loop = loop
        self._period = period
        self._groups: list[list[TickTarget]] = [[] for _ in range(PHASES)]
        self._handles: list[asyncio.TimerHandle | None] = [None] * PHASES
        self._start = 0.0
        self._next: list[int] = [0] * PHASES  # next tick index per phase
        # each phase's targets by class (tick_group batches per class), kept with the group
        self._kinds: list[list[tuple[type[TickTarget], list[TickTarget]]]] = [
            [] for _ in range(PHASES)
        ]
        self.lateness = [0] * (len(LATENESS_BOUNDS) + 1)  # session-ticks per bucket
        self.max_lateness = 0.0

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> Pacer:
        loop = loop or asyncio.get_running_loop()
        pacer = cls._by_loop.get(loop)
        if pacer is None:
            pacer = cls._by_loop[loop] = cls(loop)
        return pacer

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Pacer | None:
        """The loop's pacer while it has sessions (for statistics), without making one."""
        return cls._by_loop.get(loop)

    @property
    def sessions(self) -> int:
        return sum(len(g) for g in self._groups)

    def add(self, target: TickTarget) -> None:
        if self.sessions == 0:
            self._start = self._loop.time()
            self._next = [0] * PHASES
        phase = min(range(PHASES), key=lambda p: len(self._groups[p]))
        self._groups[phase].append(target)
        self._partition(phase)
        if self._handles[phase] is None:
            now = self._loop.time()
            offset = phase * self._period / PHASES
            n = max(0, int((now - self._start - offset) // self._period) + 1)
            self._next[phase] = n
            self._arm(phase)

    def remove(self, target: TickTarget) -> None:
        for phase, group in enumerate(self._groups):
            if target in group:
                group.remove(target)
                self._partition(phase)
                if not group and self._handles[phase] is not None:
                    handle = self._handles[phase]
                    assert handle is not None
                    handle.cancel()
                    self._handles[phase] = None
        if self.sessions == 0 and Pacer._by_loop.get(self._loop) is self:
            # the value holds the loop strongly, so the weak key alone would never let go
            del Pacer._by_loop[self._loop]

    def _partition(self, phase: int) -> None:
        by_class: dict[type[TickTarget], list[TickTarget]] = {}
        for target in self._groups[phase]:
            by_class.setdefault(type(target), []).append(target)
        self._kinds[phase] = list(by_class.items())

    def _deadline(self, phase: int, n: int) -> float:
        return self._start + phase * self._period / PHASES + n * self._period

    def _arm(self, phase: int) -> None:
        when = self._deadline(phase, self._next[phase])
        self._handles[phase] = self._loop.call_at(when, self._fire, phase)

    def _fire(self, phase: int) -> None:
        now = self._loop.time()
        n = self._next[phase]
        # call_at may run a callback up to one clock resolution early: never negative
        # (the epsilon keeps float error from hiding a whole period)
        behind = max(0, int((now - self._deadline(phase, n) + 1e-9) // self._period))
        group = self._groups[phase]
        if behind >= MAX_CATCH_UP:
            for target in list(group):
                target.on_skipped(behind)
            n += behind
            behind = 0
        for i in range(behind + 1):
            deadline = self._deadline(phase, n + i)
            late = now - deadline > self._period / 2
            for kind, members in self._kinds[phase]:  # a copy: a fault may edit the group
                self._tick_members(kind, members, now, late)
            self._account(self._loop.time() - deadline, len(group))
        self._next[phase] = n + behind + 1
        if group:
            self._arm(phase)
        else:
            self._handles[phase] = None

    def _account(self, lateness: float, count: int) -> None:
        """``count`` session-ticks whose packets were all out ``lateness`` s after their
        deadline (measured after the work, so it includes the tick's own CPU time)."""
        bucket = 0
        for bound in LATENESS_BOUNDS:
            if lateness <= bound:
                break
            bucket += 1
        self.lateness[bucket] += count
        self.max_lateness = max(self.max_lateness, lateness)

    def _tick_members(
        self, kind: type[TickTarget], members: list[TickTarget], now: float, late: bool
    ) -> None:
        try:
            kind.tick_group(members, now, late)
        except Exception:  # noqa: BLE001 - find the faulty session one by one, below
            # Rare fault path: members ticked before the fault may send a second packet
            # this tick; the peer's jitter buffer absorbs it.
            for target in members:
                self._tick_one(target, now, late)

    def _tick_one(self, target: TickTarget, now: float, late: bool) -> None:
        try:
            target.on_tick(now, late)
        except Exception as exc:  # noqa: BLE001 - one call's fault must not stop every call
            self.remove(target)
            target.on_failed(exc)
            self._loop.call_exception_handler(
                {"message": "media session tick failed; session stopped", "exception": exc}
            )


RECV_SIZE = 2048  # larger than any RTP/RTCP datagram we accept (Ethernet MTU)


class UdpPort:
    """One non-blocking UDP socket read straight from the loop's selector.

    Not an asyncio ``DatagramTransport``: that path adds a protocol call and a transport's
    bookkeeping to every datagram (here 3.1 against 3.3 us of CPU per packet sent and
    received, 300 sockets on loopback). One datagram is read per readiness, as asyncio
    does: an RTP socket rarely holds two, and draining until ``EAGAIN`` costs an exception
    per readiness (4.2 us); the selector reports the socket again while more are queued.
    A send the kernel refuses (buffer full, an ICMP error queued) is counted and dropped:
    an RTP packet sent late is worth less than none, so nothing is buffered.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_datagram: Callable[[bytes, Address], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._on_datagram = on_datagram
        self._closed = False
        self.send_dropped = 0
        loop.add_reader(self._fd, self._read)

    def _read(self) -> None:
        try:
            data, addr = self._sock.recvfrom(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # ICMP port unreachable while the peer is not yet listening: RTP goes on
        self._on_datagram(data, (str(addr[0]), int(addr[1])))

    def sendto(self, data: bytes, addr: Address) -> None:
        if self._closed:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError:  # EAGAIN (buffer full) or a queued ICMP error: this packet is lost
            self.send_dropped += 1

    def get_extra_info(self, name: str) -> Any:  # as asyncio's transports
        return self._sock.getsockname() if name == "sockname" else None

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._fd)
            self._sock.close()


async def open_endpoint(
    host: str, port: int, on_datagram: Callable[[bytes, Address], None]
) -> UdpPort:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return UdpPort(loop, sock, on_datagram)


async def open_pair(
    host: str,
    port: int,
    on_rtp: Callable[[bytes, Address], None],
    on_rtcp: Callable[[bytes, Address], None],
    *,
    attempts: int = 50,
    port_range: tuple[int, int] = PORT_RANGE,
) -> tuple[UdpPort, UdpPort]:
    """Bind RTP on an even port and RTCP on the next one (RFC 3550 section 11).

    ``port`` 0 picks a free even port in ``port_range`` (inclusive start, exclusive end).
    """
    if port and port % 2:
        raise ValueError("the RTP port must be even (RTCP uses the next one)")
    rng = random.Random()  # noqa: S311 - port choice, not security
    low, high = port_range
    if port == 0 and (low % 2 or high - low < 2):
        raise ValueError("the RTP port range must start even and hold at least one pair")
    candidates = [port] if port else [rng.randrange(low, high - 1, 2) for _ in range(attempts)]
    last_error: OSError | None = None
    for candidate in candidates:
        try:
            rtp = await open_endpoint(host, candidate, on_rtp)
        except OSError as exc:
            last_error = exc
            continue
        try:
            rtcp = await open_endpoint(host, candidate + 1, on_rtcp)
        except OSError as exc:
            rtp.close()
            last_error = exc
            continue
        return rtp, rtcp
    raise OSError(f"no free RTP/RTCP port pair on {host}") from last_error


async def open_single(
    host: str,
    port: int,
    on_rtp: Callable[[bytes, Address], None],
    *,
    attempts: int = 50,
    port_range: tuple[int, int] = PORT_RANGE,
) -> UdpPort:
    """One socket (no RTCP, or RTCP multiplexed on it); ``port`` 0 picks from the range."""
    if port:
        return await open_endpoint(host, port, on_rtp)
    rng = random.Random()  # noqa: S311 - port choice, not security
    last_error: OSError | None = None
    for _ in range(attempts):
        try:
            transport = await open_endpoint(host, rng.randrange(*port_range), on_rtp)
        except OSError as exc:
            last_error = exc
            continue
        return transport
    raise OSError(f"no free RTP port on {host}") from last_error
