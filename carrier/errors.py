"""Errors shown to operators: one line, no traceback, no PHI."""

from __future__ import annotations


class OperatorError(Exception):
    """A failure the operator can act on; the CLI prints it and exits non-zero."""

    exit_code = 1


class ConfigError(OperatorError):
    """A setting is missing or wrong. Names the file, the key and the reason."""

    exit_code = 78  # EX_CONFIG

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f"{file}: {key}: {reason}")


class NotRecorded(OperatorError):
    """Writes neither the database nor the disk (the spool) took: counted by kind, never
    their content, with the folder the disk refused."""

    exit_code = 74  # EX_IOERR


class DiskFull(OperatorError):
    """The disk refused a file the command needs (full, or over quota): names the folder
    and what to do."""

    exit_code = 74  # EX_IOERR


class UnknownName(OperatorError, KeyError):
    """A name the operator gave (a trunk, ...) that the settings do not define. Still a
    ``KeyError`` for code that looks names up; the CLI prints it as one line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown name"


class ListenError(OperatorError):
    """A listening socket could not be opened (the port is taken, the address is not ours).
    Names the transport, host and port, never a traceback."""

    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, transport: str, host: str, port: int, exc: OSError) -> None:
        reason = exc.strerror or exc.__class__.__name__
        super().__init__(f"cannot listen on {transport} {host}:{port}: {reason}")
