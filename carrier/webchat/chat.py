"""A text chat as a call leg without sound: what the application's chat handler receives.

:class:`TextLeg` is a ``carrier.call.Call`` (call id, caller, context, ``ended``,
``hangup``) whose media carries nothing; the conversation happens through
``await leg.receive()`` (the patient's next message, None when they have gone) and
``await leg.send(text)``. The web app drives it with :meth:`TextLeg.exchange`: put one
message in, wait until the handler is listening again (or has ended), take the replies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from carrier.call import Call, CallerInfo, Direction
from carrier.plugin import CallContext


class _NoMedia:
    """A text leg has no sound; a handler that tries to play or listen gets an error."""

    def inbound(self) -> Any:
        raise RuntimeError("a text chat has no audio")

    async def play(self, frames: Any) -> bool:
        raise RuntimeError("a text chat has no audio")

    def cancel_playback(self) -> None:
        return None

    def send_dtmf(self, digits: str) -> None:
        return None

    def dtmf_events(self) -> Any:
        raise RuntimeError("a text chat has no keys")


class InboxFull(Exception):
    """More messages are waiting for the handler than a patient types ahead of it."""


class TextLeg(Call):
    def __init__(self, *, call_id: str, caller: CallerInfo, called: str,
                 context: CallContext, max_chars: int | None = None) -> None:
        super().__init__(call_id=call_id, direction=Direction.INBOUND, caller=caller,
                         called=called, media=_NoMedia(), transfer=self._no_transfer,
                         hangup=self._end, context=context)
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=4)
        self._outbox: list[str] = []
        self._waiting = asyncio.Event()  # the handler waits for the patient's next message
        # ``webchat.max_message_chars``: a longer message still reaches the handler (an
        # opt-out in it is never lost), which asks for a shorter one.
        self.max_chars = max_chars

    @staticmethod
    async def _no_transfer(target: str, context: Any) -> bool:
        return False  # nobody to hand a web chat to; the workflow's failure path runs

    async def _end(self, reason: str) -> None:
        self._waiting.set()

    # ---- the handler's side -------------------------------------------------------------

    async def receive(self) -> str | None:
        """The patient's next message; None when they left (or the session expired)."""
        if self.ended.is_set() and self._inbox.empty():
            return None
        self._waiting.set()
        text = await self._inbox.get()
        self._waiting.clear()
        return text

    async def send(self, text: str) -> None:
        self._outbox.append(text)

    # ---- the web app's side -------------------------------------------------------------

    async def exchange(self, text: str | None, *, wait_s: float) -> tuple[list[str], bool]:
        """Hand over ``text`` (None: only collect what is pending) and wait until the handler
        listens again or the chat ended; returns the replies and whether it ended. Raises
        :class:`InboxFull` at once when the handler has four messages waiting already
        (waiting for room had no bound: a flood held requests open forever)."""
        if text is not None and not self.ended.is_set():
            try:
                self._inbox.put_nowait(text)
            except asyncio.QueueFull:
                raise InboxFull from None
            self._waiting.clear()
        try:
            async with asyncio.timeout(wait_s):
                await self._waiting.wait()
        except TimeoutError:
            pass  # replies so far go out; the rest come with the next request
        replies, self._outbox = self._outbox, []
        return replies, self.ended.is_set()

    def leave(self, reason: str) -> None:
        """The patient left (or the session expired): the handler's next receive is None."""
        self.mark_ended(reason)
        self._waiting.set()
        if not self._inbox.full():
            self._inbox.put_nowait(None)
