"""Runtime of the test application: nothing to build, nothing to seed."""

from __future__ import annotations

from typing import Any


async def setup(settings: Any, records: Any, *, speech: bool = True) -> dict[str, Any]:
    return {"node": settings.data_dir}


async def teardown(runtime: Any) -> None:
    return None
