"""Drives the npm-registry SMSC (``tests/peers/smsc/smsc.js``) from a test.

``npm ci`` installs the locked ``smpp`` package once into a cache folder keyed by the
lock file's and the script's hash (``CARRIER_TEST_CACHE``, default ``~/.cache/carrier-tests``);
nothing is skipped: when node or npm fails, the test fails with npm's own words. The SMSC
is its own process on 127.0.0.1 and an ephemeral port; its events arrive as JSON lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "smsc"
FILES = ("package.json", "package-lock.json", "smsc.js")


class SmscError(Exception):
    """The SMSC peer could not be installed or started (the message says why)."""


def cache_root() -> Path:
    root = os.environ.get("CARRIER_TEST_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "carrier-tests"


def install() -> Path:
    """The folder holding ``smsc.js`` and its ``node_modules`` (``npm ci`` on first use)."""
    digest = hashlib.sha256(b"".join((HERE / f).read_bytes() for f in FILES)).hexdigest()[:16]
    target = cache_root() / f"smsc-{digest}"
    if (target / "node_modules" / "smpp" / "package.json").is_file():
        return target
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SmscError("node and npm are needed for the SMSC peer (Debian: nodejs npm)")
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in FILES:
        shutil.copy2(HERE / name, staging / name)
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=staging,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SmscError(f"npm ci failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        staging.rename(target)
    except OSError:  # another process installed it first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
    return target


class Smsc:
    """One running SMSC: ``port``, ``events`` (every JSON line so far), ``wait``, ``mo``."""

    def __init__(self, proc: asyncio.subprocess.Process, system_id: str, password: str) -> None:
        self.proc = proc
        self.system_id = system_id
        self.password = password
        self.port = 0
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *, system_id: str = "carrier", password: str = "secret1") -> Smsc:
        folder = await asyncio.to_thread(install)
        config = json.dumps({"system_id": system_id, "password": password})
        proc = await asyncio.create_subprocess_exec(
            "node", str(folder / "smsc.js"), config, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        smsc = cls(proc, system_id, password)
        smsc._reader = asyncio.create_task(smsc._read())
        ready = await smsc.wait("ready", timeout=20)
        smsc.port = int(ready["port"])
        return smsc

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            event = json.loads(line)
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def wait(self, name: str, *, timeout: float = 10.0, **match: Any) -> dict[str, Any]:  # noqa: ASYNC109 - bounded wait on an outside process
        """The next ``name`` event (after those already returned) matching ``match``."""
        async def until() -> dict[str, Any]:
            async with self._changed:
                while True:
                    found = [e for e in self.events if e.get("event") == name
                             and not e.get("_taken")
                             and all(e.get(k) == v for k, v in match.items())]
                    if found:
                        found[0]["_taken"] = True
                        return found[0]
                    if self.proc.returncode is not None:
                        raise SmscError(f"SMSC exited ({self.proc.returncode})")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            seen = [e.get("event") for e in self.events[-10:]]
            raise SmscError(f"no {name} event within {timeout}s; last: {seen}") from None

    def count(self, name: str) -> int:
        return sum(1 for e in self.events if e.get("event") == name)

    async def mo(self, sender: str, to: str, text: str) -> None:
        """A text from a phone (``sender``) to one of our numbers (``to``)."""
        assert self.proc.stdin is not None
        line = json.dumps({"cmd": "mo", "from": sender, "to": to, "text": text})
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def mo_raw(self, sender: str, to: str, data_coding: int, body: bytes, *,
                     esm_class: int = 0) -> None:
        """A deliver_sm with ``data_coding``, ``body`` and ``esm_class`` as given (a faulty
        SMSC's, or one part of a concatenated text: esm_class 0x40 and a UDH in ``body``)."""
        assert self.proc.stdin is not None
        line = json.dumps({"cmd": "mo_raw", "from": sender, "to": to, "esm_class": esm_class,
                           "data_coding": data_coding, "hex": body.hex()})
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def reject(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` submit_sm with ``status`` (nothing is delivered)."""
        assert self.proc.stdin is not None
        line = json.dumps({"cmd": "reject", "status": status, "count": count})
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        await self.wait("reject_armed")

    async def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)  # node exits when stdin closes
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader
