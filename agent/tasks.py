"""Structured races for a call's work: the first awaitable to finish wins, the rest stop.

``race`` runs its contestants as tasks of its own ``asyncio.TaskGroup`` nested in the
caller's task, so by the time it returns every contestant has finished or been
cancelled and awaited: nothing is left running behind a listen that timed out, or a
prompt the caller hung up on. A contestant's error is re-raised only when it wins;
a loser's error is dropped with the loser (it lost the race), and no error aborts the
others before the race is decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class _Settled:
    value: Any = None
    error: BaseException | None = None


async def _settle(coro: Coroutine[Any, Any, Any]) -> _Settled:
    try:
        return _Settled(await coro)
    except Exception as exc:  # noqa: BLE001 - carried to the race's caller, re-raised there
        return _Settled(error=exc)


async def race(contestants: Mapping[K, Coroutine[Any, Any, Any]], *,
               wait_s: float | None = None) -> tuple[K, Any] | None:
    """``(key, result)`` of the first contestant to finish, or None after ``wait_s`` seconds.

    When several finish in the same loop iteration, the one listed first wins.
    """
    async with asyncio.TaskGroup() as group:
        tasks = {key: group.create_task(_settle(coro)) for key, coro in contestants.items()}
        done, pending = await asyncio.wait(tasks.values(), timeout=wait_s,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    for key, task in tasks.items():
        if task in done:
            settled = task.result()
            if settled.error is not None:
                raise settled.error
            return key, settled.value
    return None
