"""Local durable spool for ledger writes made while Postgres is unreachable.

One append-only file per chain in ``<data_dir>/spool/``. Each record is one line
``<sha256 hex of the JSON> <JSON>\n``, flushed and ``fsync``ed before the write is
acknowledged, so an acknowledged record survives a crash or power cut. A torn last line (the
process died mid-write, before the acknowledgement) is ignored on read; a damaged line before
the end is reported, never skipped silently. A write the disk refuses is cut back off the
file and raised as :class:`SpoolUnwritable`. Records carry identifiers only (no PHI).

Replay order is file order; the file is emptied only after every record has been committed
to Postgres. Records carry a unique ``entry_id``, so a crash between the commit and the
truncation makes the next replay skip what already landed: each record lands exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any


class SpoolUnwritable(OSError):
    """The disk refused a spool write (full, over quota); nothing of it stays in the file."""


class SpoolCorrupt(Exception):
    """A spool line other than the last fails its checksum: operator attention needed."""


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            # Cut a torn tail left by a crash, or the next record would be glued to it.
            size = os.fstat(self._fd).st_size
            _, valid = self._scan(self.path.read_bytes())
            if valid < size:
                os.ftruncate(self._fd, valid)
                os.fsync(self._fd)
        return self._fd

    @staticmethod
    def _encode(records: list[dict[str, Any]]) -> bytes:
        lines = []
        for record in records:
            body = json.dumps(record, sort_keys=True, separators=(",", ":"))
            lines.append(f"{hashlib.sha256(body.encode()).hexdigest()} {body}\n")
        return "".join(lines).encode()

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)

    def append(self, records: list[dict[str, Any]]) -> None:
        """Write and fsync ``records``; return only once they are on disk. A write the disk
        refuses (full, over quota) is cut back off the file before the error goes up, so
        no torn record is left for the next one to be glued to."""
        try:
            fd = self._open()  # a full disk may refuse even the file (no inode left)
        except OSError as exc:
            raise SpoolUnwritable(exc.errno, f"spool {self.path} not opened"
                                  f" ({exc.strerror}): the records are not durable") from None
        size = os.fstat(fd).st_size
        try:
            self._write_all(fd, self._encode(records))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise SpoolUnwritable(exc.errno, f"spool {self.path} not written"
                                  f" ({exc.strerror}): the records are not durable") from None

    def replace(self, records: list[dict[str, Any]]) -> None:
        """Atomically make ``records`` the spool's whole content (after a partial replay
        moved some rows to the dead-letter file, so they are not met again)."""
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._write_all(fd, self._encode(records))
        finally:
            os.close(fd)
        tmp.replace(self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records, _ = self._scan(self.path.read_bytes())
        return records

    def _scan(self, raw: bytes) -> tuple[list[dict[str, Any]], int]:
        """Records in ``raw`` and the length of its valid part (without a torn tail)."""
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: bytes after the last newline (torn)
        out: list[dict[str, Any]] = []
        valid = 0
        for number, line in enumerate(complete, start=1):
            digest, _, body = line.partition(b" ")
            if hashlib.sha256(body).hexdigest().encode() != digest:
                if number == len(complete) and not tail:
                    break  # torn final line whose newline made it to disk
                raise SpoolCorrupt(f"{self.path.name}: line {number} fails its checksum")
            out.append(json.loads(body))
            valid += len(line) + 1
        return out, valid

    def __len__(self) -> int:
        return len(self.read())

    def clear(self) -> None:
        """Empty the spool once its records are committed elsewhere."""
        self.close()
        fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def set_aside(self) -> tuple[Path, int]:
        """Move a corrupt spool out of the way (kept beside it for the operator) so the
        writer can go on; returns where it went and how many lines it held."""
        self.close()
        lines = self.path.read_bytes().count(b"\n")
        for n in range(1, 1000):
            target = self.path.with_name(f"{self.path.name}.corrupt-{n}")
            if not target.exists():
                break
        self.path.rename(target)
        return target, lines


def open_count(spool: Spool) -> tuple[int, int]:
    """Records waiting in ``spool`` at start, and lines set aside because it was corrupt."""
    try:
        return len(spool.read()), 0
    except SpoolCorrupt:
        _, lines = spool.set_aside()
        return 0, lines


class DeadLetter:
    """Rows a writer could never store (the database refuses the row itself).

    Same line format as the spool, one ``{"reason": <error class>, "record": <row>}`` per
    row, fsync'd before the writer acknowledges the append: a quarantined row is kept, not
    lost, and waits for an operator. ``count`` is safe to show anywhere (no content).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._spool = Spool(path)
        self.count = len(self._spool.read())

    def put(self, records: list[dict[str, Any]], reason: str) -> None:
        self._spool.append([{"reason": reason, "record": r} for r in records])
        self.count += len(records)

    def read(self) -> list[dict[str, Any]]:
        return self._spool.read()

    def close(self) -> None:
        self._spool.close()
