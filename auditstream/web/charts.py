"""Bar charts per day for the named queries that read better as a picture (pure).

A chart is geometry only: rectangles, axis labels and a legend, which the console's
template draws as inline SVG (no script, no inline style; every label is escaped by
the template like any stored string).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 760.0, 240.0
LEFT, BOTTOM, TOP = 56.0, 28.0, 8.0
PALETTE = (
    "#2f6db5", "#e08a1e", "#3a9e5c", "#c8423b", "#8461b8",
    "#8c5a44", "#d16fae", "#6f7780", "#b3b32d", "#2aa8b8",
)  # fmt: skip
MAX_SERIES = len(PALETTE) - 1  # the rest is drawn as one "other"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_labels: tuple[tuple[float, str], ...]
    legend: tuple[tuple[str, str], ...]
    width: float = WIDTH
    height: float = HEIGHT


# Which named queries get a chart: (title, the series column or None, value columns).
CHARTS: Mapping[str, tuple[str, str | None, tuple[str, ...]]] = {
    "events_per_day": ("Events per day by type", "event_type", ("events",)),
    "guardrail_denials_per_day": ("Guardrail denials per day", None, ("denials",)),
    "model_tokens_per_day": ("Model tokens per day", None, ("input_tokens", "output_tokens")),
}


def chart_for(name: str, rows: Sequence[Mapping[str, Any]]) -> Chart | None:
    """The chart of a named query's rows (day, [series,] values), or None."""
    spec = CHARTS.get(name)
    if spec is None or not rows:
        return None
    title, series_column, values = spec
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        day = str(row["day"])
        for value in values:
            series = str(row[series_column]) if series_column else value
            per_day[day][series] += float(row[value] or 0)
    return stacked(title, per_day)


def stacked(title: str, per_day: Mapping[str, Mapping[str, float]]) -> Chart:
    totals: dict[str, float] = defaultdict(float)
    for values in per_day.values():
        for series, value in values.items():
            totals[series] += value
    ranked = sorted(totals, key=lambda s: (-totals[s], s))
    shown = ranked[:MAX_SERIES] if len(ranked) > MAX_SERIES + 1 else ranked
    colors = {series: PALETTE[i] for i, series in enumerate(shown)}
    days = sorted(per_day)
    top = max((sum(v.values()) for v in per_day.values()), default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / len(days)
    bars = []
    for i, day in enumerate(days):
        y = TOP + plot_h
        values = per_day[day]
        stack = [(s, values.get(s, 0.0)) for s in shown]
        other = sum(v for s, v in values.items() if s not in colors)
        if other:
            stack.append(("other", other))
        for series, value in stack:
            if not value:
                continue
            height = value / top * plot_h
            y -= height
            color = colors.get(series, PALETTE[-1])
            label = f"{day} {series}: {_number(value)}"
            bars.append(Bar(LEFT + i * step + step * 0.1, y, step * 0.8, height, color, label))
    every = max(1, -(-len(days) // 8))  # at most 8 labels
    one_year = len({day[:4] for day in days}) == 1
    x_labels = tuple(
        (LEFT + i * step + step / 2, day[5:] if one_year else day)
        for i, day in enumerate(days)
        if i % every == 0
    )
    y_labels = tuple((TOP + plot_h * (1 - f), _number(top * f)) for f in (0.0, 0.5, 1.0))
    legend = [(colors[s], s) for s in shown]
    if len(shown) < len(ranked):
        legend.append((PALETTE[-1], "other"))
    return Chart(title, tuple(bars), x_labels, y_labels, tuple(legend))


def _number(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"
