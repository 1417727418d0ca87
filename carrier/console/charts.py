"""Server-side SVG charts for the console: line, bar and stacked bar. Pure functions.

Each function takes labels and numbers and returns one ``<svg>`` element as text, ready to
put in a page (no JavaScript, no fonts fetched, colours from the console's stylesheet by
class ``s0``..``s7``). Every piece of caller text is escaped. A chart with nothing to show
says so in words. Each chart carries a ``<title>`` and an ``aria-label`` for screen
readers, and every mark a ``<title>`` with its exact value (a hover tooltip).

    svg = line_chart(["W1", "W2"], [Series("reminded", (0.1, 0.08))], percent=True)
    svg = bar_chart(["p50", "p95"], [0.42, 0.9], unit="s")
    svg = stacked_bar_chart(["W1"], [Series("confirmed", (3,)), Series("no answer", (2,))])

Values may be ``None`` (no data that week): a line breaks there, a bar is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 32, 56  # plot margins: axis labels and legend
_PALETTE = 8


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]

    def __post_init__(self) -> None:
        for v in self.values:
            if v is not None and not math.isfinite(v):
                raise ValueError(f"series {self.name!r}: value {v!r} is not finite")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1-2-5 steps), ``count`` or so of them."""
    if top <= 1e-9:  # nothing (or nothing measurable) to scale to
        return [0.0, 1.0]
    raw = top / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def fmt(value: float, *, percent: bool = False, unit: str = "") -> str:
    """A value as a label: ``12.5%``, ``0.42 s``, ``3``."""
    if percent:
        return f"{value * 100:.1f}".rstrip("0").rstrip(".") + "%"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


class _Frame:
    """Scales and the common parts: axes, grid, x labels, legend."""

    def __init__(self, labels: Sequence[str], top: float, *, percent: bool, unit: str,
                 width: int, height: int) -> None:
        self.labels = list(labels)
        self.ticks = nice_ticks(top)
        self.top = self.ticks[-1]
        self.percent, self.unit = percent, unit
        self.width, self.height = width, height
        self.x0, self.x1 = _LEFT, width - _RIGHT
        self.y0, self.y1 = height - _BOTTOM, _TOP  # y0 is the baseline (bottom)

    def y(self, value: float) -> float:
        return self.y0 - (self.y0 - self.y1) * (value / self.top if self.top else 0.0)

    def band(self, i: int) -> tuple[float, float]:
        """Left edge and width of the i-th category band."""
        w = (self.x1 - self.x0) / max(1, len(self.labels))
        return self.x0 + i * w, w

    def label(self, value: float) -> str:
        return fmt(value, percent=self.percent, unit=self.unit)

    def axes(self) -> list[str]:
        out = []
        for t in self.ticks:
            y = _n(self.y(t))
            out.append(f'<line class="grid" x1="{self.x0}" y1="{y}" x2="{self.x1}" y2="{y}"/>')
            out.append(f'<text class="tick" x="{self.x0 - 6}" y="{y}" text-anchor="end"'
                       f' dominant-baseline="middle">{escape(self.label(t))}</text>')
        out.append(f'<line class="axis" x1="{self.x0}" y1="{self.y0}" x2="{self.x1}"'
                   f' y2="{self.y0}"/>')
        every = max(1, math.ceil(len(self.labels) / 12))  # no more than 12 x labels
        for i, text in enumerate(self.labels):
            if i % every:
                continue
            left, w = self.band(i)
            out.append(f'<text class="tick" x="{_n(left + w / 2)}" y="{self.y0 + 16}"'
                       f' text-anchor="middle">{escape(text)}</text>')
        return out


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _legend(names: Sequence[str], width: int, height: int) -> list[str]:
    out, x = [], float(_LEFT)
    for k, name in enumerate(names):
        out.append(f'<rect class="s{k % _PALETTE}" x="{_n(x)}" y="{height - 20}" width="10"'
                   f' height="10"/>')
        out.append(f'<text class="legend" x="{_n(x + 14)}" y="{height - 11}">'
                   f'{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def _svg(title: str, parts: Sequence[str], width: int, height: int) -> str:
    t = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
            f' aria-label="{t}" viewBox="0 0 {width} {height}" width="{width}"'
            f' height="{height}"><title>{t}</title>'
            f'<text class="chart-title" x="{_LEFT}" y="18">{t}</text>'
            + "".join(parts) + "</svg>")


def _empty(title: str, width: int, height: int) -> str:
    return _svg(title, [f'<text class="empty" x="{width // 2}" y="{height // 2}"'
                        ' text-anchor="middle">No data for this period</text>'],
                width, height)


def _top(values: Sequence[float | None]) -> float:
    return max((v for v in values if v is not None), default=0.0)


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for "
                             f"{len(labels)} labels")


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
               percent: bool = False, unit: str = "", marker: int | None = None,
               marker_text: str = "", width: int = WIDTH, height: int = HEIGHT) -> str:
    """One polyline per series (broken at ``None``), a dot per point; ``marker`` draws a
    dashed vertical line at that label's index (for example "reminders start")."""
    _check(labels, series)
    top = _top([v for s in series for v in s.values])
    if not labels or all(v is None for s in series for v in s.values):
        return _empty(title, width, height)
    f = _Frame(labels, top or 1.0, percent=percent, unit=unit, width=width, height=height)
    parts = f.axes()

    def cx(i: int) -> float:
        left, w = f.band(i)
        return left + w / 2

    if marker is not None and 0 <= marker < len(labels):
        x = _n(f.band(marker)[0])
        parts.append(f'<line class="marker" x1="{x}" y1="{f.y1}" x2="{x}" y2="{f.y0}"/>')
        parts.append(f'<text class="marker-text" x="{_n(f.band(marker)[0] + 4)}"'
                     f' y="{f.y1 + 10}">{escape(marker_text)}</text>')
    for k, s in enumerate(series):
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{_n(cx(i))},{_n(f.y(v))}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="line s{k % _PALETTE}" fill="none"'
                             f' points="{" ".join(run)}"/>')
        for i, v in enumerate(s.values):
            if v is not None:
                parts.append(f'<circle class="dot s{k % _PALETTE}" cx="{_n(cx(i))}"'
                             f' cy="{_n(f.y(v))}" r="3"><title>{escape(s.name)}, '
                             f'{escape(labels[i])}: {escape(f.label(v))}</title></circle>')
    parts += _legend([s.name for s in series], width, height)
    return _svg(title, parts, width, height)


def bar_chart(labels: Sequence[str], values: Sequence[float | None], *, title: str,
              percent: bool = False, unit: str = "", width: int = WIDTH,
              height: int = HEIGHT) -> str:
    """One bar per label, its value written above it."""
    return grouped_bar_chart(labels, [Series(title, tuple(values))], title=title,
                             percent=percent, unit=unit, width=width, height=height,
                             legend=False)


def grouped_bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
                      percent: bool = False, unit: str = "", width: int = WIDTH,
                      height: int = HEIGHT, legend: bool = True) -> str:
    """Side-by-side bars per label, one per series."""
    _check(labels, series)
    if not labels or not series or all(v is None for s in series for v in s.values):
        return _empty(title, width, height)
    if any(v is not None and v < 0 for s in series for v in s.values):
        raise ValueError("bar values must not be negative")
    f = _Frame(labels, _top([v for s in series for v in s.values]) or 1.0, percent=percent,
               unit=unit, width=width, height=height)
    parts = f.axes()
    for i, name in enumerate(labels):
        left, w = f.band(i)
        bw = w * 0.7 / len(series)
        for k, s in enumerate(series):
            v = s.values[i]
            if v is None:
                continue
            x, y = left + w * 0.15 + k * bw, f.y(v)
            parts.append(f'<rect class="bar s{k % _PALETTE}" x="{_n(x)}" y="{_n(y)}"'
                         f' width="{_n(bw)}" height="{_n(f.y0 - y)}"><title>'
                         f'{escape(s.name)}, {escape(name)}: {escape(f.label(v))}'
                         '</title></rect>')
            parts.append(f'<text class="value" x="{_n(x + bw / 2)}" y="{_n(y - 3)}"'
                         f' text-anchor="middle">{escape(f.label(v))}</text>')
    if legend:
        parts += _legend([s.name for s in series], width, height)
    return _svg(title, parts, width, height)


def stacked_bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
                      percent: bool = False, unit: str = "", width: int = WIDTH,
                      height: int = HEIGHT) -> str:
    """One bar per label made of one segment per series, bottom to top in series order."""
    _check(labels, series)
    totals = [sum(s.values[i] or 0.0 for s in series) for i in range(len(labels))]
    if not labels or not series or not any(totals):
        return _empty(title, width, height)
    if any(v is not None and v < 0 for s in series for v in s.values):
        raise ValueError("stacked values must not be negative")
    f = _Frame(labels, max(totals), percent=percent, unit=unit, width=width, height=height)
    parts = f.axes()
    for i, name in enumerate(labels):
        left, w = f.band(i)
        base = 0.0
        for k, s in enumerate(series):
            v = s.values[i] or 0.0
            if v <= 0:
                continue
            y_top, y_bottom = f.y(base + v), f.y(base)
            parts.append(f'<rect class="bar s{k % _PALETTE}" x="{_n(left + w * 0.15)}"'
                         f' y="{_n(y_top)}" width="{_n(w * 0.7)}"'
                         f' height="{_n(y_bottom - y_top)}"><title>{escape(s.name)}, '
                         f'{escape(name)}: {escape(f.label(v))}</title></rect>')
            base += v
        parts.append(f'<text class="value" x="{_n(left + w / 2)}" y="{_n(f.y(base) - 3)}"'
                     f' text-anchor="middle">{escape(f.label(base))}</text>')
    parts += _legend([s.name for s in series], width, height)
    return _svg(title, parts, width, height)
