"""TCP/TLS SIP listeners closed under the endpoint are opened again on the same address.

asyncio keeps a listening socket across accept errors (it pauses on EMFILE and retries),
so a stream listener stops only when its server is closed. `keep_streams` checks every
`CHECK_S` and opens such a listener again with the same protocol factory (its limits and
TLS context); connections already accepted are not touched. Health reads the `Listener`,
so it shows it closed until it is back. (A descriptor closed under asyncio is not
handled here: its number may already belong to another file, so nothing can safely
close or unregister it.)
"""

from __future__ import annotations

import asyncio
import logging

from carrier.sip.transport import Listener

log = logging.getLogger(__name__)

CHECK_S = 2.0  # seconds between checks of the stream listeners


async def check_streams(listeners: dict[str, Listener], warned: set[str]) -> None:
    """One pass: every stream listener found closed is opened again (logged once)."""
    loop = asyncio.get_running_loop()
    for name, listener in list(listeners.items()):
        server, factory = listener.server, listener.factory
        if server is None or factory is None or server.is_serving():
            continue
        if name not in warned:
            warned.add(name)
            log.warning("sip %s listener on %s:%s closed; reopening", name, listener.host,
                        listener.port)  # fmt: skip
        try:
            listener.server = await loop.create_server(factory, listener.host, listener.port)
        except OSError as exc:
            log.debug("sip %s reopen failed: %s", name, type(exc).__name__)
            continue  # port still taken: the next pass tries again
        warned.discard(name)
        log.warning("sip %s listener on %s:%s reopened", name, listener.host, listener.port)


async def keep_streams(listeners: dict[str, Listener], period: float = CHECK_S) -> None:
    warned: set[str] = set()
    while True:
        await asyncio.sleep(period)
        await check_streams(listeners, warned)
