"""Checking an evidence pack offline, with public keys only (`auditstream report verify`).

In order: the MANIFEST's signature under a trusted report key; every file's SHA-256
against the manifest, and no file missing or added; each evidence item's rows against
its recorded hash; every control's verdict computed again from the pack's evidence and
mapping, and compared with the report; every inclusion proof checked against the
checkpoint keys the auditor trusts (never keys from the pack), and each one naming a
sampled event; every checkpoint's signature.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditstream.core.checkpoint import verify_checkpoint
from auditstream.core.keys import NoteVerifier
from auditstream.core.proofs import check_inclusion
from auditstream.errors import ConfigError, FormatError, NoteError
from auditstream.reports import manifest
from auditstream.reports.evidence import Item
from auditstream.reports.frameworks import parse_catalog, parse_framework
from auditstream.reports.manifest import PackError
from auditstream.reports.pack import FORMAT, slug
from auditstream.reports.rules import Context, evaluate

MAX_PROBLEMS = 50


@dataclass
class Outcome:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_json(folder: Path, path: str) -> Any:
    try:
        return json.loads((folder / path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"{path}: not readable JSON ({exc})") from exc


def _files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != manifest.NAME
    }


def _check_files(folder: Path, hashes: dict[str, str], outcome: Outcome) -> None:
    present = _files(folder)
    for path in sorted(hashes):
        if path not in present:
            outcome.problems.append(f"{path}: listed in the manifest but missing from the pack")
            continue
        actual = manifest.sha256((folder / path).read_bytes())
        if actual != hashes[path]:
            outcome.problems.append(
                f"{path}: its SHA-256 is {actual[:16]}…, the manifest says "
                f"{hashes[path][:16]}…: the file was changed after the pack was signed"
            )
    for path in sorted(present - set(hashes)):
        outcome.problems.append(f"{path}: in the pack but not in the manifest")
    if not outcome.problems:
        outcome.checked.append(f"{len(hashes)} files match the signed manifest")


def _verdicts(
    folder: Path, doc: dict[str, Any], verifiers: Sequence[NoteVerifier], outcome: Outcome
) -> None:
    catalog = parse_catalog((folder / "evidence/queries.toml").read_text("utf-8"))
    framework = parse_framework(
        (folder / "evidence/framework.toml").read_text("utf-8"), catalog, "evidence/framework.toml"
    )
    items = {}
    for name, entry in doc["evidence"].items():
        item = Item.from_json(_load_json(folder, entry["file"]), entry["file"])
        if item.digest != entry["rows_sha256"]:
            raise PackError(f"{entry['file']}: its rows are not the ones report.json names")
        items[name] = item
    outcome.checked.append(f"{len(items)} evidence items match their recorded row hashes")
    evidence = {name: item.evidence() for name, item in items.items()}
    context = Context(
        dt.datetime.fromisoformat(doc["period"]["from"]),
        dt.datetime.fromisoformat(doc["period"]["to"]),
        dt.datetime.fromisoformat(doc["generated"]),
    )
    reported = {c["id"]: c for c in doc["controls"]}
    if set(reported) != {c.id for c in framework.controls}:
        outcome.problems.append("report.json does not list the controls of its framework mapping")
        return
    for control in framework.controls:
        verdict = evaluate(control, evidence, context)
        said = reported[control.id]
        for key, value in (("status", verdict.status), ("statement", verdict.statement)):
            if said[key] != value:
                outcome.problems.append(
                    f"control {control.id}: report.json says {key} {said[key]!r}, its evidence "
                    f"gives {value!r}"
                )
        if said["figures"] != dict(verdict.figures):
            outcome.problems.append(
                f"control {control.id}: report.json's figures {said['figures']} differ from "
                f"its evidence's {dict(verdict.figures)}"
            )
    outcome.checked.append(
        f"{len(framework.controls)} control verdicts computed again from the evidence"
    )
    _proofs(folder, doc, items, verifiers, outcome)


def _proofs(
    folder: Path,
    doc: dict[str, Any],
    items: dict[str, Item],
    verifiers: Sequence[NoteVerifier],
    outcome: Outcome,
) -> None:
    notes = _load_json(folder, "evidence/checkpoints.json")["checkpoints"]
    held = set()
    for entry in notes:
        try:
            verify_checkpoint(str(entry["note"]).encode(), verifiers, str(entry["chain_id"]))
        except NoteError as exc:
            outcome.problems.append(f"evidence/checkpoints.json: chain {entry['chain_id']}: {exc}")
        held.add(str(entry["note"]))
    checked = set()
    for control in doc["controls"]:
        sample = items.get(f"{control['sample']}.sample") if control["sample"] else None
        sampled = {str(r["event_id"]): r for r in sample.rows} if sample else {}
        for path in control["proofs"]:
            if path in checked:
                continue
            checked.add(path)
            bundle = _load_json(folder, path)
            event_id = str(bundle.get("event_id", ""))
            row = sampled.get(event_id)
            if slug(event_id) != Path(path).stem:
                outcome.problems.append(
                    f"{path}: holds the proof of event {event_id!r}, not of the event it is "
                    "named after"
                )
                continue
            if row is None:
                outcome.problems.append(
                    f"{path}: holds the proof of event {event_id!r}, which is not in the sample "
                    f"of control {control['id']}"
                )
                continue
            if (str(row["chain_id"]), int(row["seq"])) != (
                str(bundle.get("chain_id")),
                int(bundle.get("entry", {}).get("seq", -1)),
            ):
                outcome.problems.append(f"{path}: names another chain or seq than the sample row")
                continue
            try:
                result = check_inclusion(bundle, verifiers)
            except FormatError as exc:
                outcome.problems.append(f"{path}: {exc}")
                continue
            if not result.ok:
                outcome.problems.append(
                    f"{path}: the inclusion proof does not verify: {result.message}"
                )
            elif str(bundle["checkpoint"]) not in held:
                outcome.problems.append(
                    f"{path}: its checkpoint is not in evidence/checkpoints.json"
                )
    outcome.checked.append(
        f"{len(checked)} inclusion proofs and {len(notes)} checkpoints checked with the checkpoint "
        f"keys {', '.join(v.name for v in verifiers)}"
    )


def verify_pack(
    folder: Path, report_keys: Sequence[NoteVerifier], checkpoint_keys: Sequence[NoteVerifier]
) -> Outcome:
    """Check a pack folder. A pack that is not what was signed gives problems; a folder
    that is not there is a ConfigError."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder (an evidence pack is a folder)")
    outcome = Outcome()
    try:
        signed = (folder / manifest.NAME).read_bytes()
    except OSError:
        outcome.problems.append(
            f"{manifest.NAME}: missing: not an evidence pack, or its manifest was removed"
        )
        return outcome
    try:
        opened = manifest.open_manifest(signed, report_keys)
        outcome.checked.append(f"{manifest.NAME} signed by {', '.join(opened.signed_by)}")
        _check_files(folder, opened.hashes, outcome)
        if outcome.problems:
            return outcome
        doc = _load_json(folder, "report.json")
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise PackError(f"report.json is not an evidence pack report (format {FORMAT})")
        _verdicts(folder, doc, checkpoint_keys, outcome)
    except (FormatError, ConfigError) as exc:
        outcome.problems.append(str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        outcome.problems.append(
            f"report.json or an evidence file lacks or mangles a field: {exc!r}"
        )
    del outcome.problems[MAX_PROBLEMS:]
    return outcome
