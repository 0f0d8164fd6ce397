"""Turning evidence into a control's status and statement (pure).

Every status is computed from evidence rows the pack carries, so `report verify` can
compute it again offline and compare:

    met          the data shows what the control asks the log to show
    attention    the data shows a shortfall, or shows only part (a gap, a missing input)
    not_covered  no data shows it; the control's `needs` says what would

A statement only repeats what the rows say, with their numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from auditstream.reports.frameworks import Control, Rule

MET: Final = "met"
ATTENTION: Final = "attention"
NOT_COVERED: Final = "not_covered"
STATUSES: Final = (MET, ATTENTION, NOT_COVERED)
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Evidence:
    """One evidence item as rules read it: rows, or why there are none."""

    name: str
    rows: Sequence[Row]
    available: bool = True
    unavailable: str = ""  # why the item could not be gathered


@dataclass(frozen=True)
class Context:
    start: dt.datetime
    end: dt.datetime
    generated: dt.datetime


@dataclass(frozen=True)
class Verdict:
    status: str
    statement: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "statement": self.statement, "figures": dict(self.figures)}


Evidences = Mapping[str, Evidence]


def evaluate(control: Control, evidence: Evidences, context: Context) -> Verdict:
    """The control's verdict from the evidence; gaps keep it from being met."""
    rule = control.rule
    missing = [evidence[n] for n in rule.evidence() if n in evidence and not evidence[n].available]
    if rule.kind != "limits" and missing:
        verdict = Verdict(NOT_COVERED, _sentence(missing[0].unavailable))
    else:
        verdict = KINDS[rule.kind](rule, evidence, context)
    if control.gaps:
        gaps = "Not shown by this data: " + "; ".join(control.gaps) + "."
        status = ATTENTION if verdict.status == MET else verdict.status
        verdict = Verdict(status, f"{verdict.statement} {gaps}".strip(), verdict.figures)
    return verdict


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def _n(value: Any) -> int:
    return int(value or 0)


def _count(value: int, noun: str, plural: str = "") -> str:
    return f"{value:,} {noun if value == 1 else plural or noun + 's'}"


def _when(value: Any) -> str:
    return str(value).replace("+00:00", "Z")[:20].rstrip(".")


def _rows(rule: Rule, evidence: Evidences, key: str = "evidence") -> Sequence[Row]:
    return evidence[str(rule.params[key])].rows


def _present(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    rows = _rows(rule, evidence)
    column = str(rule.params.get("count", "events"))
    at_least = rule.params.get("at_least", 1)
    total = sum(_n(row.get(column)) for row in rows)
    figures: dict[str, Any] = {column: total}
    if total == 0:
        return Verdict(NOT_COVERED, f"No {column} of this kind in the period.", figures)
    if len(rows) == 1 and "actors" in rows[0]:
        row = rows[0]
        figures |= {"actors": _n(row["actors"]), "failed": _n(row.get("failed"))}
        text = f"{_count(total, column[:-1])} in the period by {_count(_n(row['actors']), 'actor')}"
        if "failed" in row:
            text += f", {_n(row['failed']):,} not successful"
        text += f"; first {_when(row.get('first'))}, last {_when(row.get('last'))}."
    else:
        key = next(iter(rows[0]))
        shown = [f"{row[key]} ({row.get(column, 0):,})" for row in rows[:5]]
        more = f" and {len(rows) - 5:,} more" if len(rows) > 5 else ""
        figures[f"{key}s"] = len(rows)
        text = (
            f"{_count(total, column[:-1])} in the period by {_count(len(rows), key)}: "
            f"{', '.join(shown)}{more}."
        )
    if total < at_least:
        return Verdict(ATTENTION, f"{text} Fewer than the {at_least:,} expected.", figures)
    return Verdict(MET, text, figures)


def _share(part: int, whole: int) -> str:
    value = 100.0 * part / whole
    return "100%" if part == whole else f"{math.floor(value * 10) / 10:.1f}%"


def _shares(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    row = _rows(rule, evidence)[0]
    total = _n(row.get(str(rule.params.get("total", "events"))))
    columns = [str(c) for c in rule.params["columns"]]
    at_least = float(rule.params.get("at_least", 1.0))
    figures: dict[str, Any] = {"events": total} | {c: _n(row.get(c)) for c in columns}
    if total == 0:
        return Verdict(NOT_COVERED, "No events in the period.", figures)
    parts = [f"{c.replace('_', ' ')} {_share(_n(row.get(c)), total)}" for c in columns]
    below = [c for c in columns if _n(row.get(c)) < at_least * total]
    text = f"Of {_count(total, 'event')}: {', '.join(parts)}."
    if below:
        short = ", ".join(
            f"{c.replace('_', ' ')} ({total - _n(row.get(c)):,} without)" for c in below
        )
        return Verdict(ATTENTION, f"{text} Below {at_least:.0%}: {short}.", figures)
    return Verdict(MET, text, figures)


def _by_source(rows: Sequence[Row], source: str) -> list[Row]:
    return [row for row in rows if row.get("source") == source]


def _verified(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    rows = _rows(rule, evidence)
    stores = [row for row in rows if row.get("source") != "cross-check"]
    entries = sum(_n(row.get("entries")) for row in _by_source(rows, "clickhouse")) or sum(
        _n(row.get("entries")) for row in stores
    )
    chains = sorted({str(row["chain_id"]) for row in stores})
    figures: dict[str, Any] = {
        "chains": len(chains),
        "entries": entries,
        "checkpoints_verified": sum(_n(row.get("checkpoints_verified")) for row in stores),
        "findings": sum(_n(row.get("findings")) for row in rows),
    }
    if not entries:
        return Verdict(NOT_COVERED, "The store holds no entries of the tenant.", figures)
    sources = sorted({str(row["source"]) for row in stores})
    text = (
        f"{_count(entries, 'entry', 'entries')} of {_count(len(chains), 'chain')} verified from "
        f"{' and '.join(sources)} with the public checkpoint key only; "
        f"{_count(figures['checkpoints_verified'], 'signed checkpoint')} verified"
    )
    if any(row.get("macs_checked") for row in stores):
        text += ", MACs checked"
    uncovered = sorted(
        {str(row["chain_id"]) for row in stores if _n(row.get("checkpoints_verified")) == 0}
    )
    kinds = sorted({str(k) for row in rows for k in row.get("finding_kinds", [])})
    if figures["findings"]:
        text += f". {_count(figures['findings'], 'finding')}: {', '.join(kinds)}."
        return Verdict(ATTENTION, text, figures)
    if uncovered:
        text += f". No verified checkpoint covers chain {', '.join(uncovered[:5])} yet."
        return Verdict(ATTENTION, text, figures)
    return Verdict(MET, text + ". No findings.", figures)


def _archived(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    rows = _rows(rule, evidence)
    store = {str(r["chain_id"]): _n(r.get("entries")) for r in _by_source(rows, "clickhouse")}
    archive = {str(r["chain_id"]): _n(r.get("entries")) for r in _by_source(rows, "archive")}
    figures: dict[str, Any] = {"clickhouse": sum(store.values()), "archive": sum(archive.values())}
    if not archive:
        return Verdict(
            NOT_COVERED,
            "The archive was not verified with this report (no archive, or no entries of the "
            "tenant in it).",
            figures,
        )
    cross = _by_source(rows, "cross-check")
    mismatches = sum(_n(r.get("findings")) for r in cross)
    behind = {c: store[c] - archive.get(c, 0) for c in store if store[c] > archive.get(c, 0)}
    figures |= {"mismatches": mismatches, "behind": sum(behind.values())}
    text = (
        f"The archive holds {_count(figures['archive'], 'entry', 'entries')} of "
        f"{_count(len(archive), 'chain')}; ClickHouse {figures['clickhouse']:,}."
    )
    if mismatches:
        return Verdict(
            ATTENTION,
            f"{text} {_count(mismatches, 'mismatch', 'mismatches')} between them.",
            figures,
        )
    if behind:
        return Verdict(
            ATTENTION,
            f"{text} The archive is {figures['behind']:,} entries behind on "
            f"{_count(len(behind), 'chain')}.",
            figures,
        )
    return Verdict(MET, f"{text} Every entry is in both, identical.", figures)


def _locked(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    rows = _rows(rule, evidence)
    row = rows[0] if rows else {}
    kind = str(row.get("kind", "none"))
    objects, locked = _n(row.get("objects")), _n(row.get("locked"))
    figures: dict[str, Any] = {"objects": objects, "locked": locked}
    if kind == "none":
        return Verdict(NOT_COVERED, "No archive was given to the report.", figures)
    if kind == "file":
        return Verdict(
            NOT_COVERED,
            f"The archive {row.get('url', '')} is a folder of read-only files, which its "
            "host's administrator can change.",
            figures,
        )
    if row.get("bucket_lock") != "Enabled":
        return Verdict(ATTENTION, f"Bucket of {row.get('url')} has no Object Lock.", figures)
    if objects == 0:
        return Verdict(NOT_COVERED, "The archive holds no segments of the tenant.", figures)
    text = (
        f"Bucket of {row.get('url')} has Object Lock enabled; {locked:,} of "
        f"{_count(objects, 'archive object')} of the tenant are in COMPLIANCE mode until at "
        f"least their retain-until date"
    )
    if locked < objects:
        return Verdict(ATTENTION, f"{text}; {objects - locked:,} are not.", figures)
    return Verdict(MET, f"{text} (earliest {_when(row.get('earliest_until'))}).", figures)


def _days(later: dt.datetime, earlier: Any) -> float:
    then = dt.datetime.fromisoformat(str(earlier))
    then = then if then.tzinfo else then.replace(tzinfo=dt.UTC)
    return (later - then).total_seconds() / 86_400


def _retention(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    row = _rows(rule, evidence)[0]
    events, min_days = _n(row.get("events")), _n(row.get("min_days"))
    wanted = int(rule.params["min_days"])
    figures: dict[str, Any] = {"events": events, "min_days": min_days}
    if events == 0:
        return Verdict(NOT_COVERED, "No events in the period.", figures)
    classes = ", ".join(str(c) for c in row.get("classes", []))
    text = (
        f"Every one of the {_count(events, 'event')} is sealed with at least {min_days:,} "
        f"days of retention (classes {classes})"
    )
    problems = []
    if min_days < wanted:
        problems.append(f"some are kept only {min_days:,} days, fewer than {wanted:,}")
    tiers = evidence[str(rule.params["tiers"])].rows if "tiers" in rule.params else []
    online_days = int(rule.params.get("online_days", 0))
    if tiers and _n(tiers[0].get("with_content")):
        tier = tiers[0]
        age = _days(context.generated, tier["oldest_online"])
        figures["online_days"] = math.floor(age)
        text += (
            f"; ClickHouse holds content back to {_when(tier['oldest_online'])} "
            f"({math.floor(age):,} days) and rows back to {_when(tier['oldest_row'])}"
        )
        expired = str(tier["oldest_online"]) > str(tier["oldest_row"])
        if online_days and expired and age < online_days:
            problems.append(f"only {math.floor(age):,} days are immediately available")
    archive = evidence.get("archive")
    if archive is not None and archive.rows and archive.rows[0].get("oldest_segment"):
        text += f"; the archive's oldest segment starts {_when(archive.rows[0]['oldest_segment'])}"
    if problems:
        return Verdict(ATTENTION, f"{text}. But {'; '.join(problems)}.", figures)
    return Verdict(MET, text + ".", figures)


def _cadence(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    rows = _rows(rule, evidence)
    every = int(rule.params["every_days"])
    reviewed = {dt.date.fromisoformat(str(row["day"])[:10]) for row in rows}
    first = context.start.date()
    last = (context.end - dt.timedelta(microseconds=1)).date()
    windows = []
    day = first
    while day <= last:
        windows.append((day, min(day + dt.timedelta(days=every - 1), last)))
        day += dt.timedelta(days=every)
    empty = [w for w in windows if not any(w[0] <= d <= w[1] for d in reviewed)]
    figures: dict[str, Any] = {
        "windows": len(windows),
        "reviewed": len(windows) - len(empty),
        "reads": sum(_n(row.get("reads")) for row in rows),
    }
    if not reviewed:
        return Verdict(NOT_COVERED, "No review recorded in the period.", figures)
    unit = "day" if every == 1 else f"{every}-day window"
    text = (
        f"{_count(figures['reads'], 'answered read')} on {_count(len(reviewed), 'day')}; "
        f"a review in {figures['reviewed']:,} of {_count(len(windows), unit)} of the period"
    )
    if empty:
        missing = ", ".join(f"{a.isoformat()}" for a, _ in empty[:5])
        more = f" and {len(empty) - 5:,} more" if len(empty) > 5 else ""
        return Verdict(ATTENTION, f"{text}; none in the {unit}s from {missing}{more}.", figures)
    return Verdict(MET, text + ".", figures)


def _limits(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    shown: list[str] = []
    failed: list[str] = []
    unknown: list[str] = []
    figures: dict[str, Any] = {}
    for check in rule.params["checks"]:
        item = evidence[str(check["evidence"])]
        label, column, limit = str(check["label"]), str(check["column"]), check["at_most"]
        if not item.available:
            unknown.append(f"{label}: {item.unavailable.rstrip('.')}")
            continue
        if (
            not item.rows
            or ("events" in item.rows[0] and not _n(item.rows[0]["events"]))
            or ("chains" in item.rows[0] and not _n(item.rows[0]["chains"]))
        ):
            unknown.append(f"{label}: no data in the period")
            continue
        value = sum(_n(row.get(column)) for row in item.rows)
        figures[column] = value
        (failed if value > limit else shown).append(f"{label} {value:,} (at most {limit:,})")
    parts = []
    if shown:
        parts.append("Within limits: " + "; ".join(shown) + ".")
    if failed:
        parts.append("Over the limit: " + "; ".join(failed) + ".")
    if unknown:
        parts.append("Not shown: " + "; ".join(unknown) + ".")
    text = " ".join(parts)
    if failed or (unknown and shown):
        return Verdict(ATTENTION, text, figures)
    if unknown:
        return Verdict(NOT_COVERED, text, figures)
    return Verdict(MET, text, figures)


def _not_covered(rule: Rule, evidence: Evidences, context: Context) -> Verdict:
    return Verdict(NOT_COVERED, "Nothing auditstream records shows this.")


KINDS: Final[Mapping[str, Callable[[Rule, Evidences, Context], Verdict]]] = {
    "present": _present,
    "shares": _shares,
    "verified": _verified,
    "archived": _archived,
    "locked": _locked,
    "retention": _retention,
    "cadence": _cadence,
    "limits": _limits,
    "not_covered": _not_covered,
}
