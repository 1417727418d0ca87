"""The clinic's figures as charts (every role: aggregates only, no PHI)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from carrier import metrics
from carrier.console import charts
from carrier.console.charts import Series
from carrier.console.figures import (
    REMINDER_CATEGORIES,
    FigureReader,
    Figures,
    first_reminder_week,
    reply_latency,
)
from carrier.console.pages.common import console, guard, page, records_of
from carrier.console.roles import Operator
from carrier.dialer.store import OutreachStore

router = APIRouter(include_in_schema=False)
PATH = "/figures"


def _label(d: dt.date) -> str:
    return d.strftime("%d %b")


def render_charts(f: Figures) -> list[Markup]:
    """The page's charts, in order (SVG, escaped inside, safe to embed)."""
    out = []
    ns = f.no_show
    out.append(charts.line_chart(
        [_label(r.week) for r in ns],
        [Series("not reminded", tuple(r.not_reminded_rate for r in ns)),
         Series("reminded", tuple(r.reminded_rate for r in ns))],
        title="No-show rate by week, before and after reminders", percent=True,
        marker=first_reminder_week(ns), marker_text="reminders start"))
    weeks = list(f.reminder_outcomes)
    out.append(charts.stacked_bar_chart(
        [_label(w) for w in weeks],
        [Series(c, tuple(float(f.reminder_outcomes[w][c]) for w in weeks))
         for c in REMINDER_CATEGORIES],
        title="Reminder outcomes by week"))
    out.append(charts.bar_chart(
        [c.workflow for c in f.completion], [c.rate for c in f.completion],
        title="Workflow completion rate", percent=True))
    iv = f.intervention
    out.append(charts.line_chart(
        [_label(r.week) for r in iv], [Series("transfers + call-backs per call",
                                              tuple(r.rate for r in iv))],
        title="Staff intervention rate by week", percent=True))
    lat = f.latency
    out.append(charts.bar_chart(
        ["p50", "p95"], [lat.p50, lat.p95], unit="s",
        title=f"Voice reply latency ({lat.count} replies since this node started)"))
    return [Markup(svg) for svg in out]  # noqa: S704 - built by charts, which escapes


@router.get(PATH)
async def figures_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                       ) -> Response:
    ctx = console(request)
    try:
        weeks = min(52, max(2, int(request.query_params.get("weeks", "12"))))
    except ValueError:
        weeks = 12
    now = ctx.now()
    records = records_of(request)
    reader = FigureReader(records, OutreachStore(records.pool), ctx.appointments)
    figures = await reader.read(now.date() - dt.timedelta(weeks=weeks - 1), now,
                                reply_latency(metrics.REGISTRY.collect()))
    return page(request, "figures.html", op, title="The clinic's figures", weeks=weeks,
                charts=render_charts(figures), figures=figures,
                reminder_categories=REMINDER_CATEGORIES)
