"""A call's races: the first to finish wins, the others are stopped before ``race`` returns."""

from __future__ import annotations

import asyncio

import pytest

from agent.tasks import race


async def test_the_first_to_finish_wins_and_the_loser_is_cancelled_and_awaited() -> None:
    stopped = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return "never"

    async def quick() -> str:
        return "here"

    before = asyncio.all_tasks()
    assert await race({"slow": slow(), "quick": quick()}) == ("quick", "here")
    assert stopped.is_set()  # the loser ran its cleanup before race returned
    assert asyncio.all_tasks() == before


async def test_nobody_finishing_in_time_gives_none_and_leaves_no_task() -> None:
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks()
    never = loop.create_future()
    # A bounded wait on purpose: the race's own timeout is what is tested (20 ms).
    assert await race({"never": asyncio.shield(never)}, wait_s=0.02) is None
    assert asyncio.all_tasks() == before
    never.cancel()


async def test_the_winners_error_is_raised_as_itself() -> None:
    async def broken() -> None:
        raise LookupError("no such turn")

    async def waits() -> None:
        await asyncio.Event().wait()

    with pytest.raises(LookupError):
        await race({"broken": broken(), "waits": waits()})


async def test_the_first_listed_wins_a_tie() -> None:
    async def now(value: str) -> str:
        return value

    assert await race({"key": now("5"), "turn": now("yes")}) == ("key", "5")
