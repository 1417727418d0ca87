"""The inbound-text consumer owns its waits: stopped or cancelled, it leaves no orphan."""

from __future__ import annotations

import asyncio

import pytest

from carrier.sms.smpp import InboundText
from carrier.sms.wiring import _consume


class _Service:
    def __init__(self) -> None:
        self.seen: list[InboundText] = []
        self.handled = asyncio.Event()

    async def on_inbound(self, text: InboundText) -> None:
        self.seen.append(text)
        self.handled.set()


async def test_a_cancelled_consumer_leaves_no_getter_to_eat_the_next_text() -> None:
    """Before: the inbox ``get()`` was not cancelled with the consumer and took the next
    text after the consumer was gone (lost: nobody handled it)."""
    inbox: asyncio.Queue[InboundText] = asyncio.Queue()
    service = _Service()
    task = asyncio.create_task(_consume(service, inbox, asyncio.Event()))  # type: ignore[arg-type]
    first = InboundText("+15555550101", "+15555550100", "synthetic one")
    inbox.put_nowait(first)
    await service.handled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    later = InboundText("+15555550101", "+15555550100", "synthetic two")
    inbox.put_nowait(later)
    for _ in range(3):
        await asyncio.sleep(0)  # loop steps, not time: an orphaned getter would run here
    assert service.seen == [first]
    assert inbox.qsize() == 1  # still there for the next consumer


async def test_stop_ends_the_consumer() -> None:
    stop = asyncio.Event()
    inbox: asyncio.Queue[InboundText] = asyncio.Queue()
    task = asyncio.create_task(_consume(_Service(), inbox, stop))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    inbox.put_nowait(InboundText("+15555550101", "+15555550100", "synthetic"))
    await asyncio.sleep(0)
    assert inbox.qsize() == 1
