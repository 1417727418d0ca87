"""Call handler of the test application (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# How long an inbound call may stay up waiting for the caller's BYE.
INBOUND_LIMIT_S = 20.0
# An outbound (dialer) call is ended by us after this long: the trunk peer waits for BYE.
OUTBOUND_HOLD_S = 0.3


def _field(context: Any, name: str) -> Any:
    if isinstance(context, Mapping):
        return context.get(name)
    return getattr(context, name, None)


async def handle(call: Any, context: Any) -> Any:
    direction = str(_field(context, "direction") or "")
    direction = direction.rsplit(".", 1)[-1].lower()  # an enum's str() or a plain word
    patient = _field(context, "patient_id") or "-"
    line = f"{os.environ.get('DEPLOY_NODE_NAME', '?')} {direction} {call.call_id} {patient}\n"
    log = Path(os.environ["DEPLOY_NODE_LOG"])
    with log.open("a", encoding="utf-8") as out:  # noqa: ASYNC230 - one short line per call
        out.write(line)
    if direction == "outbound":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), timeout=OUTBOUND_HOLD_S)
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), timeout=INBOUND_LIMIT_S)
    await call.hangup("normal")
    return None
