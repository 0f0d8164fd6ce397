"""The archive sink's transparency logs, written by `TileWriter` into a file archive from
entries and checkpoints sealed by the real engine: what gets published when, and how a
restarted writer continues from the archive (the sink around it runs on real Kafka in
tests/integration/test_tlog.py)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path

import pytest

from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive
from auditstream.archive.tiling import TileWriter, publish_verifier_keys
from auditstream.archive.tlog import VKEYS, ArchiveLog, chains, checked_note
from auditstream.core import merkle
from auditstream.core.body import decode_body
from auditstream.core.checkpoint import verify_checkpoint
from auditstream.core.hashes import leaf_hash
from auditstream.core.keys import NoteSigner
from auditstream.core.tlog import ENTRIES, Tile, decode_bundle, edge
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.sinks.archive import write_segment
from tests.support.archive_kit import sealed_outputs
from tests.support.chains import SIGNER

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
DAY = "2026-12-01"


@functools.cache
def stream() -> tuple[list[sealed.SealedEntry], list[sealed.Checkpoint]]:
    outputs = sealed_outputs(1500, chains=2, hipaa_every=0)
    entries = [sealed.SealedEntry.FromString(v) for _, v in outputs.sealed]
    checkpoints = [sealed.Checkpoint.FromString(v) for _, v in outputs.checkpoints]
    return entries, checkpoints


def writer(root: Path) -> TileWriter:
    return TileWriter(FileArchive(root), retain_days=30, now=lambda: NOW)


def feed(tiles: TileWriter, entries: list[sealed.SealedEntry]) -> None:
    for entry in entries:
        tiles.entry(entry.chain_id, entry.seq, entry.entry_hash)


def check_log(root: Path, chain_id: str) -> int:
    """Verify what the archive holds for one chain as a tlog client would; returns the
    latest tree size."""
    archive_log = ArchiveLog(FileArchive(root), chain_id)
    latest = archive_log.latest()
    assert latest is not None
    checkpoint = verify_checkpoint(latest, [SIGNER.verifier], chain_id)
    size = checkpoint.tree_size
    hashes = archive_log.tile_hashes(size)
    assert hashes.subtree(0, size) == checkpoint.root_hash
    data = []
    for n in range(-(-size // 256)):
        width = min(256, size - n * 256)
        data += decode_bundle(archive_log.read_tile(Tile(ENTRIES, n, width)), width)
    assert merkle.root([leaf_hash(d) for d in data]) == checkpoint.root_hash
    return size


def test_every_checkpoint_is_published_with_its_tiles(tmp_path: Path) -> None:
    entries, checkpoints = stream()
    tiles = writer(tmp_path)
    feed(tiles, entries)
    for number, checkpoint in enumerate(checkpoints):
        tiles.checkpoint(checkpoint.chain_id, checkpoint.note, DAY, ("cp", 0, number))
    assert len(tiles.held()) == len(checkpoints)
    tiles.flush()
    assert tiles.held() == []
    store = FileArchive(tmp_path)
    assert chains(store) == sorted({c.chain_id for c in checkpoints})
    for chain_id in chains(store):
        own = [c for c in checkpoints if c.chain_id == chain_id]
        assert check_log(tmp_path, chain_id) == max(c.tree_size for c in own)
        archive_log = ArchiveLog(store, chain_id)
        history = archive_log.history()
        assert [d.size for d in history] == sorted(c.tree_size for c in own)
        assert {d.day for d in history} == {DAY}
        for dated, signed in archive_log.notes():
            assert signed == store.get(dated.key)
            assert verify_checkpoint(signed, [SIGNER.verifier], chain_id).tree_size == dated.size
            for tile in edge(dated.size):  # each checkpoint's partial tiles stay
                assert store.get(archive_log.prefix + tile.path) is not None
    assert tiles.entries_tiled == len(entries)


def test_a_checkpoint_waits_for_its_entries(tmp_path: Path) -> None:
    entries, checkpoints = stream()
    chain_id = checkpoints[0].chain_id
    first = checkpoints[0]
    own = [e for e in entries if e.chain_id == chain_id]
    tiles = writer(tmp_path)
    tiles.checkpoint(chain_id, first.note, DAY, ("cp", 3, 7))
    feed(tiles, own[: first.tree_size - 1])
    tiles.flush()
    assert ArchiveLog(FileArchive(tmp_path), chain_id).latest() is None
    assert tiles.held() == [("cp", 3, 7)]
    feed(tiles, own[first.tree_size - 1 : first.tree_size + 500])
    tiles.flush()
    assert ArchiveLog(FileArchive(tmp_path), chain_id).latest() == first.note
    assert tiles.held() == []


def test_a_checkpoint_long_after_its_entries_reads_its_tiles_back(tmp_path: Path) -> None:
    entries, checkpoints = stream()
    chain_id = checkpoints[0].chain_id
    tiles = writer(tmp_path)
    feed(tiles, [e for e in entries if e.chain_id == chain_id])
    tiles.flush()  # all the chain's tiles are written; the edge has moved far past 200
    tiles.checkpoint(chain_id, checkpoints[0].note, DAY)
    tiles.flush()
    assert ArchiveLog(FileArchive(tmp_path), chain_id).latest() == checkpoints[0].note
    assert check_log(tmp_path, chain_id) == checkpoints[0].tree_size


def test_a_restart_continues_from_the_archive(tmp_path: Path) -> None:
    """The first writer publishes up to some checkpoint and dies; the entries after it
    are in segments (as the sink writes them before committing), and Kafka delivers
    the rest from a later offset: the new writer reads the gap from the skeletons."""
    entries, checkpoints = stream()
    chain_id = checkpoints[0].chain_id
    own = [e for e in entries if e.chain_id == chain_id]
    marks = [c for c in checkpoints if c.chain_id == chain_id]
    assert marks[1].tree_size + 20 < 700
    tiles = writer(tmp_path)
    feed(tiles, own[: marks[1].tree_size + 20])
    for c in marks[:2]:
        tiles.checkpoint(chain_id, c.note, DAY)
    tiles.flush()
    published = checked_note(ArchiveLog(FileArchive(tmp_path), chain_id).latest() or b"", chain_id)
    assert published[0] == marks[1].tree_size
    store = FileArchive(tmp_path)
    for start in range(0, 900, 300):  # segments as the sink wrote them
        retention_class = decode_body(own[start].body).classification.retention_class
        write_segment(
            store,
            seg.Draft.of(own[start : start + 300], retention_class or "standard"),
            checkpoint="",
            now=NOW,
            skeleton_days=30,
        )
    again = writer(tmp_path)
    feed(again, own[700:])  # Kafka's replay starts after the committed offsets
    for c in marks:
        again.checkpoint(chain_id, c.note, DAY)
    again.flush()
    assert check_log(tmp_path, chain_id) == marks[-1].tree_size
    assert again.entries_tiled == len(own) - marks[1].tree_size


def test_a_gap_the_archive_cannot_fill_stops_that_chain_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries, checkpoints = stream()
    one, other = sorted({c.chain_id for c in checkpoints})
    tiles = writer(tmp_path)
    own = [e for e in entries if e.chain_id == one]
    feed(tiles, own[:100] + own[150:])  # 100..149 are nowhere
    feed(tiles, [e for e in entries if e.chain_id == other])
    for number, c in enumerate(checkpoints):
        tiles.checkpoint(c.chain_id, c.note, DAY, ("cp", 0, number))
    with caplog.at_level(logging.ERROR):
        tiles.flush()
    assert "seq 100 is neither in the archive's skeletons nor delivered again" in caplog.text
    assert ArchiveLog(FileArchive(tmp_path), one).latest() is None
    assert check_log(tmp_path, other) > 0
    # The stopped chain's checkpoint records stay uncommitted.
    assert len(tiles.held()) == sum(c.chain_id == one for c in checkpoints)


def test_a_checkpoint_the_entries_do_not_produce_is_not_published(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries, checkpoints = stream()
    chain_id = checkpoints[0].chain_id
    own = [e for e in entries if e.chain_id == chain_id]
    altered = sealed.SealedEntry()
    altered.CopyFrom(own[5])
    altered.entry_hash = bytes(32)  # an entry that is not what was signed
    own[5] = altered
    tiles = writer(tmp_path)
    feed(tiles, own)
    tiles.checkpoint(chain_id, checkpoints[0].note, DAY, ("cp", 0, 0))
    with caplog.at_level(logging.ERROR):
        tiles.flush()
    assert f"do not produce the root signed for tree size {checkpoints[0].tree_size}" in caplog.text
    assert ArchiveLog(FileArchive(tmp_path), chain_id).latest() is None
    assert tiles.held() == [("cp", 0, 0)]


def test_tiles_altered_in_the_archive_stop_the_log_at_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries, checkpoints = stream()
    chain_id = checkpoints[0].chain_id
    tiles = writer(tmp_path)
    feed(tiles, [e for e in entries if e.chain_id == chain_id][:250])
    tiles.checkpoint(chain_id, checkpoints[0].note, DAY)
    tiles.flush()
    size = checkpoints[0].tree_size
    prefix = ArchiveLog(FileArchive(tmp_path), chain_id).prefix
    partial = tmp_path / prefix / Tile(0, 0, size).path
    partial.chmod(0o644)
    partial.write_bytes(bytes(32) + partial.read_bytes()[32:])
    again = writer(tmp_path)
    with caplog.at_level(logging.ERROR):
        again.entry(chain_id, 250, entries[0].entry_hash)
    assert "do not produce the root of its latest checkpoint" in caplog.text


def test_replayed_records_change_nothing(tmp_path: Path) -> None:
    entries, checkpoints = stream()
    tiles = writer(tmp_path)
    for _ in range(2):
        feed(tiles, entries)
        for c in checkpoints:
            tiles.checkpoint(c.chain_id, c.note, DAY)
        tiles.flush()
    assert tiles.entries_tiled == len(entries)
    assert tiles.checkpoints_published == len(checkpoints)


def test_verifier_keys_accumulate(tmp_path: Path) -> None:
    store = FileArchive(tmp_path)
    assert publish_verifier_keys(store, [SIGNER.verifier])
    assert not publish_verifier_keys(store, [SIGNER.verifier])
    rotated = NoteSigner.generate("auditstream-next")
    assert publish_verifier_keys(store, [rotated.verifier])
    assert (store.get(VKEYS) or b"").decode().split() == [
        SIGNER.verifier.encode(),
        rotated.verifier.encode(),
    ]


def test_entries_reordered_within_a_batch_are_tiled_in_seq_order(tmp_path: Path) -> None:
    """A producer without idempotence may swap records on a retry (the bench's
    publisher does): within what one write takes, order does not matter."""
    entries, checkpoints = stream()
    swapped = list(entries)
    for n in range(10, len(swapped) - 1, 97):
        swapped[n], swapped[n + 1] = swapped[n + 1], swapped[n]
    tiles = writer(tmp_path)
    feed(tiles, swapped)
    for number, checkpoint in enumerate(checkpoints):
        tiles.checkpoint(checkpoint.chain_id, checkpoint.note, DAY, ("cp", 0, number))
    tiles.flush()
    assert tiles.held() == []
    for chain_id in {c.chain_id for c in checkpoints}:
        assert check_log(tmp_path, chain_id) == max(
            c.tree_size for c in checkpoints if c.chain_id == chain_id
        )


def test_one_flush_of_many_tiles_publishes_its_earliest_checkpoints_too(tmp_path: Path) -> None:
    """A backlog flushed at once: the partial tiles of an early checkpoint are cut from
    full tiles that are neither at the edge nor among the recent ones, and not in the
    store yet (every object of a flush is written together, after the tile math)."""
    outputs = sealed_outputs(256 * 12, chains=1, hipaa_every=0)
    entries = [sealed.SealedEntry.FromString(v) for _, v in outputs.sealed]
    checkpoints = [sealed.Checkpoint.FromString(v) for _, v in outputs.checkpoints]
    assert min(c.tree_size for c in checkpoints) < 256 * 3 < 256 * 11 < len(entries)
    tiles = writer(tmp_path)
    feed(tiles, entries)
    for number, checkpoint in enumerate(checkpoints):
        tiles.checkpoint(checkpoint.chain_id, checkpoint.note, DAY, ("cp", 0, number))
    tiles.flush()
    assert tiles.held() == [] and tiles.checkpoints_published == len(checkpoints)
    (chain_id,) = {c.chain_id for c in checkpoints}
    assert check_log(tmp_path, chain_id) == max(c.tree_size for c in checkpoints)
    archive_log = ArchiveLog(FileArchive(tmp_path), chain_id)
    assert [d.size for d in archive_log.history()] == sorted(c.tree_size for c in checkpoints)
