"""SIGINT/SIGTERM for long-running commands (``serve``, ``hl7 serve``, ``campaign run``).

Either signal asks for a clean stop (the work in progress finishes and is recorded); the
exit code then tells a script what happened: 130 after SIGINT (Ctrl-C, as a shell reports
an interrupted command), 0 after SIGTERM (the service manager's ordinary stop). A second
signal changes nothing: the stop under way (a drain, a pass being recorded) is not cut
short, so nothing it was writing is lost and an embedded database is stopped properly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

INTERRUPTED = 130  # 128 + SIGINT


class StopSignals:
    """Sets ``event`` on the first SIGINT or SIGTERM and remembers which it was."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event
        self.received: int | None = None
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signals on this platform
                self._loop.add_signal_handler(sig, self._on, sig)

    def _on(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
        self.event.set()

    @property
    def exit_code(self) -> int:
        return INTERRUPTED if self.received == signal.SIGINT else 0
