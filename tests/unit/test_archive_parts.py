"""Archive pieces without S3: segment format, manifests, write-once files, retention."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.store import ArchiveConflictError, FileArchive
from auditstream.core import hashes, merkle
from auditstream.core.retention import parse_policy
from auditstream.errors import FormatError
from auditstream.proto.v1.sealed_pb2 import SealedEntry
from auditstream.settings.resources import default_policy_file
from tests.support.archive_kit import sealed_outputs

POLICY = parse_policy(default_policy_file().read_text())
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def chain_entries() -> list[SealedEntry]:
    out = sealed_outputs(120, chains=1)
    return [SealedEntry.FromString(v) for _, v in out.sealed]


def test_segment_round_trip_and_manifest() -> None:
    entries = chain_entries()
    built = seg.build_segment(entries, retention_class="standard", checkpoint="note", now=NOW)
    assert [SealedEntry.FromString(r) for r in seg.decode_entries(built.segment)] == entries
    skeletons = [SealedEntry.FromString(r) for r in seg.decode_entries(built.skeleton)]
    assert all(not s.body for s in skeletons) and [s.entry_hash for s in skeletons] == [
        e.entry_hash for e in entries
    ]
    m = built.manifest
    assert (m.first_seq, m.last_seq, m.count) == (0, 119, 120) and m.seqs == [[0, 119]]
    assert m.segment_sha256 == hashlib.sha256(built.segment).hexdigest()
    assert m.merkle_root == merkle.root([hashes.leaf_hash(e.entry_hash) for e in entries]).hex()
    assert m.segment_key.startswith("v1/segments/standard/tenant-000/tenant-000/")
    assert seg.Manifest.from_bytes(m.to_bytes()) == m
    again = seg.build_segment(entries, retention_class="standard", checkpoint="note", now=NOW)
    assert again.segment == built.segment  # deterministic: a rebuild is byte-identical


def test_seq_runs_and_chain_paths() -> None:
    assert seg.seq_runs([0, 1, 2, 5, 6, 9]) == [[0, 2], [5, 6], [9, 9]]
    assert list(seg.runs_seqs([[0, 2], [5, 6]])) == [0, 1, 2, 5, 6]
    assert seg.chain_path("acme/shard1") == "acme%2Fshard1"
    with pytest.raises(FormatError):
        list(seg.decode_entries(b"not zstd"))


def test_file_archive_is_write_once(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    assert archive.put("v1/a/b.seg", b"one", retain_until=None)
    assert not archive.put("v1/a/b.seg", b"one", retain_until=None)  # identical: skipped
    with pytest.raises(ArchiveConflictError):
        archive.put("v1/a/b.seg", b"two", retain_until=None)
    assert archive.get("v1/a/b.seg") == b"one" and list(archive.list("v1/")) == ["v1/a/b.seg"]
    assert (tmp_path / "v1/a/b.seg").stat().st_mode & 0o222 == 0


def test_lifecycle_rules_follow_the_policy() -> None:
    rules = {r["ID"]: r for r in lifecycle.lifecycle_rules(POLICY, 3650)}
    assert rules["segments-hipaa"]["Filter"]["Prefix"] == "v1/segments/hipaa/"
    assert rules["segments-hipaa"]["Expiration"]["Days"] == 2191
    assert rules["segments-standard"]["Expiration"]["Days"] == 366
    assert rules["v1-manifests"]["Expiration"]["Days"] == POLICY.longest_days + 3650 + 1
    # A versioned bucket: expiry only hides a version, so each rule removes it too.
    assert all(
        r["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
        for r in rules.values()
        if "Days" in r.get("Expiration", {})
    )
    assert "Expiration" not in rules["tlog-replaced-versions"]
    assert rules["delete-markers"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def test_file_retention_apply(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    built = seg.build_segment(chain_entries(), retention_class="standard", checkpoint="", now=NOW)
    m = built.manifest
    for key, data in (
        (m.key, m.to_bytes()),
        (m.segment_key, built.segment),
        (m.skeleton_key, built.skeleton),
    ):
        archive.put(key, data, retain_until=None)
    until = dt.datetime.fromisoformat(m.retain_until)
    assert lifecycle.apply_file_retention(archive, until - dt.timedelta(days=1), 10) == []
    assert lifecycle.apply_file_retention(archive, until, 10) == [m.segment_key]
    assert archive.get(m.segment_key) is None and archive.get(m.skeleton_key) is not None
    assert set(lifecycle.apply_file_retention(archive, until + dt.timedelta(days=10), 10)) == {
        m.skeleton_key,
        m.key,
    }
