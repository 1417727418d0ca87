"""Trunks (admin): each configured trunk with its registration, keepalive answer, pool
state (up, or down and being probed), calls up now and last error. The live parts come
from the running node's trunk links (``ctx.trunk_links``); a console without them shows
the configuration only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from carrier.console.pages.common import console, guard, page
from carrier.console.roles import Operator

router = APIRouter(include_in_schema=False)
PATH = "/trunks"


def trunk_rows(settings: Any, links: Any) -> list[dict[str, Any]]:
    states = getattr(links, "states", {}) if links is not None else {}
    pool = getattr(links, "pool", None)
    rows = []
    for t in settings.trunks:
        link = states.get(t.name)
        rows.append({
            "name": t.name, "where": f"{t.host}:{t.port} ({t.transport})", "auth": t.auth,
            "registering": bool(link and link.registering),
            "registered": None if link is None or not link.registering else link.registered,
            "expires": getattr(link, "expires", None),
            "keepalive": (None if not t.options_keepalive_s else
                          ("no answer" if link is None or link.keepalive_status is None
                           else f"SIP {link.keepalive_status}")),
            "pool": None if pool is None else pool.state(t.name).value,
            "active": None if pool is None else pool.active(t.name),
            "last_error": getattr(link, "last_error", None),
        })
    return rows


@router.get(PATH)
async def trunks_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                      ) -> Response:
    ctx = console(request)
    links = getattr(ctx, "trunk_links", None)
    return page(request, "trunks.html", op, title="Trunks",
                trunks=trunk_rows(ctx.settings, links), live=links is not None)
