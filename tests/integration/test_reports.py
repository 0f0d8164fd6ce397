"""Evidence packs end to end on real stores: sealed events (the production sealer) in
embedded ClickHouse and a file archive, a pack per framework written by
`auditstream report`, checked by `auditstream report verify` with public keys only; an
edited count, a swapped proof, a removed file and a manifest re-signed with another key
each fail naming what is wrong."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.archive.store import FileArchive
from auditstream.cli import main
from auditstream.core.keys import NoteSigner
from auditstream.reports import frameworks, manifest
from auditstream.settings import keyfiles
from tests.support.archive_kit import sealed_outputs
from tests.support.chains import SIGNER
from tests.support.infra import Infra, unique
from tests.support.store_kit import load_archive, load_clickhouse

pytestmark = [pytest.mark.integration]
TENANT = "tenant-000"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, infra: Infra) -> Iterator[dict[str, Any]]:
    from auditstream.clickhouse.client import connect  # noqa: PLC0415

    home = tmp_path_factory.mktemp("reports")
    outputs = sealed_outputs(900, chains=2)
    # The session's store (embedded ClickHouse opens one path per process), own database.
    dsn, database = infra.clickhouse_dsn(), unique("reports").replace("-", "_")
    client = connect(dsn)
    load_clickhouse(client, database, outputs)
    load_archive(FileArchive(home / "archive"), outputs)
    (home / "checkpoint.pub").write_text(SIGNER.verifier.encode() + "\n")
    keyfiles.write_new_signer(home / "report.key", "test-reports")
    signer = keyfiles.load_signer(home / "report.key")
    (home / "report.pub").write_text(signer.verifier.encode() + "\n")
    now = dt.datetime.now(dt.UTC)
    yield {
        "home": home,
        "client": client,
        "dsn": dsn,
        "database": database,
        "from": (now - dt.timedelta(days=1)).isoformat(),
        "to": (now + dt.timedelta(hours=1)).isoformat(),
    }


def report(stored: dict[str, Any], framework: str, out: Path, *extra: str) -> int:
    home = stored["home"]
    return main(
        [
            "report", "--clickhouse", stored["dsn"], "--database", stored["database"], "--archive",
            (home / "archive").as_uri(), "--framework", framework, "--tenant", TENANT,
            "--from", stored["from"], "--to", stored["to"], "--out", str(out),
            "--report-key", str(home / "report.key"),
            "--checkpoint-pubkey", str(home / "checkpoint.pub"), "--seed", "11", *extra,
        ]
    )  # fmt: skip


def verify(
    stored: dict[str, Any], pack: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    home = stored["home"]
    capsys.readouterr()
    code = main(
        ["report", "verify", str(pack), "--pubkey", str(home / "report.pub"),
         "--checkpoint-pubkey", str(home / "checkpoint.pub")]
    )  # fmt: skip
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def packs(stored: dict[str, Any]) -> dict[str, Path]:
    made = {}
    for framework in frameworks.framework_ids():
        out = stored["home"] / "packs" / framework
        formats = "md,html,pdf" if framework == "pci-dss" else "md,html"
        assert report(stored, framework, out, "--format", formats) == 0
        made[framework] = out
    return made


@pytest.mark.parametrize("framework", frameworks.framework_ids())
def test_a_pack_per_framework_verifies_offline(
    stored: dict[str, Any],
    packs: dict[str, Path],
    framework: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = packs[framework]
    code, out = verify(stored, pack, capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == f"VALID: {pack}"
    doc = json.loads((pack / "report.json").read_text())
    assert doc["tenant"] == TENANT and doc["sample"]["seed"] == 11
    ids = [c.id for c in frameworks.load_framework(framework, frameworks.load_catalog()).controls]
    assert [c["id"] for c in doc["controls"]] == ids
    assert doc["verification"]["ok"] and doc["verification"]["entries"] > 0
    for control in doc["controls"]:
        assert control["status"] in ("met", "attention", "not_covered")
        for path in control["proofs"]:
            assert (
                json.loads((pack / path).read_text())["format"] == "auditstream.inclusion-proof.v1"
            )
    markdown = (pack / "report.md").read_text()
    assert all(f"## {i}" in markdown.replace("\\", "") for i in ids)
    assert (pack / "charts" / "coverage.png").read_bytes()[:4] == b"\x89PNG"


def test_the_pdf_holds_every_control(packs: dict[str, Path]) -> None:
    text = subprocess.run(
        ["pdftotext", str(packs["pci-dss"] / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for control in ("10.2.1.1", "10.2.2", "10.3.4", "10.5.1", "10.7.3"):
        assert control in text
    assert "PCI DSS evidence pack: tenant tenant-000" in text


def test_the_sampled_events_are_proven_and_the_seed_picks_them(
    stored: dict[str, Any], packs: dict[str, Path], tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert report(stored, "soc2", again, "--format", "json") == 0
    first = json.loads((packs["soc2"] / "report.json").read_text())
    second = json.loads((again / "report.json").read_text())
    assert [c["proofs"] for c in first["controls"]] == [c["proofs"] for c in second["controls"]]
    assert any(c["proofs"] for c in first["controls"])


def tampered(packs: dict[str, Path], tmp_path: Path, framework: str = "pci-dss") -> Path:
    copy = tmp_path / f"{framework}-copy"
    shutil.copytree(packs[framework], copy)
    return copy


def resign(pack: Path, signer: NoteSigner) -> None:
    files = {
        p.relative_to(pack).as_posix(): p.read_bytes()
        for p in pack.rglob("*")
        if p.is_file() and p.name != manifest.NAME
    }
    (pack / manifest.NAME).write_bytes(manifest.sign_manifest(files, signer))


def test_an_edited_count_fails_naming_the_file(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    text = (pack / "report.md").read_text()
    count = json.loads((pack / "report.json").read_text())["verification"]["entries"]
    assert f"{count:,} entries" in text
    (pack / "report.md").write_text(text.replace(f"{count:,} entries", f"{count + 1:,} entries"))
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert "INVALID  report.md: its SHA-256 is" in out and "the manifest says" in out


def test_an_edited_count_resigned_with_the_report_key_fails_on_its_evidence(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    doc = json.loads((pack / "report.json").read_text())
    control = next(c for c in doc["controls"] if c["id"] == "10.2.1.4")
    control["figures"]["events"] += 1
    (pack / "report.json").write_text(json.dumps(doc, indent=2))
    resign(pack, keyfiles.load_signer(stored["home"] / "report.key"))
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert "INVALID  control 10.2.1.4: report.json's figures" in out


def test_a_swapped_proof_fails(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    doc = json.loads((pack / "report.json").read_text())
    first, second = next(c["proofs"][:2] for c in doc["controls"] if len(c["proofs"]) >= 2)
    a, b = (pack / first).read_bytes(), (pack / second).read_bytes()
    (pack / first).write_bytes(b)
    (pack / second).write_bytes(a)
    code, out = verify(stored, pack, capsys)
    assert code == 1 and f"INVALID  {first}: its SHA-256 is" in out
    resign(pack, keyfiles.load_signer(stored["home"] / "report.key"))  # a faulty packer
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert f"INVALID  {first}: holds the proof of event" in out
    assert "not of the event it is named after" in out
    bundle = json.loads(a)
    bundle["audit_path"][0] = "00" * 32
    (pack / first).write_text(json.dumps(bundle))
    (pack / second).write_bytes(b)
    resign(pack, keyfiles.load_signer(stored["home"] / "report.key"))
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert f"INVALID  {first}: the inclusion proof does not verify: audit path" in out


def test_a_removed_file_fails_naming_it(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    (pack / "evidence" / "invalid_access.json").unlink()
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert "INVALID  evidence/invalid_access.json: listed in the manifest but missing" in out
    (pack / manifest.NAME).unlink()
    code, out = verify(stored, pack, capsys)
    assert code == 1 and "INVALID  MANIFEST: missing" in out


def test_an_added_file_fails_naming_it(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    (pack / "evidence" / "extra.json").write_text("{}")
    code, out = verify(stored, pack, capsys)
    assert code == 1 and "INVALID  evidence/extra.json: in the pack but not in the manifest" in out


def test_a_manifest_resigned_with_another_key_fails_naming_the_keys(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tampered(packs, tmp_path)
    other = NoteSigner.generate("test-reports")
    resign(pack, other)
    code, out = verify(stored, pack, capsys)
    assert code == 1
    assert f"INVALID  MANIFEST is signed by test-reports (key hash {other.key_hash.hex()})" in out
    assert "which is not a trusted report key" in out


def test_proofs_are_checked_with_the_auditors_checkpoint_key_only(
    stored: dict[str, Any],
    packs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(NoteSigner.generate("test-checkpoints").verifier.encode() + "\n")
    code = main(
        ["report", "verify", str(packs["soc2"]), "--pubkey", str(stored["home"] / "report.pub"),
         "--checkpoint-pubkey", str(stranger)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "checkpoint does not verify" in out


def test_an_existing_pack_folder_is_not_overwritten(
    stored: dict[str, Any], packs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(stored, "soc2", packs["soc2"], "--format", "json") == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
