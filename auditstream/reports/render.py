"""Rendering a pack for people: charts (matplotlib), Markdown and HTML (Jinja2
templates), PDF (WeasyPrint, from the HTML). Needs the `reports` extra.

Everything rendered comes from report.json and the evidence items, so a rendering says
nothing the signed data does not.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from auditstream.errors import ConfigError
from auditstream.reports.evidence import Item

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
COLORS: Final = {"met": "#2e7d32", "attention": "#ef8f00", "not_covered": "#9e9e9e"}
LABELS: Final = {"met": "met", "attention": "attention", "not_covered": "not covered"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except (ImportError, OSError) as exc:  # WeasyPrint raises OSError without pango
        raise ConfigError(
            f"rendering needs {module} ({exc}); install the reports extra: "
            "pip install 'auditstream[reports]' (PDF also needs Debian's libpango-1.0-0)"
        ) from exc


def _figure(width: float, height: float) -> Any:
    _need("matplotlib")
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def events_chart(doc: Mapping[str, Any], items: Mapping[str, Item]) -> bytes:
    """Events over time: one line per control that counts events."""
    figure = _figure(8.0, 3.6)
    axes = figure.add_subplot()
    drawn = 0
    labels: dict[str, list[str]] = {}
    for control in doc["controls"]:
        labels.setdefault(control["rule_evidence"], []).append(control["id"])
    for name, ids in labels.items():
        series = items.get(f"{name}.over_time")
        if series is None or not series.rows:
            continue
        times = [_time(str(row["bucket"])) for row in series.rows]
        counts = [int(row["events"]) for row in series.rows]
        axes.plot(times, counts, marker="o", markersize=3, label=", ".join(ids))
        drawn += 1
    axes.set_xlim(_time(doc["period"]["from"]), _time(doc["period"]["to"]))
    unit = "hour" if doc["period"]["bucket"] == "1 HOUR" else "day"
    axes.set_title(f"Events per {unit}, by the controls that count them")
    axes.set_ylabel("events")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=7, ncol=3)
    else:
        axes.text(
            0.5, 0.5, "no events counted by these controls", ha="center", transform=axes.transAxes
        )
    figure.autofmt_xdate()
    return _png(figure)


HEADLINES: Final = ("events", "reads", "entries", "objects", "windows")


def _headline(control: Mapping[str, Any]) -> str:
    figures = control.get("figures", {})
    keys = [k for k in HEADLINES if k in figures] or [
        k for k, v in figures.items() if isinstance(v, int)
    ]
    return f"{figures[keys[0]]:,} {keys[0].replace('_', ' ')}" if keys else ""


def coverage_chart(doc: Mapping[str, Any]) -> bytes:
    """The coverage matrix: one row per control, coloured by status, with its count."""
    controls = doc["controls"]
    figure = _figure(8.0, 0.6 + 0.32 * len(controls))
    axes = figure.add_subplot()
    for row, control in enumerate(reversed(controls)):
        status = control["status"]
        axes.barh(row, 1, color=COLORS[status])
        text = f"{LABELS[status]}   {_headline(control)}"
        flagged = status != "met" and _headline(control).startswith("0 ")
        axes.text(0.02, row, text + ("   (zero: flagged)" if flagged else ""), va="center",
                  color="white", fontsize=8, fontweight="bold")  # fmt: skip
    axes.set_yticks(range(len(controls)), [c["id"] for c in reversed(controls)], fontsize=8)
    axes.set_xticks([])
    axes.set_xlim(0, 1)
    axes.set_title(f"{doc['framework']['name']} coverage, tenant {doc['tenant']}")
    return _png(figure)


def charts(doc: dict[str, Any], items: Mapping[str, Item]) -> dict[str, bytes]:
    return {
        "charts/coverage.png": coverage_chart(doc),
        "charts/events-over-time.png": events_chart(doc, items),
    }


def md_escape(value: Any) -> str:
    """Text safe inside Markdown (and a Markdown table cell)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\n", " ")


def _environment(autoescape: bool) -> Any:
    jinja2 = _need("jinja2")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.globals["labels"] = LABELS
    env.globals["colors"] = COLORS
    return env


def documents(doc: dict[str, Any], folder: Path, formats: frozenset[str]) -> dict[str, bytes]:
    """report.md, report.html and report.pdf as asked; the PDF is rendered from the HTML
    with the pack folder as its base (for the charts)."""
    found: dict[str, bytes] = {}
    if "md" in formats:
        found["report.md"] = (
            _environment(False).get_template("report.md.j2").render(doc=doc).encode()
        )
    if formats & {"html", "pdf"}:
        html = _environment(True).get_template("report.html.j2").render(doc=doc)
        if "html" in formats:
            found["report.html"] = html.encode()
        if "pdf" in formats:
            html_document = pdf_renderer().HTML(string=html, base_url=str(folder))
            found["report.pdf"] = html_document.write_pdf()
    return found


def pdf_renderer() -> Any:
    """The WeasyPrint module; ConfigError when it (or Debian's pango) is missing."""
    return _need("weasyprint")
