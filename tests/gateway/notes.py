"""A dict the call handler writes into and the test awaits, with no polling or sleeping."""

from __future__ import annotations

import asyncio
from typing import Any


class Notes(dict[str, Any]):
    """``await notes.wait("key", timeout=...)`` returns once the handler set that key."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed.set()

    async def wait(self, key: str, *, timeout: float) -> Any:  # noqa: ASYNC109 - house style
        async with asyncio.timeout(timeout):
            while key not in self:
                self._changed.clear()
                await self._changed.wait()
        return self[key]
