"""A database that goes away in the middle of a command, at a point the test names.

:class:`DatabaseCut` is a TCP hop on 127.0.0.1 in front of the suite's real PostgreSQL. It
passes every byte both ways until a client sends a statement holding ``marker`` (for
example the chain writer's ``chain_heads``); then, before that statement reaches the
server, it closes every connection and stops listening, so the command meets a database
that is gone (its next connection is refused), as when the server host goes down. A
command run through it (``carrier --database-url <cut.url>``) does all it does before that
point against the real database.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit, urlunsplit


class DatabaseCut:
    def __init__(self, db_url: str, marker: bytes) -> None:
        self.db_url = db_url
        self.marker = marker
        self.cut = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        parts = urlsplit(db_url)
        query = parse_qs(parts.query)
        self._socket_dir = query.get("host", [None])[0]
        self._port = parts.port or int(query.get("port", ["5432"])[0])
        self._host = parts.hostname or "127.0.0.1"
        self.url = ""

    async def __aenter__(self) -> DatabaseCut:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self.db_url)
        user = parts.username or "postgres"
        self.url = urlunsplit(("postgresql", f"{user}@127.0.0.1:{port}", parts.path, "", ""))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._go_away()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._socket_dir and self._socket_dir.startswith("/"):
            return await asyncio.open_unix_connection(
                f"{self._socket_dir}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._host, self._port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut.is_set():
            writer.transport.abort()
            return
        up_reader, up_writer = await self._upstream()
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pump(reader, up_writer, watch=True),
                             self._pump(up_reader, writer, watch=False),
                             return_exceptions=True)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *,
                    watch: bool) -> None:
        tail = b""
        try:
            while data := await src.read(65536):
                if watch and self.marker in tail + data:
                    self._go_away()
                    return
                tail = data[-len(self.marker):]
                dst.write(data)
                await dst.drain()
        finally:
            dst.transport.abort()

    def _go_away(self) -> None:
        self.cut.set()
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            with contextlib.suppress(RuntimeError):
                w.transport.abort()
