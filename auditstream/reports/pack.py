"""Building an evidence pack: gather the evidence, compute each control's verdict,
sample events for inclusion proofs, render, sign the manifest, write the folder.

    MANIFEST                       signed note: SHA-256 of every other file
    report.json                    framework, tenant, period, versions, verdicts, index
    report.md  report.html  report.pdf   the same, for people (as asked)
    charts/*.png                   events over time per control; the coverage matrix
    evidence/<item>.json (.sql)    each query's SQL, parameters, rows and rows' SHA-256
    evidence/verification-report.json   the full verification report of the tenant's chains
    evidence/checkpoints.json      the newest signed checkpoint of each chain
    evidence/proofs/<query>/<event>.json   inclusion proofs of the sampled events
    evidence/framework.toml  evidence/queries.toml  evidence/policy.toml   as used

The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from auditstream import __version__
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import ConfigError
from auditstream.reports import manifest, sources
from auditstream.reports.evidence import Item
from auditstream.reports.frameworks import Catalog, Control, Framework
from auditstream.reports.queries import Runner, Scope
from auditstream.reports.rules import STATUSES, Context, Verdict, evaluate
from auditstream.verification.run import Report

FORMAT: Final = "auditstream.evidence-pack.v1"
FORMATS: Final = ("md", "html", "pdf", "json")
OVERSAMPLE: Final = 4  # sampled rows per proof wanted: the newest may lack a checkpoint yet
PACKAGES: Final = (
    "cryptography",
    "clickhouse-connect",
    "chdb",
    "jinja2",
    "matplotlib",
    "weasyprint",
)


@dataclass(frozen=True)
class PackOptions:
    framework: Framework
    catalog: Catalog
    catalog_text: str
    scope: Scope
    policy_text: str
    policy_version: str
    seed: int
    sample_size: int = 3
    formats: frozenset[str] = frozenset({"json"})


@dataclass(frozen=True)
class Stores:
    client: ClickHouseClient
    verifiers: Sequence[NoteVerifier]  # checkpoint public keys, from the caller
    archive: sources.Archive | None = None
    dead_letters: Item = field(
        default_factory=lambda: sources.dead_letters_unread(
            "the dead-letter topic was not read (auditstream report --dead-letters)"
        )
    )
    described: str = ""  # the store as the report names it (no credentials)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


def _software(client: ClickHouseClient) -> dict[str, str]:
    found = {"auditstream": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["clickhouse"] = str(client.query("SELECT version()").result_rows[0][0])
    return found


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


class Builder:
    def __init__(self, options: PackOptions, stores: Stores, now: dt.datetime) -> None:
        self.options = options
        self.stores = stores
        self.now = now
        self.runner = Runner(stores.client, options.scope)
        self.items: dict[str, Item] = {}
        self.files: dict[str, bytes] = {}

    def gather(self) -> Report:
        options, stores = self.options, self.stores
        report, item = sources.verification(
            stores.client,
            options.scope.database,
            stores.archive,
            options.scope.tenant,
            stores.verifiers,
        )
        self.items["verification"] = item
        self.items["archive"] = sources.archive_state(stores.archive, options.scope.tenant)
        self.items["dead_letters"] = stores.dead_letters
        charts = bool(options.formats - {"json"})
        for name in ["all_events", *options.framework.evidence()]:
            query = options.catalog.queries.get(name)
            if query is None or name in self.items:
                continue
            self.items[name] = self.runner.result(query)
            if charts and query.over_time:
                self.items[f"{name}.over_time"] = self.runner.over_time(query)
        return report

    def sample(self, covered: Mapping[str, int]) -> dict[str, list[str]]:
        """Per sampled query, the proof files of its chosen events."""
        options = self.options
        chosen: dict[str, list[tuple[str, str]]] = {}
        for name in dict.fromkeys(c.sample for c in options.framework.controls if c.sample):
            item = self.runner.sample(
                options.catalog.queries[name], options.seed, options.sample_size * OVERSAMPLE
            )
            self.items[item.name] = item
            rows = [r for r in item.rows if int(r["seq"]) < covered.get(str(r["chain_id"]), 0)]
            chosen[name] = [(str(r["chain_id"]), str(r["event_id"])) for r in rows][
                : options.sample_size
            ]
        source = sources.CachingProofSource(self.stores.client, options.scope.database)
        bundles = sources.inclusion_proofs(
            source, [pair for pairs in chosen.values() for pair in pairs], options.scope.tenant
        )
        paths: dict[str, list[str]] = {}
        for name, pairs in chosen.items():
            paths[name] = []
            for _, event_id in pairs:
                path = f"evidence/proofs/{slug(name)}/{slug(event_id)}.json"
                self.files[path] = _json(bundles[event_id])
                paths[name].append(path)
        checkpoints = sources.newest_checkpoints(source, covered)
        self.files["evidence/checkpoints.json"] = _json({"checkpoints": checkpoints})
        return paths

    def control(self, control: Control, verdict: Verdict, proofs: list[str]) -> dict[str, Any]:
        return {
            "id": control.id,
            "title": control.title,
            "records": control.records,
            "needs": control.needs,
            "gaps": list(control.gaps),
            "matrix": control.matrix,
            "rule": control.rule.kind,
            "rule_evidence": str(control.rule.params.get("evidence", "")),
            **verdict.to_json(),
            "evidence": control.rule.evidence(),
            "sample": control.sample,
            "proofs": proofs,
        }

    def document(self, report: Report) -> dict[str, Any]:
        options, stores = self.options, self.stores
        covered = {
            c.report.chain_id: c.report.covered_size
            for c in report.chains
            if c.source == "clickhouse"
        }
        proofs = self.sample(covered)
        context = Context(options.scope.start, options.scope.end, self.now)
        evidence = {name: item.evidence() for name, item in self.items.items()}
        controls = []
        for control in options.framework.controls:
            verdict = evaluate(control, evidence, context)
            controls.append(self.control(control, verdict, proofs.get(control.sample, [])))
        for item in self.items.values():
            self.files[f"evidence/{item.name}.json"] = _json(item.to_json())
            if item.kind == "sql":
                self.files[f"evidence/{item.name}.sql"] = (item.how + "\n").encode()
        self.files["evidence/verification-report.json"] = _json(report.to_json())
        self.files["evidence/framework.toml"] = options.framework.text.encode()
        self.files["evidence/queries.toml"] = options.catalog_text.encode()
        self.files["evidence/policy.toml"] = options.policy_text.encode()
        framework = options.framework
        return {
            "format": FORMAT,
            "framework": {
                "id": framework.id,
                "name": framework.name,
                "framework_version": framework.framework_version,
                "mapping_version": framework.mapping_version,
                "source": framework.source,
            },
            "queries_version": options.catalog.version,
            "tenant": options.scope.tenant,
            "period": {
                "from": options.scope.start.isoformat(),
                "to": options.scope.end.isoformat(),
                "by": "event time",
                "bucket": options.scope.bucket(),
            },
            "generated": self.now.isoformat(),
            "software": _software(stores.client),
            "policy_version": options.policy_version,
            "sample": {"seed": options.seed, "per_control": options.sample_size},
            "stores": {
                "clickhouse": stores.described,
                "database": options.scope.database,
                "archive": stores.archive.url if stores.archive is not None else "",
            },
            "checkpoint_keys": [v.name for v in stores.verifiers],
            "summary": {s: sum(c["status"] == s for c in controls) for s in STATUSES},
            "verification": {
                "ok": report.ok,
                "entries": report.entries,
                "chains": len({c.report.chain_id for c in report.chains}),
                "findings": len(report.findings()),
            },
            "controls": controls,
            "evidence": {
                name: {"file": f"evidence/{name}.json", "rows_sha256": item.digest}
                for name, item in self.items.items()
            },
        }


def build_pack(
    options: PackOptions,
    stores: Stores,
    signer: NoteSigner,
    out: Path,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Write the pack into `out` (which must not exist or be empty); returns report.json."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} exists and is not an empty folder")
    builder = Builder(options, stores, now or dt.datetime.now(dt.UTC))
    doc = builder.document(builder.gather())
    files = builder.files
    if options.formats - {"json"}:
        from auditstream.reports import render  # noqa: PLC0415 - needs the reports extra

        files |= render.charts(doc, builder.items)
        doc["charts"] = sorted(p for p in files if p.startswith("charts/"))
    files["report.json"] = _json(doc)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(staging, files)
        if options.formats - {"json"}:
            files |= render.documents(doc, staging, options.formats)
            _write(staging, {p: d for p, d in files.items() if p.startswith("report.")})
        (staging / manifest.NAME).write_bytes(manifest.sign_manifest(files, signer))
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return doc


def _write(folder: Path, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
