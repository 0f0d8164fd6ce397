"""The archive sink: sealed entries into write-once segments, per chain and class.

A segment closes on entry count, size or age. Closing writes the manifest first, then
the segment and its skeleton; checkpoints are written as they come. Objects are
uploaded by a pool of threads while the sink goes on consuming (an upload is mostly
waiting for the store; compression and hashing release the GIL), but a chain and class
never has two segments in flight, so only its newest manifest can lack its objects.
Kafka offsets are committed only up to the oldest entry or checkpoint not yet durable:
still in an open segment, uploading, or waiting for a repair. After a crash, entries
already named by a manifest are skipped, and a manifest whose objects did not make it
is completed from the replayed entries (the objects come out byte-identical, checked
against the manifest's SHA-256). So a replay never creates a second copy.

A checkpoint is stored once per chain and tree size. A second record of the same tree
(same size, root and signed note; a worker that took a partition over may sign its
tree again, at another time) keeps the first object; one with another root or note is
a fork and stops the sink.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Message, TopicPartition
from google.protobuf.message import DecodeError
from prometheus_client import Counter as Metric

from auditstream.archive import segment as seg
from auditstream.archive.store import ArchiveConflictError, ArchiveStore
from auditstream.archive.tiling import Tiling
from auditstream.core.body import decode_body
from auditstream.core.seqs import StoredSeqs
from auditstream.errors import AuditStreamError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.sinks.base import SinkLoop, Written

log = logging.getLogger(__name__)

SEGMENTS = Metric("auditstream_archive_segments_total", "Segments written")
ENTRIES = Metric("auditstream_archive_entries_total", "Entries archived")
DAY = dt.timedelta(days=1)
Slot = tuple[str, str]  # chain id, retention class


class ArchiveIntegrityError(AuditStreamError):
    """Rebuilt objects do not match what their manifest promised."""


@dataclass(frozen=True)
class ArchiveConfig:
    """
    max_entries, max_bytes, max_age_s   when an open segment closes
    skeleton_days                       how much longer skeletons and manifests are kept
    upload_threads                      objects uploaded at the same time
    """

    kafka: KafkaConnection
    topics: Topics
    group_id: str = "auditstream-sink-archive"
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_age_s: float = 60.0
    skeleton_days: int = 3650  # skeletons and manifests outlive content by this long
    upload_threads: int = 8

    def __post_init__(self) -> None:
        if type(self.upload_threads) is not int or self.upload_threads < 1:
            raise ValueError(f"upload_threads must be an integer ≥ 1, not {self.upload_threads!r}")


@dataclass(eq=False)
class _Held:
    """Records whose offsets may not be committed yet: per partition, the lowest offset
    (records of a partition arrive in offset order, so the first one is the lowest)."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def hold(self, topic: str, partition: int, offset: int) -> None:
        self.offsets.setdefault((topic, partition), offset)


@dataclass(eq=False, kw_only=True)
class _Open(_Held):
    draft: seg.Draft
    since: float


@dataclass(eq=False, kw_only=True)
class _Upload(_Held):
    future: Future[object]
    entries: int = 0  # 0: a checkpoint


@dataclass(eq=False, kw_only=True)
class _Repair(_Held):
    manifest: seg.Manifest
    wanted: set[int]
    got: dict[int, sealed.SealedEntry] = field(default_factory=dict)


class ArchiveSink:
    def __init__(
        self,
        store: ArchiveStore,
        config: ArchiveConfig,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.archived = StoredSeqs()
        self.latest_note: dict[str, tuple[int, str]] = {}
        self.entries_archived = 0
        self.segments_written = 0
        self._open: dict[Slot, _Open] = {}
        self._uploads: list[_Upload] = []
        self._uploading: dict[Slot, _Upload] = {}  # the segment each slot has in flight
        self._positions: dict[tuple[str, int], int] = {}
        self._repairs: dict[str, list[_Repair]] = defaultdict(list)
        self._committed: dict[tuple[str, int], int] = {}
        self._pool: ThreadPoolExecutor | None = None

    def run(self, stop: threading.Event, on_segment: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; write every open segment at the end. Each chain's
        transparency log (tiles and plain checkpoints) is written alongside."""
        config = self.config
        loop = SinkLoop(
            Tiling(self), config.kafka, config.group_id, config.topics, max_messages=5000
        )
        try:
            loop.run(stop, on_segment)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    # -- the Writer protocol: state from the archive ----------------------------------
    def load(self) -> None:
        newest: dict[Slot, seg.Manifest] = {}
        for key in self.store.list("v1/manifests/"):
            data = self.store.get(key)
            if data is None:
                continue
            manifest = seg.Manifest.from_bytes(data)
            for seq_number in seg.runs_seqs(manifest.seqs):
                self.archived.add(manifest.chain_id, seq_number)
            slot = (manifest.chain_id, manifest.retention_class)
            if slot not in newest or manifest.last_seq > newest[slot].last_seq:
                newest[slot] = manifest
        # Only the last flush of each chain and class can have been cut short.
        for manifest in newest.values():
            if (
                self.store.get(manifest.segment_key) is None
                or self.store.get(manifest.skeleton_key) is None
            ):
                log.warning("manifest %s lacks its objects; they will be rebuilt", manifest.key)
                self._repairs[manifest.chain_id].append(
                    _Repair(manifest=manifest, wanted=set(seg.runs_seqs(manifest.seqs)))
                )

    # -- the Writer protocol: records -------------------------------------------------
    def take(self, message: Message) -> None:
        topic, partition, offset = (
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
        )
        self._positions[(topic, partition)] = offset + 1
        value = message.value() or b""
        if topic == self.config.topics.checkpoints:
            self._checkpoint(value, (topic, partition, offset))
            return
        entry = sealed.SealedEntry.FromString(value)
        if self.archived.has(entry.chain_id, entry.seq):
            self._collect_repair(entry, (topic, partition, offset))
            return
        body_bytes = entry.body
        body = decode_body(body_bytes)
        slot = (entry.chain_id, body.classification.retention_class or "standard")
        current = self._open.get(slot)
        if current is None:
            current = self._open[slot] = _Open(draft=seg.Draft(*slot), since=time.monotonic())
        current.draft.add(value, entry, body, body_bytes)
        current.hold(topic, partition, offset)

    def due(self) -> bool:
        # Every round: segments close by their own age, finished uploads release their
        # offsets, and commits move on even when only already-archived entries came in.
        return True

    def write(self, *, everything: bool) -> Written:
        """Start uploading every segment that is due (all when `everything`, and then
        wait for every upload); report the uploads that have finished."""
        done = self._finished(wait=False)
        self.close_segments(all_segments=everything)
        if everything:
            done += self._finished(wait=True)
        return Written(done, self._committable(everything=everything))

    def _checkpoint(self, value: bytes, position: tuple[str, int, int]) -> None:
        checkpoint = sealed.Checkpoint.FromString(value)
        tenant = checkpoint.chain_id.split("/", 1)[0]
        key = seg.checkpoint_key(tenant, checkpoint.chain_id, checkpoint.tree_size)
        retain = self.now() + DAY * self.config.skeleton_days
        upload = _Upload(future=self._submit(put_checkpoint, self.store, key, value, retain))
        upload.hold(*position)
        self._uploads.append(upload)
        known = self.latest_note.get(checkpoint.chain_id)
        if known is None or checkpoint.tree_size > known[0]:
            self.latest_note[checkpoint.chain_id] = (checkpoint.tree_size, checkpoint.note.decode())

    # -- writing ----------------------------------------------------------------------
    def close_segments(self, *, all_segments: bool = False) -> int:
        """Start uploading every segment that is due (or all). Returns how many."""
        config = self.config
        due = [
            slot
            for slot, current in self._open.items()
            if all_segments
            or len(current.draft) >= config.max_entries
            or current.draft.size >= config.max_bytes
            or time.monotonic() - current.since >= config.max_age_s
        ]
        for slot in due:
            self._upload_segment(slot, self._open.pop(slot))
        return len(due)

    def _upload_segment(self, slot: Slot, current: _Open) -> None:
        earlier = self._uploading.get(slot)
        if earlier is not None:
            earlier.future.result()  # one segment per slot in flight (see the module doc)
        draft = current.draft
        note = self.latest_note.get(draft.chain_id, (0, ""))[1]
        upload = _Upload(
            offsets=current.offsets,
            entries=len(draft),
            future=self._submit(
                write_segment,
                self.store,
                draft,
                checkpoint=note,
                now=self.now(),
                skeleton_days=self.config.skeleton_days,
            ),
        )
        for seq in draft.seqs:
            self.archived.add(draft.chain_id, seq)
        self._uploading[slot] = upload
        self._uploads.append(upload)

    def _submit(
        self, function: Callable[..., object], *args: object, **kwargs: object
    ) -> Future[object]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.config.upload_threads, thread_name_prefix="archive-upload"
            )
        return self._pool.submit(function, *args, **kwargs)

    def _finished(self, *, wait: bool) -> int:
        """Forget the uploads that are done (all of them, waiting, when `wait`); returns
        the entries they stored. An upload that failed raises its error here."""
        stored, running = 0, []
        for upload in self._uploads:
            if not wait and not upload.future.done():
                running.append(upload)
                continue
            upload.future.result()
            if upload.entries:
                stored += upload.entries
                self.segments_written += 1
                SEGMENTS.inc()
                ENTRIES.inc(upload.entries)
        self._uploads = running
        self._uploading = {s: u for s, u in self._uploading.items() if u in running}
        self.entries_archived += stored
        return stored

    def _collect_repair(self, entry: sealed.SealedEntry, position: tuple[str, int, int]) -> None:
        for repair in self._repairs.get(entry.chain_id, ()):
            if entry.seq in repair.wanted:
                repair.got[entry.seq] = entry
                repair.hold(*position)  # not committed until the repair is done
                if len(repair.got) == len(repair.wanted):
                    self._finish_repair(repair)
                return

    def _finish_repair(self, repair: _Repair) -> None:
        manifest = repair.manifest
        draft = seg.Draft.of([repair.got[s] for s in sorted(repair.got)], manifest.retention_class)
        built = seg.build_segment(
            draft, checkpoint=manifest.checkpoint, now=self.now(), zstd_level=manifest.zstd_level
        )
        for data, digest in (
            (built.segment, manifest.segment_sha256),
            (built.skeleton, manifest.skeleton_sha256),
        ):
            if hashlib.sha256(data).hexdigest() != digest:
                raise ArchiveIntegrityError(
                    f"rebuilt objects of {manifest.key} differ from its manifest"
                )
        retain = dt.datetime.fromisoformat(manifest.retain_until)
        self.store.put(
            manifest.segment_key, built.segment, retain_until=retain, legal_hold=manifest.legal_hold
        )
        self.store.put(
            manifest.skeleton_key,
            built.skeleton,
            retain_until=retain + DAY * self.config.skeleton_days,
            legal_hold=manifest.legal_hold,
        )
        self._repairs[manifest.chain_id].remove(repair)
        log.info("completed the objects of %s after a restart", manifest.key)

    def _committable(self, *, everything: bool) -> list[TopicPartition]:
        """Per partition, the offset after the last record consumed, held back to the
        oldest record still in an open segment, an upload or a repair: those that moved
        since the last call, or all of them when `everything`."""
        held: list[_Held] = [*self._open.values(), *self._uploads]
        held += [repair for repairs in self._repairs.values() for repair in repairs]
        oldest = dict(self._positions)
        for holder in held:
            for key, offset in holder.offsets.items():
                oldest[key] = min(offset, oldest.get(key, offset))
        moved = {
            key: offset
            for key, offset in oldest.items()
            if everything or self._committed.get(key) != offset
        }
        self._committed |= moved
        return [
            TopicPartition(topic, partition, offset) for (topic, partition), offset in moved.items()
        ]


def write_segment(
    store: ArchiveStore,
    draft: seg.Draft,
    *,
    checkpoint: str,
    now: dt.datetime,
    skeleton_days: int,
) -> seg.Manifest:
    """Write one segment: the manifest first, then the segment and its skeleton, each
    locked until its retention date (skeleton and manifest `skeleton_days` longer)."""
    built = seg.build_segment(draft, checkpoint=checkpoint, now=now)
    manifest = built.manifest
    retain = dt.datetime.fromisoformat(manifest.retain_until)
    long_retain = retain + DAY * skeleton_days
    hold = manifest.legal_hold
    store.put(manifest.key, manifest.to_bytes(), retain_until=long_retain, legal_hold=hold)
    failpoints.hit("archive.after_manifest")
    store.put(manifest.segment_key, built.segment, retain_until=retain, legal_hold=hold)
    store.put(manifest.skeleton_key, built.skeleton, retain_until=long_retain, legal_hold=hold)
    return manifest


def put_checkpoint(store: ArchiveStore, key: str, value: bytes, retain: dt.datetime) -> bool:
    """Write a checkpoint record once; True if written, False if this tree's checkpoint
    was there already. Raises ArchiveConflictError for another tree at the key."""
    try:
        return store.put(key, value, retain_until=retain)
    except ArchiveConflictError:
        there = store.get(key)
        if there is None or not same_tree(sealed.Checkpoint.FromString(value), there):
            raise
        log.info("%s: this tree's checkpoint is stored already; the first one is kept", key)
        return False


def same_tree(checkpoint: sealed.Checkpoint, stored: bytes) -> bool:
    """Whether `stored` is a checkpoint record of the same chain, size, root and note."""
    try:
        other = sealed.Checkpoint.FromString(stored)
    except DecodeError:
        return False
    return (other.chain_id, other.tree_size, other.root_hash, other.note) == (
        checkpoint.chain_id,
        checkpoint.tree_size,
        checkpoint.root_hash,
        checkpoint.note,
    )
