"""``carrier serve``'s webchat port: the page beside the console when ``webchat.enabled``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from carrier.plugin import CallHandler, ChatApplication, ChatHandler

if TYPE_CHECKING:
    from carrier.plugin import Application
    from carrier.settings import Settings


@contextlib.asynccontextmanager
async def serve_webchat_for(settings: Settings, application: Application,
                            handler: Callable[[], CallHandler],
                            audit: Callable[..., Awaitable[object]] | None = None,
                            ) -> AsyncIterator[int | None]:
    """The page on ``webchat.bind_host:webchat.port`` while the block runs (the bound port),
    or None when it is off. Browser calls go to ``handler()`` (the gateway's current one:
    the application's, wrapped by the schedule feeds' write-back), chats to the
    application's chat handler; both are read per session, so a reload serves the next.
    ``audit`` is the records' trail (a browser call's length limit is audited there)."""
    web = settings.webchat
    if not web.enabled:
        yield None
        return
    from carrier.webchat.app import WebchatServer, serve_webchat  # noqa: PLC0415 - aiortc

    def chat() -> ChatHandler | None:
        return application.chat_handler if isinstance(application, ChatApplication) else None

    server = WebchatServer(web, handler=handler, chat_handler=chat, audit=audit)
    async with serve_webchat(server, web.bind_host, web.port) as port:
        yield port
