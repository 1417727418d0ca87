"""Media capacity of the gateway with SIPp as the caller: concurrent G.711 calls and set-up rate.

    .venv/bin/python bench/media_capacity.py [--calls 50,100,200,300,400,500]
        [--hold 20] [--cps 25,50,100,150,200,300] [--cps-seconds 5] [--workers 1]
        [--pin] [--receiver] [--gateway-nice -10] [--caller light|sipp]

The gateway (``carrier.gateway.Gateway``: our SIP stack and ``MediaSession``) runs in its
own process, started by this script, so its CPU time is counted apart from SIPp's. Its
call handler **echoes**: every inbound 20 ms frame is played back, so each call runs the
whole path both ways (RTP parse, jitter buffer, G.711 decode, 8->16 kHz, 16->8 kHz,
encode, paced send, RTCP).

1. Concurrent calls: for each N, SIPp (``bench/sipp/capacity_signal.xml``) sets up N
   calls and holds them; once all are up, ``bench/media_caller.py`` (``--caller light``,
   the default) sends a 20 ms PCMU stream into each, every call from one process (the
   gateways latch their RTP to it). ``--caller sipp`` has SIPp play a 20 ms PCMU pcap into
   each call instead (``capacity_media.xml``): a thread per call, so at 500 calls the load
   generator alone takes a large share of a 2-core machine (measured: 8.7% of a core per
   100 calls against 3.8% for the light caller). Once all N are up, the gateway's
   counters are read at the start and the end of a ``--hold`` second window: late or
   skipped send ticks (the pacer), inbound loss and concealed frames (its receivers), and
   its process CPU time. A step passes with under 0.1% late+lost+concealed frames, no
   failed SIPp call and every gateway process under 95% of one core.
2. Set-up rate: SIPp (``bench/sipp/capacity_cps.xml``) places 1 s calls at each ``-r``
   rate for ``--cps-seconds``; the answer is the highest rate with no failed call that
   SIPp actually reached.

Lateness is shown three ways: ``late %`` (send ticks that *started* over 10 ms after
their deadline, the verdict's figure), ``out>10 %`` (the pacer's histogram: the tick's
packets were all out only over 10 ms after the deadline) and, with ``--receiver`` (root),
at the far end (kernel arrival times where the callers listen, the light caller's port
or SIPp's media port, against fixed 10/20/40/60 ms jitter buffers,
``bench/media_receiver.py``). ``--pin`` gives one gateway a core of its
own (SIPp on the other); use it on a quiet machine only.

``--workers N`` (N > 1) starts N gateway processes and Debian's Kamailio in front of them
with the shipped ``deploy/kamailio/kamailio.cfg`` (``bench/_kamailio.py``): the whole
machine's capacity, with every process's CPU counted (gateways, Kamailio, SIPp and the
RTP caller). The load generators run on the same machine unpinned and share its cores.

Everything is on 127.0.0.1; every SIPp run has a global ``-timeout`` and every wait is
bounded, so the script stops by itself (about 5-8 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load, machine_busy, process_cpu
from bench._kamailio import Kamailio, pick_ports

REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = REPO / "bench" / "sipp"
COUNTERS = (
    "late_ticks",
    "skipped_ticks",
    "concealed_frames",
    "packets_received",
    "packets_lost",
    "packets_sent",
    "late_packets",
)
RX_BUDGETS = ("10", "20", "40", "60")  # bench/media_receiver.BUDGETS_MS
SETUP_RATE = 50  # calls per second while a concurrency step ramps up
SETUP_LIMIT_MS = 500  # a rate is held only if no second's mean INVITE->200 exceeds this


# --- the gateway process -------------------------------------------------------------------


async def serve_gateway(port: int = 0) -> None:
    """Run a Gateway whose handler echoes; answer ``snap``/``quit`` lines on stdin."""
    import logging  # noqa: PLC0415

    from carrier.gateway import Gateway  # noqa: PLC0415
    from carrier.settings import Settings, SipSettings, TrunkSettings  # noqa: PLC0415
    from carrier.sip.endpoint import EndpointConfig  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING)
    gc_pause = GcPauses()
    active: dict[int, Any] = {}
    finished = dict.fromkeys(COUNTERS, 0)
    calls_done = 0

    async def echo(call: Any, _ctx: dict[str, Any]) -> None:
        nonlocal calls_done
        media = call.media
        active[id(media)] = media

        async def frames():  # type: ignore[no-untyped-def]
            async for frame in media.inbound():
                yield frame

        play = asyncio.create_task(media.play(frames()))
        ended = asyncio.create_task(call.ended.wait())
        try:
            await asyncio.wait({play, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (play, ended):
                task.cancel()
            await asyncio.gather(play, ended, return_exceptions=True)
            stats = media.stats()
            for key in COUNTERS:
                finished[key] += getattr(stats, key)
            active.pop(id(media), None)
            calls_done += 1

    sip = SipSettings(
        bind_host="127.0.0.1",
        udp_port=0,
        tcp_port=0,
        max_concurrent_calls=100_000,
        max_calls_per_second=100_000.0,
    )
    trunk = TrunkSettings(
        name="sipp",
        host="127.0.0.1",
        region="local",
        acl=("127.0.0.0/8",),
        max_concurrent_calls=100_000,  # the bench finds the limits; the policy must not
        calls_per_second=100_000.0,
    )
    config = EndpointConfig(udp=("127.0.0.1", port), tcp=None, tls=None)
    gw = Gateway(Settings(sip=sip, trunks=(trunk,)), handler=echo, endpoint_config=config)
    await gw.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"port": gw.endpoint.port("UDP")}), flush=True)
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            if line == "ports":  # where each active call takes its RTP (--caller light)
                ports = [m.local_addr[1] for m in list(active.values())]
                print(json.dumps({"ports": ports}), flush=True)
                continue
            totals = dict(finished)
            for media in list(active.values()):
                stats = media.stats()
                for key in COUNTERS:
                    totals[key] += getattr(stats, key)
            print(
                json.dumps(
                    {
                        "active": len(active),
                        "done": calls_done,
                        "inbound": gw.stats.inbound,
                        "cpu": time.process_time(),
                        "wait": runqueue_wait(),
                        **gc_pause.take(),
                        **pacer_lateness(loop),
                        "t": time.monotonic(),
                        **totals,
                    }
                ),
                flush=True,
            )
    finally:
        await gw.close()


class GcPauses:
    """The longest garbage collection of each generation since the last ``take`` (CPU ms:
    a collection holds the loop, so a long one makes every session's tick late)."""

    def __init__(self) -> None:
        import gc  # noqa: PLC0415

        self._started = 0.0
        self._max = [0.0, 0.0, 0.0]
        self._count = [0, 0, 0]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        gen = info["generation"]
        self._count[gen] += 1
        self._max[gen] = max(self._max[gen], (time.process_time() - self._started) * 1000)

    def take(self) -> dict[str, Any]:
        out = {"gc_max_ms": list(self._max), "gc_count": list(self._count)}
        self._max = [0.0, 0.0, 0.0]
        return out


def pacer_lateness(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Session-ticks by how late their packets left (``media.transport.LATENESS_BOUNDS``)."""
    from media.transport import LATENESS_BOUNDS, Pacer  # noqa: PLC0415

    pacer = Pacer.of(loop)
    if pacer is None:
        return {"lateness": [0] * (len(LATENESS_BOUNDS) + 1), "max_lateness": 0.0}
    out = {"lateness": list(pacer.lateness), "max_lateness": pacer.max_lateness}
    pacer.max_lateness = 0.0  # the next snap reports the worst since this one
    return out


def runqueue_wait() -> float:
    """Seconds this process's loop thread was ready to run but waited for a CPU."""
    try:
        with open("/proc/self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on the 127.0.0.1 UDP socket bound to ``port``."""
    with open("/proc/net/udp", encoding="ascii") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[-1])
    return 0


def read_json_line(proc: subprocess.Popen[str], who: str) -> dict[str, Any]:
    """One JSON line from a bench child's stdout (its answer to a command)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{who} exited ({proc.poll()})")
    return dict(json.loads(line))


class GatewayProcess:
    """The gateway child: one JSON line per ``snap``."""

    def __init__(self, nice: int = 0, port: int = 0, cpu: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                "--gateway-nice",
                str(nice),
                "--serve-port",
                str(port),
                *(["--serve-cpu", str(cpu)] if cpu is not None else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.port = int(self._line()["port"])

    def _line(self) -> dict[str, Any]:
        return read_json_line(self.proc, "gateway process")

    def snap(self) -> dict[str, Any]:
        return self.ask("snap")

    def ask(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class GatewayPool:
    """``workers`` gateway processes; with more than one, Kamailio in front dispatches.

    ``snap`` sums the processes' counters (``cpu``: their CPU seconds together; ``cores``:
    each one's); ``port`` is where SIPp sends (the one gateway, or Kamailio)."""

    def __init__(self, workers: int, nice: int, workdir: Path, pin: bool = False) -> None:
        self.kamailio: Kamailio | None = None
        cpus = sorted(os.sched_getaffinity(0))
        # --pin: gateway i on CPU i; with one gateway, SIPp on the other CPUs (the gateway
        # has a core of its own), with several, SIPp and Kamailio go where they fit
        self.sipp_cpus: list[int] | None = None
        placed: list[int | None] = [None] * workers
        if pin:
            placed = [cpus[i % len(cpus)] for i in range(workers)]
            if workers == 1 and len(cpus) > 1:
                self.sipp_cpus = cpus[1:]
        if workers == 1:
            self.gateways = [GatewayProcess(nice, 0, placed[0])]
            self.port = self.gateways[0].port
            return
        ports = pick_ports(workers + 1)
        self.gateways = [
            GatewayProcess(nice, port, cpu) for port, cpu in zip(ports[1:], placed, strict=True)
        ]
        self.kamailio = Kamailio(workdir, ports[0], ports[1:])
        self.port = ports[0]

    def snap(self) -> dict[str, Any]:
        snaps = [g.snap() for g in self.gateways]
        total: dict[str, Any] = {
            k: sum(s[k] for s in snaps) for k in snaps[0] if not isinstance(snaps[0][k], list)
        }
        for k in ("lateness", "gc_count"):  # histograms: summed bucket by bucket
            total[k] = [sum(col) for col in zip(*(s[k] for s in snaps), strict=True)]
        total["gc_max_ms"] = [
            max(col) for col in zip(*(s["gc_max_ms"] for s in snaps), strict=True)
        ]
        total["max_lateness"] = max(s["max_lateness"] for s in snaps)
        total["t"] = sum(s["t"] for s in snaps) / len(snaps)
        total["cpus"] = [s["cpu"] for s in snaps]
        total["kamailio"] = self.kamailio.cpu() if self.kamailio else 0.0
        return total

    def ports(self) -> list[int]:
        """The RTP port of every active call, all gateway processes together."""
        return [p for g in self.gateways for p in g.ask("ports")["ports"]]

    def close(self) -> None:
        if self.kamailio is not None:
            self.kamailio.close()
        for g in self.gateways:
            g.close()


# --- SIPp ----------------------------------------------------------------------------------


def write_pcap(path: Path, seconds: float, port: int) -> None:
    """A pcap of 20 ms PCMU RTP packets (a 440 Hz tone) that SIPp replays per call."""
    from media.g711 import G711Codec  # noqa: PLC0415

    codec = G711Codec(0)
    t = np.arange(160) / 8000
    payloads = [
        codec.encode(np.round(6000 * np.sin(2 * np.pi * 440 * (t + i * 0.02))).astype(np.int16))
        for i in range(50)
    ]
    ip_src = ip_dst = socket.inet_aton("127.0.0.1")
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n in range(int(seconds / 0.02)):
        rtp = (
            struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, 0x5EED)
            + payloads[n % 50]
        )
        udp = struct.pack("!HHHH", port, port, 8 + len(rtp), 0) + rtp
        ip = (
            struct.pack(
                "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0, ip_src, ip_dst
            )
            + udp
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        stamp = n * 20_000
        out.append(
            struct.pack("<IIII", stamp // 1_000_000, stamp % 1_000_000, len(frame), len(frame))
            + frame
        )
    path.write_bytes(b"".join(out))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sipp(
    gateway_port: int,
    scenario: str,
    workdir: Path,
    *,
    calls: int,
    rate: float,
    hold_ms: int,
    timeout_s: float,
    cpus: list[int] | None = None,
    media_port: int | None = None,
) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    args = [
        *pin,
        "sipp",
        f"127.0.0.1:{gateway_port}",
        "-sf",
        str(SIPP_DIR / scenario),
        "-s",
        "clinic",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(media_port or free_port() & ~1),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-d",
        str(hold_ms),
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-max_socket",
        "4096",
        "-trace_stat",
        "-stf",
        str(workdir / "stat.csv"),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
    ]
    with (workdir / "stderr.txt").open("w") as err:  # a file: a full pipe would stall SIPp
        return subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=err)


def sipp_counts(workdir: Path) -> dict[str, float]:
    """Calls that succeeded and failed, retransmissions, and the worst one-second average
    INVITE->200 time (``ResponseTime1(P)``), from SIPp's statistics file."""
    path = workdir / "stat.csv"
    if not path.exists():
        return {"ok": 0, "failed": 0, "retrans": 0, "setup_ms": float("nan")}
    lines = [x for x in path.read_text().splitlines() if x.strip()]
    head = lines[0].split(";")
    rows = [dict(zip(head, x.split(";"), strict=False)) for x in lines[1:]]

    def ms(text: str) -> float:
        h, m, sec, us = (int(v) for v in text.split(":")[:4])
        return (h * 3600 + m * 60 + sec) * 1000 + us / 1000

    last = rows[-1] if rows else {}
    return {
        "ok": int(last.get("SuccessfulCall(C)", 0)),
        "failed": int(last.get("FailedCall(C)", 0)),
        "retrans": int(last.get("Retransmissions(C)", 0)),
        "setup_ms": max((ms(r.get("ResponseTime1(P)", "0:0:0:0")) for r in rows), default=0.0),
    }


def wait_sipp(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return -9


# --- the two measurements ------------------------------------------------------------------


class Receiver:
    """``bench/media_receiver.py`` on SIPp's media port: late and lost at the far end."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "media_receiver.py"), "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._line()  # ready: its filter is attached

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"receiver exited ({self.proc.poll()})")
        return dict(json.loads(line))

    def snap(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("snap\n")
        self.proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class CallerProcess:
    """``bench/media_caller.py``: the RTP of every call from one light process."""

    def __init__(self, slots: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "media_caller.py"), "--slots", str(slots)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.port = int(self._line()["port"])

    def _line(self) -> dict[str, Any]:
        return read_json_line(self.proc, "caller")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def snap(self) -> dict[str, Any]:
        self.send("snap")
        return self._line()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.send("quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def concurrency_step(
    gw: GatewayPool,
    calls: int,
    hold: float,
    receiver: bool = False,
    caller: str = "light",
    slots: int = 20,
) -> dict[str, Any]:
    ramp = calls / SETUP_RATE
    settle = 2.0
    hold_ms = int((ramp + settle + hold + 3.0) * 1000)  # every call spans the window
    media_port = free_port() & ~1
    light = CallerProcess(slots) if caller == "light" else None
    # the far end: where the gateways' RTP goes once latched (the light caller's socket)
    rx = Receiver(light.port if light else media_port) if receiver else None
    try:
        return _concurrency_step(gw, calls, hold, ramp, settle, hold_ms, media_port, rx, light)
    finally:
        for child in (rx, light):
            if child is not None:
                child.close()


def _concurrency_step(
    gw: GatewayPool,
    calls: int,
    hold: float,
    ramp: float,
    settle: float,
    hold_ms: int,
    media_port: int,
    rx: Receiver | None,
    light: CallerProcess | None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        workdir = Path(tmp)
        if light is None:
            write_pcap(workdir / "capacity.pcap", hold_ms / 1000 + 2, 6000)
        base = gw.snap()
        proc = sipp(
            gw.port,
            "capacity_signal.xml" if light else "capacity_media.xml",
            workdir,
            calls=calls,
            rate=SETUP_RATE,
            hold_ms=hold_ms,
            timeout_s=hold_ms / 1000 + ramp + 60,
            cpus=gw.sipp_cpus,
            media_port=media_port,
        )
        deadline = time.monotonic() + ramp + 30
        snap = gw.snap()
        while snap["active"] < calls and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.25)
            snap = gw.snap()
        up = snap["active"]
        if light is not None:
            light.send(json.dumps({"add": gw.ports()}))
        time.sleep(settle)
        before = gw.snap()
        heard0 = rx.snap() if rx is not None else None  # starts the receiver's window
        sent0 = light.snap() if light is not None else {"cpu": 0.0, "sent": 0}
        sipp_cpu0, busy0 = process_cpu(proc.pid), machine_busy()
        time.sleep(hold)
        after = gw.snap()
        heard = rx.snap() if rx is not None else None
        sent1 = light.snap() if light is not None else {"cpu": 0.0, "sent": 0, "late_max": 0}
        sipp_cpu1, busy1 = process_cpu(proc.pid), machine_busy()
        uptime_load = load()
        if light is not None:
            light.send("clear")  # before the BYEs: nothing sent to closed ports
        code = wait_sipp(proc, hold_ms / 1000 + ramp + 60)
        counts = sipp_counts(workdir)
        errors = (workdir / "stderr.txt").read_text(errors="replace")
    d = {k: after[k] - before[k] for k in (*COUNTERS, "cpu", "wait", "t", "kamailio")}
    ticks = max(1, d["packets_sent"] + d["skipped_ticks"])
    inbound = max(1, d["packets_received"] + d["packets_lost"])
    late = (d["late_ticks"] + d["skipped_ticks"]) / ticks
    lost = d["packets_lost"] / inbound
    concealed = d["concealed_frames"] / max(1, after["active"] * d["t"] / 0.02)
    core = d["cpu"] / d["t"]
    # the busiest gateway process: each one is one asyncio loop, at most one core
    core_max = max(a - b for a, b in zip(after["cpus"], before["cpus"], strict=True)) / d["t"]
    sipp_core = (sipp_cpu1 - sipp_cpu0) / d["t"]
    caller_core = (sent1["cpu"] - sent0["cpu"]) / d["t"]
    failed = int(counts["failed"]) + (calls - int(counts["ok"]) if code != 0 else 0)
    ok = up == calls and failed == 0 and late + lost + concealed < 0.001 and core_max < 0.95
    hist = [a - b for a, b in zip(after["lateness"], before["lateness"], strict=True)]
    out_late = sum(hist[3:]) / max(1, sum(hist))  # packets out more than 10 ms late
    far: dict[str, float] = {}
    if heard is not None and heard0 is not None:
        got = max(1, heard["received"] + heard["lost"])
        far = {f"rx_late{k}": n / got for k, n in heard["late"].items()}
        far["rx_lost"] = heard["lost"] / got
        far["rx_streams"] = heard["streams"]
        far["rx_core"] = (heard["cpu"] - heard0["cpu"]) / d["t"]
    return {
        **far,
        "calls": calls,
        "up": up,
        "held": min(before["active"], after["active"]),
        "core": core,
        "core_max": core_max,
        "kamailio": d["kamailio"] / d["t"],
        "all": core + d["kamailio"] / d["t"] + sipp_core + caller_core,
        "us_per_call": d["cpu"] / max(1, (before["active"] + after["active"]) / 2) / d["t"] * 1e6,
        "late": late,
        "out_late": out_late,
        "out_max_ms": after["max_lateness"] * 1000,
        "gc_max_ms": max(after["gc_max_ms"]),
        "gc_by_gen": [  # collections of generations 0/1/2 in the window, the longest (ms)
            (n1 - n0, round(ms, 1))
            for n0, n1, ms in zip(
                before["gc_count"], after["gc_count"], after["gc_max_ms"], strict=True
            )
        ],
        "lost": lost,
        "concealed": concealed,
        "rx_pps": d["packets_received"] / d["t"],
        "wait": d["wait"] / d["t"],
        "sipp_core": sipp_core,
        "caller_core": caller_core,
        "caller_late_ms": sent1.get("late_max", 0.0) * 1000,
        "machine": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        "failed": failed,
        "sipp_exit": code,
        "ok": ok,
        "load": uptime_load,
        "errors": [
            x
            for x in errors.strip().splitlines()
            if not x.startswith(("base port", "Resolving", "max pkt")) and "pcap" not in x
        ][-3:],
        "inbound_total": after["inbound"] - base["inbound"],
    }


def rate_step(gw: GatewayPool, rate: float, seconds: float) -> dict[str, Any]:
    calls = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="capacity-cps-") as tmp:
        workdir = Path(tmp)
        before = gw.snap()
        drops0 = udp_drops(gw.port)
        started = time.monotonic()
        proc = sipp(
            gw.port,
            "capacity_cps.xml",
            workdir,
            calls=calls,
            rate=rate,
            hold_ms=1000,
            timeout_s=seconds * 3 + 30,
            cpus=gw.sipp_cpus,
        )
        code = wait_sipp(proc, seconds * 3 + 40)
        wall = time.monotonic() - started
        uptime_load = load()
        counts = sipp_counts(workdir)
        # the gateway has ended every call (BYE answered) once SIPp is done
        deadline = time.monotonic() + 10
        after = gw.snap()
        while after["active"] and time.monotonic() < deadline:
            time.sleep(0.2)
            after = gw.snap()
    placing = max(1e-3, wall - 1.0)  # minus the last call's hold
    failed = int(counts["failed"]) + max(0, calls - int(counts["ok"]))
    return {
        "rate": rate,
        "calls": calls,
        "ok_calls": int(counts["ok"]),
        "failed": failed,
        "achieved": counts["ok"] / placing,
        "setup_ms": counts["setup_ms"],
        "retrans": counts["retrans"],
        "sip_drops": udp_drops(gw.port) - drops0,
        "sipp_exit": code,
        "load": uptime_load,
        "core": (after["cpu"] - before["cpu"]) / max(1e-3, after["t"] - before["t"]),
        "wait": (after["wait"] - before["wait"]) / max(1e-3, after["t"] - before["t"]),
        "answered": after["inbound"] - before["inbound"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        default="50,100,200,300,400,500",
        help="concurrent call steps (stops after two failing steps)",
    )
    parser.add_argument("--hold", type=float, default=20.0, help="seconds measured per step")
    parser.add_argument("--cps", default="25,50,100,150,200,300", help="set-up rates to try")
    parser.add_argument("--cps-seconds", type=float, default=5.0)
    parser.add_argument(
        "--gateway-nice",
        type=int,
        default=0,
        help="niceness of the gateway process (negative needs root): on a shared machine, "
        "-10 approximates a core of its own - unless the kernel groups processes by session "
        "(/proc/sys/kernel/sched_autogroup_enabled = 1, as here): niceness then only orders "
        "this bench's own processes, and other sessions' load still takes its share",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes; above 1, Kamailio (deploy/kamailio) dispatches to them",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin gateway i to CPU i; with one gateway, SIPp to the other CPUs (the "
        "gateway's capacity on a core of its own)",
    )
    parser.add_argument(
        "--receiver",
        action="store_true",
        help="also measure at the far end (bench/media_receiver.py: a packet socket on lo "
        "with kernel timestamps; needs root): RTP late beyond 10/20/40/60 ms buffers, lost",
    )
    parser.add_argument(
        "--caller",
        choices=("light", "sipp"),
        default="light",
        help="who sends the callers' RTP: light = bench/media_caller.py, one process for "
        "every call (SIPp only signals); sipp = SIPp plays a pcap into each call (a thread "
        "per call: at 500 calls the load generator takes much of a 2-core machine)",
    )
    parser.add_argument(
        "--caller-slots",
        type=int,
        default=20,
        help="with --caller light: the 20 ms period's sub-slots the streams are spread over "
        "(20: arrivals grouped by the millisecond)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-cpu", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.gateway_nice:
            os.nice(args.gateway_nice)
        if args.serve_cpu is not None:
            os.sched_setaffinity(0, {args.serve_cpu})
        asyncio.run(serve_gateway(args.serve_port))
        return 0
    if shutil.which("sipp") is None:
        print("sipp not installed (apt-get install sip-tester)")
        return 2
    print(f"hardware: {hardware()}")
    print(f"machine at start: {load()} (shared with other work)")
    print(
        f"gateways: {args.workers} process(es), each one asyncio loop (one core at most); "
        "the handler echoes audio"
        + (
            "; Kamailio dispatches calls round robin (deploy/kamailio/kamailio.cfg), RTP "
            "goes to the gateways directly"
            if args.workers > 1
            else ""
        )
    )
    print(
        "load generator: SIPp on the same machine, not pinned, sharing its cores, "
        + (
            "signals only; the RTP into every call comes from one bench/media_caller.py "
            "process (--caller light)"
            if args.caller == "light"
            else "signals and plays a pcap into each call (--caller sipp)"
        )
        + "; its CPU, the RTP caller's and Kamailio's are counted in all %"
    )
    best = 0
    best_row: dict[str, Any] | None = None
    misses = 0
    workdir = Path(tempfile.mkdtemp(prefix="capacity-pool-"))
    gw = GatewayPool(args.workers, args.gateway_nice, workdir, args.pin)
    print(f"gateway niceness: {args.gateway_nice}")
    if args.pin:
        print(
            "pinned: gateway i on CPU i"
            + (f"; SIPp on CPU {gw.sipp_cpus}" if gw.sipp_cpus else "; SIPp unpinned")
        )
    print(
        "columns: core % = CPU of the gateway processes together / wall (max: the busiest "
        "one); kam % = Kamailio's CPU; all % = gateways + Kamailio + SIPp + RTP caller; "
        "wait % = time "
        "the loops were runnable but waiting for a CPU (others' load); late % = send ticks "
        "that started over 10 ms after their deadline (or were skipped); out>10 % = "
        "session-ticks whose packets were all out only over 10 ms after their deadline "
        "(measured after the tick's work); max ms = the worst of those; gc ms = longest "
        "garbage collection (CPU); sipp % = SIPp's "
        "CPU; box % = all CPUs busy; setup ms = worst 1 s mean INVITE->200 at SIPp; "
        "drops = SIP datagrams the kernel dropped at the port SIPp sends to"
    )
    try:
        print(
            f"\n1. concurrent G.711 (PCMU) calls, "
            f"{'the RTP caller' if args.caller == 'light' else 'SIPp'} sends 20 ms RTP into each; "
            f"{args.hold:.0f} s window once all are up"
        )
        print(
            f"{'calls':>6} {'up':>5} {'core %':>7} {'max %':>6} {'kam %':>5} {'all %':>6} "
            f"{'us/call/s':>10} {'late %':>7} {'out>10 %':>8} {'max ms':>6} {'gc ms':>5} "
            f"{'lost %':>7} {'conceal %':>9} {'rx pkt/s':>9} {'failed':>6} {'wait %':>6} "
            f"{'sipp %':>6} {'box %':>5}  verdict  load"
        )
        for calls in [int(c) for c in args.calls.split(",") if c]:
            r = concurrency_step(
                gw, calls, args.hold, args.receiver, args.caller, args.caller_slots
            )
            print(
                f"{r['calls']:>6} {r['up']:>5} {r['core'] * 100:>7.1f} "
                f"{r['core_max'] * 100:>6.1f} {r['kamailio'] * 100:>5.1f} {r['all'] * 100:>6.1f} "
                f"{r['us_per_call']:>10.0f} {r['late'] * 100:>7.3f} {r['out_late'] * 100:>8.3f} "
                f"{r['out_max_ms']:>6.1f} {r['gc_max_ms']:>5.1f} {r['lost'] * 100:>7.3f} "
                f"{r['concealed'] * 100:>9.3f} {r['rx_pps']:>9.0f} {r['failed']:>6} "
                f"{r['wait'] * 100:>6.1f} {r['sipp_core'] * 100:>6.1f} {r['machine'] * 100:>5.0f}  "
                f"{'ok' if r['ok'] else 'FAIL':<7}  {r['load']}",
                flush=True,
            )
            if "rx_lost" in r:
                print(
                    "       at the far end (the callers' port, kernel arrival times, "
                    f"{r['rx_streams']} streams): late beyond a fixed jitter buffer of "
                    + ", ".join(f"{k} ms {r['rx_late' + k] * 100:.3f}%" for k in RX_BUDGETS)
                    + f"; lost {r['rx_lost'] * 100:.3f}%; receiver CPU "
                    f"{r['rx_core'] * 100:.1f}%"
                )
            print(
                "       garbage collections in the window, generations 0/1/2 (every gateway): "
                + "/".join(str(n) for n, _ in r["gc_by_gen"])
                + f"; the longest {r['gc_max_ms']:.1f} ms"
            )
            if args.caller == "light":
                print(
                    f"       RTP caller (bench/media_caller.py): {r['caller_core'] * 100:.1f}% "
                    f"of a core, its worst send {r['caller_late_ms']:.1f} ms after the deadline"
                )
            for line in r["errors"]:
                print(f"       sipp: {line}")
            if r["ok"]:
                best, best_row, misses = calls, r, 0
                continue
            misses += 1  # one miss may be a neighbour's burst on this shared machine
            if misses == 2 or r["failed"] or r["core_max"] >= 0.95:
                break
        print("\n2. call set-up rate: 1 s calls (INVITE/200/ACK ... BYE/200) at SIPp -r")
        print(
            f"{'rate':>6} {'calls':>6} {'ok':>6} {'failed':>6} {'reached/s':>9} "
            f"{'setup ms':>8} {'retrans':>7} {'drops':>5} {'core %':>7} {'wait %':>6}"
            "  verdict  load"
        )
        best_rate, best_rate_load = 0.0, ""
        for rate in [float(x) for x in args.cps.split(",") if x]:
            c = rate_step(gw, rate, args.cps_seconds)
            held = not (c["failed"] or c["sipp_exit"] != 0 or c["achieved"] < 0.9 * rate
                        or c["setup_ms"] > SETUP_LIMIT_MS)  # fmt: skip
            print(
                f"{c['rate']:>6.0f} {c['calls']:>6} {c['ok_calls']:>6} {c['failed']:>6} "
                f"{c['achieved']:>9.1f} {c['setup_ms']:>8.0f} {c['retrans']:>7} "
                f"{c['sip_drops']:>5} "
                f"{c['core'] * 100:>7.1f} {c['wait'] * 100:>6.1f}  "
                f"{'ok' if held else 'FAIL':<7}  {c['load']}",
                flush=True,
            )
            if not held:
                break
            best_rate, best_rate_load = rate, c["load"]
    finally:
        gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary")
    print(f"hardware: {hardware()}")
    if best_row is not None:
        per_core = best / max(best_row["core"], 1e-6)
        print(
            f"most concurrent G.711 calls with <0.1% late or lost frames: {best} "
            f"with {args.workers} gateway process(es) (together {best_row['core'] * 100:.0f}% "
            f"of one core, the busiest {best_row['core_max'] * 100:.0f}%; "
            f"{best_row['us_per_call']:.0f} us CPU per call per second; {best_row['load']})"
        )
        cores = len(os.sched_getaffinity(0))
        print(
            f"every process counted (gateways + Kamailio + SIPp + RTP caller): "
            f"{best_row['all'] * 100:.0f}% "
            f"of one core, of the machine's {cores * 100}%"
        )
        print(
            f"CPU per call: {best_row['us_per_call'] / 1e4:.2f}% of a core "
            f"(-> about {per_core:.0f} calls per fully used core; target 300)"
        )
    else:
        print("most concurrent G.711 calls with <0.1% late or lost frames: none of the steps")
    print(
        f"call set-ups and teardowns per second with no failed call and INVITE->200 under "
        f"{SETUP_LIMIT_MS} ms: {best_rate:.0f} (target 100; {best_rate_load or 'no rate held'})"
    )
    print(f"machine at end: {load()}")
    return 0


if __name__ == "__main__":
    started = time.time()
    code = main()
    if "--serve" not in sys.argv:
        print(f"(ran {time.time() - started:.0f} s)")
    sys.exit(code)
