"""The tamper suite: real stores altered the way an insider would, each expected to be
caught with the right finding kind at the right seq, and untouched or merely expired
data to verify (exit 0)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.replay import replay
from auditstream.archive.store import FileArchive
from auditstream.cli import main
from auditstream.clickhouse import migrations
from auditstream.core.body import decode_body, encode_body
from auditstream.core.hashes import CHAIN_DOMAIN
from auditstream.processors.engine import Outputs
from auditstream.settings.resources import schemas_dir
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Report, verify_sources
from auditstream.verification.sources import Source
from tests.support.archive_kit import sealed_outputs
from tests.support.chains import KEYRING, SIGNER
from tests.support.infra import Infra
from tests.support.store_kit import load_archive, load_clickhouse

pytestmark = [pytest.mark.faults]

CHAIN = "tenant-000"
SEQ = 150  # the entry most cases tamper with (a checkpoint covers it)


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    return sealed_outputs(1500, chains=3, hipaa_every=0, only_standard=True)


@pytest.fixture
def pubkeys(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pub"
    path.write_text(SIGNER.verifier.encode() + "\n")
    return path


def verify(*sources: Source) -> Report:
    return verify_sources(sources, note_verifiers=[SIGNER.verifier], keyring=KEYRING)


def findings(report: Report, chain: str = CHAIN) -> set[tuple[str, int | None]]:
    return {(str(f.kind), f.seq) for f in report.findings() if f.chain_id == chain}


def chain_length(outputs: Outputs, chain: str = CHAIN) -> int:
    return sum(1 for key, _ in outputs.sealed if key == chain)


# -- ClickHouse -------------------------------------------------------------------------
class Store:
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self.table = f"{database}.audit_events"

    def row(self, seq: int, chain: str = CHAIN) -> dict[str, Any]:
        result = self.client.query(
            f"SELECT * FROM {self.table} WHERE chain_id = {{c:String}} AND seq = {{s:UInt64}}",
            parameters={"c": chain, "s": seq},
            column_formats={"body": "bytes"},
        )
        return dict(zip(result.column_names, result.result_rows[0], strict=True))

    def mutate(self, statement: str, **params: Any) -> None:
        self.client.command(
            f"ALTER TABLE {self.table} {statement}",
            parameters=params,
            settings={"mutations_sync": 2},
        )

    def delete(self, where: str, **params: Any) -> None:
        self.mutate(f"DELETE WHERE {where}", **params)

    def insert(self, *rows: dict[str, Any]) -> None:
        names = list(rows[0])
        self.client.insert(self.table, [[r[n] for n in names] for r in rows], column_names=names)

    def verify(self) -> Report:
        return verify(ClickHouseSource(self.client, self.database))


@pytest.fixture
def store(clickhouse: Any, ch_database: str, outputs: Outputs) -> Store:
    load_clickhouse(clickhouse, ch_database, outputs)
    return Store(clickhouse, ch_database)


def test_untouched_store_verifies_with_exit_0(
    store: Store, infra: Infra, pubkeys: Path, outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "--clickhouse", infra.clickhouse_dsn(), "--database", store.database]
    code = main([*args, "--public-keys", str(pubkeys), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True
    assert report["entries"] == len(outputs.sealed) and report["content_removed"] == 0
    assert all(c["checkpoints_verified"] > 0 and not c["findings"] for c in report["chains"])
    store.mutate(
        "UPDATE actor_id = 'mallory' WHERE chain_id = {c:String} AND seq = {s:UInt64}",
        c=CHAIN,
        s=SEQ,
    )
    assert main([*args, "--public-keys", str(pubkeys)]) == 1
    assert "column_mismatch at seq 150" in capsys.readouterr().out


def test_changed_column(store: Store) -> None:
    store.mutate(
        "UPDATE outcome = 'OUTCOME_SUCCESS', actor_id = 'mallory' "
        "WHERE chain_id = {c:String} AND seq = {s:UInt64}",
        c=CHAIN,
        s=SEQ,
    )
    assert findings(store.verify()) == {("column_mismatch", SEQ)}


def test_changed_body(store: Store) -> None:
    body = decode_body(store.row(SEQ)["body"])
    body.entry.actor_id = "mallory"
    forged = encode_body(body.entry, chain_id=CHAIN, seq=SEQ, received_time_ns=1)
    store.mutate(
        "UPDATE body = unhex({b:String}) WHERE chain_id = {c:String} AND seq = {s:UInt64}",
        b=forged.hex(),
        c=CHAIN,
        s=SEQ,
    )
    assert findings(store.verify()) == {("body_mismatch", SEQ)}


def test_deleted_row(store: Store) -> None:
    store.delete("chain_id = {c:String} AND seq = {s:UInt64}", c=CHAIN, s=SEQ)
    assert ("gap", SEQ) in findings(store.verify())


def test_forged_row(store: Store) -> None:
    """A well-formed entry for an existing seq, linked to the real previous entry but
    MACed without the key: two entries claim the seq."""
    row = store.row(SEQ)
    body = decode_body(row["body"])
    body.entry.actor_id = "mallory"
    forged_body = encode_body(body.entry, chain_id=CHAIN, seq=SEQ, received_time_ns=1)
    digest = hashlib.sha256(forged_body).digest()
    entry_hash = hashlib.sha256(
        CHAIN_DOMAIN + row["prev_hash"] + SEQ.to_bytes(8, "big") + digest
    ).digest()
    store.insert(
        row
        | {
            "body": forged_body,
            "body_digest": digest,
            "entry_hash": entry_hash,
            "actor_id": "mallory",
            "mac": bytes(32),
        }
    )
    found = findings(store.verify())
    assert ("fork", SEQ) in found


def test_swapped_seqs(store: Store) -> None:
    first, second = store.row(SEQ), store.row(SEQ + 1)
    store.delete(
        "chain_id = {c:String} AND seq IN ({a:UInt64}, {b:UInt64})", c=CHAIN, a=SEQ, b=SEQ + 1
    )
    store.insert(first | {"seq": SEQ + 1}, second | {"seq": SEQ})
    found = findings(store.verify())
    assert ("hash_mismatch", SEQ) in found and ("hash_mismatch", SEQ + 1) in found


def test_truncated_tail(store: Store, outputs: Outputs) -> None:
    last = chain_length(outputs) - 1
    store.delete("chain_id = {c:String} AND seq > {s:UInt64}", c=CHAIN, s=last - 10)
    assert findings(store.verify()) == {("truncated", last - 9)}


def test_row_from_another_chain(store: Store) -> None:
    stranger = store.row(SEQ, chain="tenant-001")
    store.delete("chain_id = {c:String} AND seq = {s:UInt64}", c=CHAIN, s=SEQ)
    store.insert(stranger | {"chain_id": CHAIN, "tenant_id": CHAIN})
    found = findings(store.verify())
    assert ("fork", SEQ) in found and ("column_mismatch", SEQ) in found


def test_content_blanked_before_its_retention_date(store: Store) -> None:
    store.mutate(
        "UPDATE body = '', message = '' WHERE chain_id = {c:String} AND seq = {s:UInt64}",
        c=CHAIN,
        s=SEQ,
    )
    assert findings(store.verify()) == {("body_mismatch", SEQ)}


def test_expired_content_is_not_tampering(
    clickhouse: Any, ch_database: str, infra: Infra, pubkeys: Path
) -> None:
    old = sealed_outputs(600, chains=2, age_days=3000, hipaa_every=0)
    load_clickhouse(clickhouse, ch_database, old)
    store = Store(clickhouse, ch_database)
    store.mutate("MATERIALIZE TTL")
    blanked = clickhouse.query(f"SELECT countIf(body = '') FROM {store.table}").result_rows[0][0]
    assert blanked == len(old.sealed)  # retention really removed the content
    report = store.verify()
    assert report.ok and report.content_removed == len(old.sealed)
    args = ["verify", "--clickhouse", infra.clickhouse_dsn(), "--database", ch_database]
    assert main([*args, "--public-keys", str(pubkeys)]) == 0


# -- the archive ------------------------------------------------------------------------
class Archive:
    def __init__(self, root: Path, outputs: Outputs) -> None:
        self.root = root
        self.store = FileArchive(root)
        keys = load_archive(self.store, outputs, per_segment=100)
        manifests = [seg.Manifest.from_bytes((root / k).read_bytes()) for k in keys]
        self.manifests = sorted(
            (m for m in manifests if m.chain_id == CHAIN), key=lambda m: m.first_seq
        )

    def rewrite(self, key: str, change: Callable[[bytes], bytes]) -> None:
        path = self.root / key
        data = path.read_bytes()
        path.chmod(0o644)
        path.write_bytes(change(data))

    def remove(self, *keys: str) -> None:
        for key in keys:
            self.store.delete(key)

    def verify(self) -> Report:
        return verify(ArchiveSource(self.store))


@pytest.fixture
def archive(tmp_path: Path, outputs: Outputs) -> Archive:
    return Archive(tmp_path / "archive", outputs)


def test_untouched_archive_verifies(
    archive: Archive, pubkeys: Path, outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "--archive", archive.store.url, "--public-keys", str(pubkeys)]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["entries"] == len(outputs.sealed)
    middle = archive.manifests[2]
    archive.rewrite(middle.segment_key, lambda data: data[:-1] + bytes([data[-1] ^ 1]))
    assert main(args) == 1
    assert f"segment_mismatch at seq {middle.first_seq}" in capsys.readouterr().out


def test_flipped_byte_in_a_segment(archive: Archive) -> None:
    target = archive.manifests[1]

    def flip(data: bytes) -> bytes:
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]

    archive.rewrite(target.segment_key, flip)
    assert findings(archive.verify()) == {("segment_mismatch", target.first_seq)}


def test_deleted_segment(archive: Archive) -> None:
    target = archive.manifests[3]
    archive.remove(target.segment_key)
    assert findings(archive.verify()) == {("segment_missing", target.first_seq)}


def test_swapped_segments(archive: Archive) -> None:
    one, two = archive.manifests[0], archive.manifests[1]
    first, second = (
        (archive.root / one.segment_key).read_bytes(),
        (archive.root / two.segment_key).read_bytes(),
    )
    archive.rewrite(one.segment_key, lambda _: second)
    archive.rewrite(two.segment_key, lambda _: first)
    assert findings(archive.verify()) == {
        ("segment_mismatch", one.first_seq),
        ("segment_mismatch", two.first_seq),
    }


def test_edited_manifest(archive: Archive) -> None:
    """Shortening the retention a manifest claims (to delete content early) is caught:
    the bodies say otherwise."""
    target = archive.manifests[2]

    def earlier(data: bytes) -> bytes:
        doc = json.loads(data)
        doc["retain_until"] = "2020-01-01T00:00:00+00:00"
        return json.dumps(doc).encode()

    archive.rewrite(target.key, earlier)
    assert findings(archive.verify()) == {("manifest_mismatch", target.first_seq)}


def test_dropped_newest_segment(archive: Archive) -> None:
    newest = archive.manifests[-1]
    archive.remove(newest.key, newest.segment_key, newest.skeleton_key)
    assert findings(archive.verify()) == {("truncated", newest.first_seq)}


def test_expired_segments_are_not_tampering(tmp_path: Path, pubkeys: Path) -> None:
    old = sealed_outputs(600, chains=2, age_days=3000, hipaa_every=0)
    store = FileArchive(tmp_path / "old")
    load_archive(store, old)
    removed = lifecycle.apply_file_retention(store, dt.datetime.now(dt.UTC), skeleton_days=3650)
    assert removed and all(key.startswith("v1/segments/") for key in removed)
    report = verify(ArchiveSource(store))
    assert report.ok and report.content_removed == len(old.sealed)
    assert main(["verify", "--archive", store.url, "--public-keys", str(pubkeys)]) == 0


def test_replayed_skeletons_survive_the_row_ttl(
    tmp_path: Path, clickhouse: Any, ch_database: str
) -> None:
    """Disaster recovery after content expiry: the rebuilt rows keep their segment's
    retain-until, so ClickHouse's row TTL (retain-until + skeleton days) keeps them."""
    old = sealed_outputs(600, chains=2, age_days=400, hipaa_every=0, only_standard=True)
    store = FileArchive(tmp_path / "old")
    load_archive(store, old)
    lifecycle.apply_file_retention(store, dt.datetime.now(dt.UTC), skeleton_days=3650)
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(ch_database))
    result = replay(store, clickhouse, ch_database)
    assert result.rows == result.skeleton_only == len(old.sealed)
    clickhouse.command(f"OPTIMIZE TABLE {ch_database}.audit_events FINAL")  # applies TTLs
    kept = clickhouse.query(f"SELECT count() FROM {ch_database}.audit_events").result_rows
    assert kept[0][0] == len(old.sealed)
    report = verify(ClickHouseSource(clickhouse, ch_database))
    assert report.ok and report.content_removed == len(old.sealed)


def test_time_range_verifies_from_the_entry_before_it(store: Store, outputs: Outputs) -> None:
    received = store.row(500)["received_time"]
    since = received.replace(tzinfo=dt.UTC) if received.tzinfo is None else received
    ranged = verify(ClickHouseSource(store.client, store.database, start=since))
    chain = next(c.report for c in ranged.chains if c.report.chain_id == CHAIN)
    assert ranged.ok and chain.first_seq is not None and 0 < chain.first_seq <= 500
    assert chain.last_seq == chain_length(outputs) - 1
    store.mutate(
        "UPDATE actor_id = 'mallory' WHERE chain_id = {c:String} AND seq = {s:UInt64}",
        c=CHAIN,
        s=chain.first_seq + 3,
    )
    again = verify(ClickHouseSource(store.client, store.database, start=since))
    assert findings(again) == {("column_mismatch", chain.first_seq + 3)}
