"""How commands show results to people: tables, CSV and JSON of rows, and the
verification report."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, TextIO

from auditstream.verification.run import CROSS_CHECK, Report


def render(rows: list[dict[str, Any]], form: str) -> str:
    if form == "json":
        return json.dumps(rows, indent=2, default=str)
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    if form == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        return out.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [min(48, max(len(c), *(len(r[i]) for r in cells))) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def print_report(report: Report, out: TextIO) -> None:
    """The human-readable report: one line per chain and source, then the verdict."""
    for chain in report.chains:
        r = chain.report
        state = "ok" if r.ok else "TAMPERED"
        if chain.source == CROSS_CHECK:
            what = f"{r.entries} entries compared"
        else:
            span = f"seq {r.first_seq}..{r.last_seq}" if r.first_seq is not None else "no entries"
            what = f"{r.entries} entries ({span}), {r.checkpoints_verified} checkpoints verified"
            if r.content_removed:
                what += f", {r.content_removed} with content removed"
        print(f"{state:8} {chain.source:11} {r.chain_id}: {what}", file=out)
        for finding in r.tamper_findings():
            print(f"         {finding.kind} at seq {finding.seq}: {finding.detail}", file=out)
        if r.findings_dropped:
            print(f"         ... and {r.findings_dropped} more findings", file=out)
    for chain_id, lag in sorted(report.lag.items()):
        print(
            f"note     {chain_id}: {lag} newest entries are in only one store (a sink behind)",
            file=out,
        )
    findings = report.findings()
    verdict = "INTACT" if report.ok else f"TAMPERING FOUND ({len(findings)} findings)"
    print(
        f"{verdict}: {report.entries} entries, "
        f"{len({c.report.chain_id for c in report.chains})} chains, "
        f"sources {' + '.join(report.sources)}, {report.content_removed} with content removed "
        f"by retention, {report.seconds:.1f} s",
        file=out,
    )
    if report.erasures:
        ids = ", ".join(e.erasure.erasure_id for e in report.erasures)
        print(
            f"ERASED   {report.entries_erased} entries erased on request, not tampering "
            f"({len(report.erasures)} erasures; receipts {ids})",
            file=out,
        )
    print_completeness(report, out)


def print_completeness(report: Report, out: TextIO) -> None:
    """Per producer stream: what never reached the chain, and silences the worker sealed."""
    for p in report.producers:
        where = f"producer {p.producer_id} on {p.chain_id}"
        for first, last in p.gaps:
            span = str(first) if first == last else f"{first}..{last}"
            told = "reported by the worker" if (first, last) in p.reported else "NOT reported"
            print(f"GAP      {where}: seq {span} never sealed ({told})", file=out)
        for first, last in p.unknown:
            print(f"note     {where}: seq {first}..{last} unverifiable (content removed)", file=out)
        if p.silent_reports:
            print(f"SILENT   {where}: fell silent {p.silent_reports} time(s)", file=out)
    if not report.producers:
        return
    missing = sum(p.missing for p in report.producers)
    verdict = "COMPLETE" if report.complete else f"INCOMPLETE ({missing} events never sealed)"
    chains = len({p.chain_id for p in report.producers})
    print(
        f"{verdict}: {len(report.producers)} producer streams on {chains} chains, "
        f"{sum(p.events for p in report.producers)} numbered events",
        file=out,
    )
