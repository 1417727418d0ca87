"""One ``carrier serve`` per data folder.

``serve`` owns ``<data_dir>/spool``: it replays the files there and empties them once
committed. A second process doing the same on the same files (a second ``serve`` started
with other ports, by hand or by a unit that did not stop the first) would empty rows the
other had just made durable, and cut what it took for a torn tail of the other's write. So
``serve`` holds an exclusive ``flock`` on ``<data_dir>/serve.lock`` for its whole run (the
kernel drops it when the process ends, however it ends: a crash leaves nothing stale), and
a second one is refused before it starts anything, naming the folder and the pid holding
it. Commands that run beside ``serve`` (``campaign run``, ``hl7 serve``, the records
commands) write through a spool of their own instead
(:func:`carrier.records.cli_context.command_spool`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from carrier.errors import OperatorError

LOCK_NAME = "serve.lock"


class DataFolderInUse(OperatorError):
    exit_code = 75  # EX_TEMPFAIL: it runs once the other one stops


@contextlib.contextmanager
def own_data_folder(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for this process until the block ends; DataFolderInUse if another
    process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OperatorError(f"data_dir: cannot create {path} ({exc.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DataFolderInUse(
                f"data folder {data_dir} is in use by another carrier serve (pid {holder});"
                " stop that one first, or give this one a data_dir of its own") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
