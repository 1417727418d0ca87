"""Requests outside any call, for :class:`carrier.sip.endpoint.SipEndpoint`: OPTIONS
keepalives to trunks and texts by SIP MESSAGE (RFC 3428), and the texts that arrive.

Each request is one non-INVITE client transaction in the sans-IO ``UserAgent``; its
final status comes back as an ``OptionsResult`` and completes the waiting future."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from carrier.sip.events import MessageReceived, RegistrationChanged
from carrier.sip.ua import Out, UserAgent
from carrier.sip.uri import URI


class OutOfDialog:
    _options: dict[str, asyncio.Future[int | None]]
    on_registration: Callable[[RegistrationChanged], None] | None
    on_message: Callable[[MessageReceived], None] | None
    """Gets each text a trunk sends by MESSAGE (answered 200 by the UA); without it, set
    before ``start``, MESSAGE is answered 405."""

    def _ua(self) -> UserAgent:
        raise NotImplementedError

    def _now(self) -> float:
        raise NotImplementedError

    def _dispatch(self, outs: list[Out]) -> None:
        raise NotImplementedError

    async def options(self, target: URI | str, *, timeout: float = 32.0) -> int | None:  # noqa: ASYNC109 - house style: keyword timeout=
        """OPTIONS ping (trunk keepalive); the status, or None when nothing answered."""
        return await self._no_session(self._ua().options(target, now=self._now()), timeout)

    async def message(self, target: URI | str, text: str, *, sender: str,
                      timeout: float = 32.0) -> int | None:  # noqa: ASYNC109 - house style: keyword timeout=
        """A text by SIP MESSAGE from our number ``sender``; the final status, None on
        timeout; ValueError when the text is over RFC 3428's 1300 bytes."""
        started = self._ua().message(target, text, sender=sender, now=self._now())
        return await self._no_session(started, timeout)

    async def _no_session(self, started: tuple[str, list[Out]], timeout: float) -> int | None:  # noqa: ASYNC109 - house style: keyword timeout=
        key, outs = started
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._options[key] = future
        self._dispatch(outs)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._options.pop(key, None)

    def _notify(self, event: RegistrationChanged | MessageReceived) -> None:
        if isinstance(event, RegistrationChanged):
            if self.on_registration is not None:
                self.on_registration(event)
        elif self.on_message is not None:
            self.on_message(event)
