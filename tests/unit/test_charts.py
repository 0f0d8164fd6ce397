"""Per-day charts: bars stack to each day's total, the largest day fills the plot, the
series beyond the palette are drawn as one "other", and labels stay readable."""

from __future__ import annotations

import pytest

from auditstream.web import charts


def rows(days: int, types: int) -> list[dict[str, object]]:
    return [
        {"day": f"2026-11-{d + 1:02d}", "event_type": f"T{t}", "events": (d + 1) * (t + 1)}
        for d in range(days)
        for t in range(types)
    ]


def test_bars_stack_to_the_day_totals_and_the_largest_day_fills_the_plot() -> None:
    chart = charts.chart_for("events_per_day", rows(5, 3))
    assert chart is not None
    plot = charts.HEIGHT - charts.BOTTOM - charts.TOP
    heights: dict[float, float] = {}
    for bar in chart.bars:
        heights[bar.x] = heights.get(bar.x, 0.0) + bar.height
    totals = [sum((d + 1) * (t + 1) for t in range(3)) for d in range(5)]
    assert list(heights.values()) == pytest.approx([plot * t / max(totals) for t in totals])
    assert {name for _, name in chart.legend} == {"T0", "T1", "T2"}


def test_series_beyond_the_palette_become_other_and_labels_are_at_most_eight() -> None:
    chart = charts.chart_for("events_per_day", rows(30, 14))
    assert chart is not None
    names = [name for _, name in chart.legend]
    assert len(names) == charts.MAX_SERIES + 1 and names[-1] == "other"
    assert names[0] == "T13"  # the largest series first
    assert len(chart.x_labels) <= 8 and chart.x_labels[0][1] == "11-01"


def test_two_value_columns_and_queries_without_a_chart() -> None:
    chart = charts.chart_for(
        "model_tokens_per_day", [{"day": "2026-11-01", "input_tokens": 30, "output_tokens": 10}]
    )
    assert chart is not None
    assert [bar.label for bar in chart.bars] == [
        "2026-11-01 input_tokens: 30", "2026-11-01 output_tokens: 10",
    ]  # fmt: skip
    assert charts.chart_for("failed_logins", [{"actor_id": "a"}]) is None
    assert charts.chart_for("events_per_day", []) is None
