"""Server-side SVG charts: geometry checked on the parsed SVG, escaping, empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier.console.charts import (
    HEIGHT,
    Series,
    bar_chart,
    fmt,
    grouped_bar_chart,
    line_chart,
    nice_ticks,
    stacked_bar_chart,
)

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if "bar" in r.get("class", "")]


@pytest.mark.parametrize(("top", "ticks"), [
    (1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.37, [0, 0.1, 0.2, 0.3, 0.4]),
    (7, [0, 2, 4, 6, 8]),
    (100, [0, 20, 40, 60, 80, 100]),
    (0, [0, 1]),
])
def test_nice_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == pytest.approx(ticks)


def test_fmt() -> None:
    assert fmt(0.125, percent=True) == "12.5%"
    assert fmt(0.5, percent=True) == "50%"
    assert fmt(3.0) == "3"
    assert fmt(0.4213, unit="s") == "0.421 s"


def test_bar_heights_are_proportional_to_values() -> None:
    root = parse(bar_chart(["p50", "p95"], [0.5, 1.0], title="Reply latency", unit="s"))
    low, high = (float(r.get("height", "0")) for r in rects(root))
    assert high == pytest.approx(2 * low, abs=0.2)
    # the tooltip says the exact value
    assert [r.find(f"{NS}title").text for r in rects(root)] == [  # type: ignore[union-attr]
        "Reply latency, p50: 0.5 s", "Reply latency, p95: 1 s"]


def test_stacked_segments_sum_to_the_total_bar() -> None:
    labels = ["W1", "W2"]
    series = [Series("confirmed", (3, 1)), Series("no answer", (1, None)),
              Series("machine", (0, 3))]
    root = parse(stacked_bar_chart(labels, series, title="Outcomes"))
    bars = rects(root)
    assert len(bars) == 4  # zero and missing segments are not drawn
    w1 = [b for b in bars if "W1" in b.find(f"{NS}title").text]  # type: ignore[union-attr,operator]
    w2 = [b for b in bars if "W2" in b.find(f"{NS}title").text]  # type: ignore[union-attr,operator]
    h1 = sum(float(b.get("height", "0")) for b in w1)
    h2 = sum(float(b.get("height", "0")) for b in w2)
    assert h1 == pytest.approx(h2, abs=0.3)  # both totals are 4
    # segments stack: each starts where the one below ends
    lower, upper = sorted(w1, key=lambda b: -float(b.get("y", "0")))
    assert float(upper.get("y", "0")) + float(upper.get("height", "0")) == pytest.approx(
        float(lower.get("y", "0")), abs=0.2)
    totals = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "value"]
    assert totals == ["4", "4"]


def test_line_breaks_at_missing_values_and_marks_the_marker() -> None:
    labels = ["W1", "W2", "W3", "W4", "W5"]
    svg = line_chart(labels, [Series("reminded", (None, 0.2, 0.1, None, 0.05)),
                              Series("not reminded", (0.3, 0.25, 0.3, 0.28, 0.3))],
                     title="No-show rate", percent=True, marker=1, marker_text="reminders")
    root = parse(svg)
    lines = [p for p in root.iter(f"{NS}polyline")]
    # reminded: one run of two points (W2-W3); W5 stands alone as a dot only
    assert [len(p.get("points", "").split()) for p in lines] == [2, 5]
    assert len(list(root.iter(f"{NS}circle"))) == 3 + 5
    assert any(e.get("class") == "marker" for e in root.iter(f"{NS}line"))
    assert "30%" in svg


def test_caller_text_is_escaped() -> None:
    svg = grouped_bar_chart(["<script>alert(1)</script>"], [Series("a&b\"", (1,))],
                            title="</svg><img onerror=x>")
    assert "<script>" not in svg
    assert "<img" not in svg
    root = parse(svg)  # still well-formed XML
    assert root.get("aria-label") == "</svg><img onerror=x>"


@pytest.mark.parametrize("make", [
    lambda: line_chart([], [], title="t"),
    lambda: line_chart(["a"], [Series("x", (None,))], title="t"),
    lambda: bar_chart(["a"], [None], title="t"),
    lambda: stacked_bar_chart(["a"], [Series("x", (0,))], title="t"),
])
def test_no_data_says_so(make) -> None:  # type: ignore[no-untyped-def]
    assert "No data for this period" in make()


def test_wrong_lengths_and_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        line_chart(["a"], [Series("x", (1, 2))], title="t")
    with pytest.raises(ValueError, match="not finite"):
        Series("x", (float("nan"),))
    with pytest.raises(ValueError, match="negative"):
        bar_chart(["a"], [-1], title="t")


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e6)), min_size=1, max_size=40))
def test_every_mark_stays_inside_the_plot(values: list[float | None]) -> None:
    labels = [f"L{i}" for i in range(len(values))]
    for svg in (bar_chart(labels, values, title="t"),
                line_chart(labels, [Series("s", tuple(values))], title="t"),
                stacked_bar_chart(labels, [Series("s", tuple(values)),
                                           Series("u", tuple(values))], title="t")):
        root = parse(svg)
        for r in rects(root):
            y, h = float(r.get("y", "0")), float(r.get("height", "0"))
            assert h >= 0
            assert y >= 0
            assert y + h <= HEIGHT
        for c in root.iter(f"{NS}circle"):
            assert 0 <= float(c.get("cy", "0")) <= HEIGHT
