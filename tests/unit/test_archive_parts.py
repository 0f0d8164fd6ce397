"""Archive pieces without S3: segment format, manifests, write-once files, retention."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.store import ArchiveConflictError, FileArchive
from auditstream.core import hashes, merkle
from auditstream.core.body import decode_body
from auditstream.core.retention import parse_policy
from auditstream.errors import FormatError
from auditstream.proto.v1.sealed_pb2 import Checkpoint, SealedEntry
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import default_policy_file
from auditstream.sinks.archive import ArchiveConfig, put_checkpoint
from tests.support.archive_kit import sealed_outputs

POLICY = parse_policy(default_policy_file().read_text())
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def chain_entries() -> list[SealedEntry]:
    out = sealed_outputs(120, chains=1)
    return [SealedEntry.FromString(v) for _, v in out.sealed]


def test_segment_round_trip_and_manifest() -> None:
    entries = chain_entries()
    built = seg.build_segment(seg.Draft.of(entries, "standard"), checkpoint="note", now=NOW)
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
    again = seg.build_segment(seg.Draft.of(entries, "standard"), checkpoint="note", now=NOW)
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


def test_a_checkpoint_signed_again_keeps_the_first_and_another_tree_is_a_conflict(
    tmp_path: Path,
) -> None:
    """A worker that takes a partition over may sign a tree again at another time: the
    record differs (its created time) but the tree does not, and the first one stays.
    A record of another root or note at the same size is a fork, refused."""
    archive = FileArchive(tmp_path)

    def record(root: bytes, note: bytes, at_ns: int) -> bytes:
        checkpoint = Checkpoint(chain_id="acme/a", tree_size=7, root_hash=root, note=note)
        checkpoint.created_time.FromNanoseconds(at_ns)
        return checkpoint.SerializeToString()

    key, first = "v1/acme/checkpoints/7", record(b"r" * 32, b"note", 1)
    assert put_checkpoint(archive, key, first, NOW)
    assert not put_checkpoint(archive, key, record(b"r" * 32, b"note", 2), NOW)
    assert archive.get(key) == first
    for fork in (record(b"x" * 32, b"note", 3), record(b"r" * 32, b"other", 3)):
        with pytest.raises(ArchiveConflictError):
            put_checkpoint(archive, key, fork, NOW)
    assert archive.get(key) == first


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
    built = seg.build_segment(seg.Draft.of(chain_entries(), "standard"), checkpoint="", now=NOW)
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


def test_a_draft_of_consumed_bytes_builds_the_segment_of_the_parsed_entries() -> None:
    """The sink keeps the bytes it consumed; they are the entries' own serialization,
    so its segments are those of the parsed entries, skeletons included."""
    out = sealed_outputs(300, chains=1, hipaa_every=0)
    values = [v for _, v in out.sealed]
    entries = [SealedEntry.FromString(v) for v in values]
    draft = seg.Draft(entries[0].chain_id, "standard")
    for value, entry in zip(values, entries, strict=True):
        draft.add(value, entry, decode_body(entry.body), entry.body)
    built = seg.build_segment(draft, checkpoint="note", now=NOW)
    assert built == seg.build_segment(seg.Draft.of(entries, "standard"), checkpoint="note", now=NOW)
    assert list(seg.decode_entries(built.segment)) == values
    expected_skeletons = []
    for entry in entries:
        entry.ClearField("body")
        expected_skeletons.append(entry.SerializeToString())
    assert list(seg.decode_entries(built.skeleton)) == expected_skeletons
    assert built.manifest.zstd_level == seg.ZSTD_LEVEL == built.manifest.extra["zstd_level"]


def test_a_skeleton_is_cut_from_the_bytes_or_made_from_the_entry() -> None:
    (_, value), *_ = sealed_outputs(5, chains=1).sealed
    entry = SealedEntry.FromString(value)
    cut = seg.skeleton_of(value, entry, entry.body)
    assert cut == value[: len(cut)] and not SealedEntry.FromString(cut).body
    # A field after the body (an unknown one, from a newer writer): no cut possible.
    extended = value + b"\xa0\x06\x01"  # field 100, varint 1
    parsed = SealedEntry.FromString(extended)
    skeleton = seg.skeleton_of(extended, parsed, parsed.body)
    assert skeleton == cut + b"\xa0\x06\x01"
    without_body = SealedEntry(chain_id="c", seq=3)
    assert seg.skeleton_of(without_body.SerializeToString(), without_body, b"") == (
        without_body.SerializeToString()
    )


def test_a_manifest_without_a_level_was_written_at_the_legacy_one() -> None:
    """Archives written before levels were recorded rebuild at level 10, byte for byte."""
    entries = chain_entries()
    old = seg.build_segment(
        seg.Draft.of(entries, "standard"),
        checkpoint="",
        now=NOW,
        zstd_level=seg.LEGACY_ZSTD_LEVEL,
    )
    doc = json.loads(old.manifest.to_bytes())
    doc["extra"] = {}  # what those manifests hold
    legacy = seg.Manifest.from_bytes(json.dumps(doc).encode())
    assert legacy.zstd_level == seg.LEGACY_ZSTD_LEVEL
    rebuilt = seg.build_segment(
        seg.Draft.of(entries, "standard"), checkpoint="", now=NOW, zstd_level=legacy.zstd_level
    )
    assert hashlib.sha256(rebuilt.segment).hexdigest() == legacy.segment_sha256
    assert hashlib.sha256(rebuilt.skeleton).hexdigest() == legacy.skeleton_sha256
    assert (
        rebuilt.segment
        != seg.build_segment(seg.Draft.of(entries, "standard"), checkpoint="", now=NOW).segment
    )


@pytest.mark.parametrize("level", ["3", 3.0, None, 0, 99, True])
def test_a_manifest_level_that_is_no_zstd_level_is_a_format_error(level: object) -> None:
    """A rebuild at a level the objects were not written with cannot match them: a
    manifest naming no such level says so, by name, before anything is rebuilt."""
    doc = json.loads(
        seg.build_segment(
            seg.Draft.of(chain_entries(), "standard"), checkpoint="", now=NOW
        ).manifest.to_bytes()
    )
    doc["extra"] = {"zstd_level": level}
    manifest = seg.Manifest.from_bytes(json.dumps(doc).encode())
    with pytest.raises(FormatError, match="zstd_level"):
        _ = manifest.zstd_level


@pytest.mark.parametrize("threads", [0, -3, "8", 2.5, True, None])
def test_upload_threads_must_be_a_positive_integer(threads: object) -> None:
    with pytest.raises(ValueError, match="upload_threads must be an integer"):
        ArchiveConfig(KafkaConnection("127.0.0.1:9092"), Topics(), upload_threads=threads)  # type: ignore[arg-type]
