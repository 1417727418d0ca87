"""What a worker process of ``carrier serve`` does first: end with serve, and hold none of
its output.

``serve`` may end without running any code of its own (SIGKILL: the OOM killer, a
container runtime's stop timeout, ``systemctl kill -s KILL``). Its worker processes (the
speech-to-text workers, spawned by ``multiprocessing``) must then notice by themselves, or
they linger, each holding a model's memory and serve's output streams: a supervisor or a
reader of serve's stdout (a pipe, a FIFO) never sees the end of a serve that is gone.

:func:`detach_from_parent` (call it first in the worker's initializer):

* a daemon thread waits on the parent's sentinel (a pipe end only the parent holds, closed
  by the kernel when the parent process ends, however it ends) and ends the worker then.
  The process-wide sentinel, not ``PR_SET_PDEATHSIG``: that one fires when the *thread*
  that started the worker ends, which in a program with thread pools is not the parent;
* stdin and stdout become ``/dev/null`` (a worker reads and prints nothing); stderr is
  kept: a worker's crash report belongs in serve's journal.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

EXIT_ORPHANED = 70  # nobody waits for it; for a process listing, EX_SOFTWARE


def _end_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent's sentinel is closed: the parent has ended
    os._exit(EXIT_ORPHANED)


def detach_from_parent() -> None:
    """End this process when the ``multiprocessing`` parent that started it ends (no
    watch outside such a child); point stdin and stdout at ``/dev/null``."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="end-with-parent",
                         daemon=True).start()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, 0)
        os.dup2(null, 1)
    finally:
        os.close(null)
