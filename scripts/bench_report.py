"""Render bench results (the list in bench/results.json) as report.md and PNG charts.

    report.md        date, machine, one table row per figure, failed benches, details
    throughput.png   value against ceiling (and goal) for every per-second figure
    latency.png      percentiles (p50/median, p99, ..., max) of every timed figure,
                     only when some result holds percentiles

The tables need only the standard library. The charts need matplotlib (the `bench`
extra), imported only when drawing; without it the report is written without charts.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT = "report.md"
THROUGHPUT_PNG = "throughput.png"
LATENCY_PNG = "latency.png"
INSTALL_HINT = "pip install 'auditstream[bench]', or pip install matplotlib"

# Milliseconds per unit, for putting latencies on one axis.
TIME_UNITS: Mapping[str, float] = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3}
# <base>_<statistic>_<unit>, e.g. producer_call_p99_us, query_failed_logins_median_ms.
LATENCY_NAME = re.compile(
    r"^(?P<base>.+)_(?P<stat>p\d+(?:\.\d+)?|median|mean|min|max)_(?P<unit>ns|us|µs|ms|s)$"
)
PERCENTILE = re.compile(r"^(p\d+(?:\.\d+)?|median)$")
RESULT_KEYS = frozenset({"bench", "machine", "date", "figures", "error", "stderr", "elapsed_s"})


class MatplotlibMissingError(ImportError):
    """matplotlib is not installed, so no chart can be drawn."""


@dataclass(frozen=True)
class Row:
    """One figure of one bench."""

    bench: str
    figure: str
    value: float
    unit: str
    ceiling: float | None
    goal: float | None
    higher_is_better: bool

    @property
    def ratio(self) -> float | None:
        """value / ceiling, in the figure's own direction (see `higher_is_better`)."""
        return self.value / self.ceiling if self.ceiling else None

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    @property
    def is_throughput(self) -> bool:
        return self.unit.endswith("/s")


@dataclass(frozen=True)
class Latency:
    """One statistic of one timed operation, in milliseconds."""

    bench: str
    base: str
    stat: str
    ms: float
    ceiling_ms: float | None = None
    goal_ms: float | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def rows(results: Iterable[Mapping[str, Any]]) -> list[Row]:
    out = []
    for result in results:
        for name, fig in (result.get("figures") or {}).items():
            value = _number(fig.get("value"))
            if value is None:
                continue
            out.append(
                Row(
                    bench=str(result.get("bench", "?")),
                    figure=name,
                    value=value,
                    unit=str(fig.get("unit", "")),
                    ceiling=_number(fig.get("ceiling")),
                    goal=_number(fig.get("goal")),
                    higher_is_better=bool(fig.get("higher_is_better", True)),
                )
            )
    return out


def latencies(results: Iterable[Mapping[str, Any]]) -> list[Latency]:
    """Timed statistics from figures and from extra top-level keys of each result."""
    out = []
    for result in results:
        bench = str(result.get("bench", "?"))
        for name, fig in (result.get("figures") or {}).items():
            match = LATENCY_NAME.match(name)
            unit = str(fig.get("unit", ""))
            value = _number(fig.get("value"))
            if match is None or unit not in TIME_UNITS or value is None:
                continue
            scale = TIME_UNITS[unit]
            ceiling, goal = _number(fig.get("ceiling")), _number(fig.get("goal"))
            out.append(
                Latency(
                    bench,
                    match["base"],
                    match["stat"],
                    value * scale,
                    None if ceiling is None else ceiling * scale,
                    None if goal is None else goal * scale,
                )
            )
        for name, raw in result.items():
            match = LATENCY_NAME.match(name)
            value = _number(raw)
            if name in RESULT_KEYS or match is None or value is None:
                continue
            out.append(
                Latency(bench, match["base"], match["stat"], value * TIME_UNITS[match["unit"]])
            )
    return out


def has_percentiles(found: Iterable[Latency]) -> bool:
    return any(PERCENTILE.match(item.stat) for item in found)


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    size = abs(value)
    if size >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _goal(row: Row) -> str:
    if row.goal is None:
        return "—"
    return ("≥ " if row.higher_is_better else "≤ ") + fmt(row.goal)


def _met(row: Row) -> str:
    return {None: "—", True: "yes", False: "**no**"}[row.met]


def _dates(results: Sequence[Mapping[str, Any]]) -> str:
    dates = sorted({str(r["date"]) for r in results if r.get("date")})
    if not dates:
        return "unknown"
    return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"


def render_markdown(
    results: Sequence[Mapping[str, Any]],
    charts: Sequence[str],
    chart_note: str = "",
    source: str = "results.json",
    now: dt.datetime | None = None,
) -> str:
    """The report as Markdown; `charts` are file names next to it."""
    now = now or dt.datetime.now(dt.UTC)
    machines = sorted({str(r["machine"]) for r in results if r.get("machine")})
    table = rows(results)
    failed = [r for r in results if "error" in r]
    lines = [
        "# Benchmark report",
        "",
        f"- Run: {_dates(results)}",
        f"- Machine: {'; '.join(machines) or 'unknown'}",
        f"- Benches: {len(results)} ({len(failed)} failed), figures: {len(table)}",
        f"- Rendered {now.isoformat(timespec='seconds')} from `{source}` by `scripts/run_bench.py`",
        "",
        "`ceiling` is the best achievable figure for the same work measured in the same run "
        "(DESIGN.md §9); `ratio` is value / ceiling. For higher-is-better figures (goal `≥`) "
        "a ratio near 1 means little overhead over the ceiling; for lower-is-better figures "
        "(goal `≤`) the ratio is how many times the ceiling the value is.",
        "",
        "| bench | figure | value | unit | ceiling | ratio | goal | met? |",
        "|---|---|--:|---|--:|--:|--:|:-:|",
    ]
    for row in table:
        ratio = "—" if row.ratio is None else f"{row.ratio:.3g}"
        lines.append(
            f"| {row.bench} | `{row.figure}` | {fmt(row.value)} | {row.unit} | "
            f"{fmt(row.ceiling)} | {ratio} | {_goal(row)} | {_met(row)} |"
        )
    if not table:
        lines.append("| — | — | — | — | — | — | — | — |")
    with_goal = [row for row in table if row.met is not None]
    if with_goal:
        met = sum(1 for row in with_goal if row.met)
        lines += ["", f"Goals met: {met} of {len(with_goal)}."]
    lines.append("")
    if charts or chart_note:
        lines += ["## Charts", ""]
        for name in charts:
            lines += [f"![{Path(name).stem}]({name})", ""]
        if chart_note:
            lines += [chart_note, ""]
    if failed:
        lines += ["## Failed benches", ""]
        for result in failed:
            tail = str(result.get("stderr", "")).strip().splitlines()[-15:]
            lines += [f"### {result.get('bench', '?')} (exit {result['error']})", ""]
            lines += ["```text", *tail, "```", ""]
    details = []
    for result in results:
        extra = {k: v for k, v in result.items() if k not in RESULT_KEYS}
        elapsed = result.get("elapsed_s")
        if extra or elapsed is not None:
            parts = [f"{k}={v}" for k, v in extra.items()]
            took = f" ({elapsed} s)" if elapsed is not None else ""
            details.append(f"- **{result.get('bench', '?')}**{took}: {', '.join(parts) or '—'}")
    if details:
        lines += ["## Details", "", *details, ""]
    return "\n".join(lines)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MatplotlibMissingError(str(exc)) from exc
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def draw_throughput(table: Sequence[Row], path: Path) -> None:
    """Horizontal bars per figure: value and ceiling on a log axis, goal as a mark."""
    plt = _pyplot()
    items = [row for row in table if row.is_throughput and row.value > 0]
    labels = [f"{row.bench}: {row.figure}\n({row.unit})" for row in items]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.75 * len(items)))
    height = 0.38
    ys = range(len(items))
    ax.barh(
        [y - height / 2 for y in ys],
        [row.value for row in items],
        height,
        label="value",
        color="#1f77b4",
    )
    ceilings = [(y, row.ceiling) for y, row in zip(ys, items, strict=True) if row.ceiling]
    if ceilings:
        ax.barh(
            [y + height / 2 for y, _ in ceilings],
            [c for _, c in ceilings],
            height,
            label="ceiling",
            color="#c7c7c7",
        )
    goals = [(y, row.goal) for y, row in zip(ys, items, strict=True) if row.goal]
    if goals:
        ax.scatter(
            [g for _, g in goals],
            [y for y, _ in goals],
            marker="|",
            s=500,
            linewidths=2.5,
            color="#d62728",
            label="goal",
            zorder=3,
        )
    _finish(plt, fig, ax, list(ys), labels, "per second", "Throughput: value against ceiling", path)


def _stat_order(stat: str) -> tuple[int, float]:
    if stat == "min":
        return (0, 0.0)
    if stat == "median":
        return (1, 50.0)
    if stat == "mean":
        return (1, 50.5)
    if stat.startswith("p"):
        return (1, float(stat[1:]))
    return (2, 0.0)  # max


def _once(label: str, seen: set[str]) -> str | None:
    """The legend label the first time it is used, then None (one legend entry)."""
    if label in seen:
        return None
    seen.add(label)
    return label


def draw_latency(found: Sequence[Latency], path: Path) -> None:
    """Per timed operation, one bar per statistic (ms, log axis); ceilings and goals
    as marks where a figure has them. A median is drawn as p50."""
    plt = _pyplot()
    groups: dict[tuple[str, str], dict[str, Latency]] = {}
    for item in found:
        if item.ms > 0:
            stat = "p50" if item.stat == "median" else item.stat
            groups.setdefault((item.bench, item.base), {})[stat] = item
    stats = sorted({stat for items in groups.values() for stat in items}, key=_stat_order)
    palette = plt.get_cmap("viridis")
    color = {stat: palette(i / max(len(stats) - 1, 1)) for i, stat in enumerate(stats)}
    count = sum(len(items) for items in groups.values())
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.32 * count + 0.3 * len(groups)))
    labels = []
    labelled: set[str] = set()
    for y, ((bench, base), items) in enumerate(groups.items()):
        labels.append(f"{bench}: {base}")
        mine = sorted(items, key=_stat_order)
        height = 0.8 / len(mine)
        for i, stat in enumerate(mine):
            item = items[stat]
            offset = y - 0.4 + height * (i + 0.5)
            ax.barh(offset, item.ms, height, color=color[stat], label=_once(stat, labelled))
            if item.ceiling_ms:
                ax.scatter(
                    item.ceiling_ms,
                    offset,
                    marker="D",
                    s=28,
                    facecolors="none",
                    edgecolors="black",
                    zorder=3,
                    label=_once("ceiling", labelled),
                )
            if item.goal_ms:
                ax.scatter(
                    item.goal_ms,
                    offset,
                    marker="|",
                    s=200,
                    linewidths=2.5,
                    color="#d62728",
                    zorder=3,
                    label=_once("goal", labelled),
                )
    ys = list(range(len(labels)))
    _finish(plt, fig, ax, ys, labels, "milliseconds", "Latency by statistic", path)


def _finish(
    plt: Any, fig: Any, ax: Any, ys: list[int], labels: list[str], unit: str, title: str, path: Path
) -> None:
    """Log-scale x axis, one labelled row per y, legend outside; save and close."""
    ax.set_xscale("log")
    ax.set_yticks(ys, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} (log scale)")
    ax.set_title(title)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: Sequence[Mapping[str, Any]], out_dir: Path, source: str) -> list[Path]:
    """Write report.md and the charts into `out_dir`; returns the files written.

    Without matplotlib, prints why on stderr and writes report.md without charts.
    """
    table = rows(results)
    found = latencies(results)
    charts: list[str] = []
    note = ""
    written: list[Path] = []
    try:
        if any(row.is_throughput and row.value > 0 for row in table):
            draw_throughput(table, out_dir / THROUGHPUT_PNG)
            charts.append(THROUGHPUT_PNG)
        if has_percentiles(found):
            draw_latency(found, out_dir / LATENCY_PNG)
            charts.append(LATENCY_PNG)
    except MatplotlibMissingError:
        charts = []
        note = f"_Charts not rendered: matplotlib is not installed ({INSTALL_HINT})._"
        print(
            f"matplotlib is not installed, so no charts were drawn: {INSTALL_HINT}", file=sys.stderr
        )
    written += [out_dir / name for name in charts]
    report = out_dir / REPORT
    report.write_text(render_markdown(results, charts, note, source), encoding="utf-8")
    written.insert(0, report)
    return written
