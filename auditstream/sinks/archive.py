"""The archive sink: sealed entries into write-once segments, per chain and class.

A segment closes on entry count, size or age. Closing writes the manifest first, then
the segment and its skeleton; Kafka offsets are committed only up to the oldest entry
still waiting in an open segment. After a crash, entries already named by a manifest
are skipped, and a manifest whose objects did not make it is completed from the
replayed entries (the objects come out byte-identical, checked against the manifest's
SHA-256). So a replay never creates a second copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Message, TopicPartition
from prometheus_client import Counter as Metric

from auditstream.archive import segment as seg
from auditstream.archive.store import ArchiveStore
from auditstream.archive.tiling import Tiling
from auditstream.core.body import decode_body
from auditstream.core.seqs import StoredSeqs
from auditstream.errors import AuditStreamError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from auditstream.settings.config import Topics
from auditstream.sinks.base import SinkLoop, Written

log = logging.getLogger(__name__)

SEGMENTS = Metric("auditstream_archive_segments_total", "Segments written")
ENTRIES = Metric("auditstream_archive_entries_total", "Entries archived")
DAY = dt.timedelta(days=1)


class ArchiveIntegrityError(AuditStreamError):
    """Rebuilt objects do not match what their manifest promised."""


@dataclass(frozen=True)
class ArchiveConfig:
    bootstrap: str
    topics: Topics
    group_id: str = "auditstream-sink-archive"
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_age_s: float = 60.0
    skeleton_days: int = 3650  # skeletons and manifests outlive content by this long


@dataclass
class _Open:
    entries: list[sealed.SealedEntry] = field(default_factory=list)
    positions: list[tuple[str, int, int]] = field(default_factory=list)  # topic, partition, offset
    size: int = 0
    since: float = 0.0


@dataclass
class _Repair:
    manifest: seg.Manifest
    wanted: set[int]
    got: dict[int, sealed.SealedEntry] = field(default_factory=dict)
    positions: list[tuple[str, int, int]] = field(default_factory=list)


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
        self._open: dict[tuple[str, str], _Open] = {}
        self._pending: Counter[tuple[str, int, int]] = Counter()
        self._positions: dict[tuple[str, int], int] = {}
        self._repairs: dict[str, list[_Repair]] = defaultdict(list)

    def run(self, stop: threading.Event, on_segment: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; write every open segment at the end. Each chain's
        transparency log (tiles and plain checkpoints) is written alongside."""
        config = self.config
        loop = SinkLoop(
            Tiling(self), config.bootstrap, config.group_id, config.topics, max_messages=2000
        )
        loop.run(stop, on_segment)

    # -- the Writer protocol: state from the archive ----------------------------------
    def load(self) -> None:
        newest: dict[tuple[str, str], seg.Manifest] = {}
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
                    _Repair(manifest, set(seg.runs_seqs(manifest.seqs)))
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
            self._checkpoint(sealed.Checkpoint.FromString(value))
            return
        entry = sealed.SealedEntry.FromString(value)
        if self.archived.has(entry.chain_id, entry.seq):
            self._collect_repair(entry, (topic, partition, offset))
            return
        body = decode_body(entry.body)
        slot = (entry.chain_id, body.classification.retention_class or "standard")
        current = self._open.setdefault(slot, _Open(since=time.monotonic()))
        current.entries.append(entry)
        current.positions.append((topic, partition, offset))
        current.size += len(value)
        self._pending[(topic, partition, offset)] += 1

    def due(self) -> bool:
        # Every round: segments close by their own age, and commits move on even when
        # only already-archived entries came in.
        return True

    def write(self, *, everything: bool) -> Written:
        closed = self.close_segments(all_segments=everything)
        return Written(closed, self._committable())

    def _checkpoint(self, checkpoint: sealed.Checkpoint) -> None:
        tenant = checkpoint.chain_id.split("/", 1)[0]
        key = seg.checkpoint_key(tenant, checkpoint.chain_id, checkpoint.tree_size)
        retain = self.now() + DAY * self.config.skeleton_days
        self.store.put(key, checkpoint.SerializeToString(), retain_until=retain)
        known = self.latest_note.get(checkpoint.chain_id)
        if known is None or checkpoint.tree_size > known[0]:
            self.latest_note[checkpoint.chain_id] = (checkpoint.tree_size, checkpoint.note.decode())

    # -- writing ----------------------------------------------------------------------
    def close_segments(self, *, all_segments: bool = False) -> int:
        """Write every segment that is due (or all). Returns how many."""
        due = [
            slot
            for slot, current in self._open.items()
            if current.entries
            and (
                all_segments
                or len(current.entries) >= self.config.max_entries
                or current.size >= self.config.max_bytes
                or time.monotonic() - current.since >= self.config.max_age_s
            )
        ]
        for slot in due:
            current = self._open.pop(slot)
            self._write(current.entries, slot[1])
            for position in current.positions:
                self._release(position)
        return len(due)

    def _write(self, entries: list[sealed.SealedEntry], retention_class: str) -> None:
        chain_id = entries[0].chain_id
        note = self.latest_note.get(chain_id, (0, ""))[1]
        write_segment(
            self.store,
            entries,
            retention_class=retention_class,
            checkpoint=note,
            now=self.now(),
            skeleton_days=self.config.skeleton_days,
        )
        for entry in entries:
            self.archived.add(chain_id, entry.seq)
        self.entries_archived += len(entries)
        self.segments_written += 1
        SEGMENTS.inc()
        ENTRIES.inc(len(entries))

    def _collect_repair(self, entry: sealed.SealedEntry, position: tuple[str, int, int]) -> None:
        for repair in self._repairs.get(entry.chain_id, ()):
            if entry.seq in repair.wanted:
                repair.got[entry.seq] = entry
                repair.positions.append(position)
                self._pending[position] += 1  # not committed until the repair is done
                if len(repair.got) == len(repair.wanted):
                    self._finish_repair(repair)
                return

    def _finish_repair(self, repair: _Repair) -> None:
        manifest = repair.manifest
        entries = [repair.got[s] for s in sorted(repair.got)]
        built = seg.build_segment(
            entries,
            retention_class=manifest.retention_class,
            checkpoint=manifest.checkpoint,
            now=self.now(),
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
        for position in repair.positions:
            self._release(position)
        log.info("completed the objects of %s after a restart", manifest.key)

    def _release(self, position: tuple[str, int, int]) -> None:
        self._pending[position] -= 1
        if not self._pending[position]:
            del self._pending[position]

    def _committable(self) -> list[TopicPartition]:
        """Per partition, the offset after the last record consumed, held back to the
        oldest record still waiting in an open segment or a repair."""
        oldest: dict[tuple[str, int], int] = {}
        for topic, partition, offset in self._pending:
            key = (topic, partition)
            oldest[key] = min(offset, oldest.get(key, offset))
        return [
            TopicPartition(topic, partition, oldest.get((topic, partition), position))
            for (topic, partition), position in self._positions.items()
        ]


def write_segment(
    store: ArchiveStore,
    entries: list[sealed.SealedEntry],
    *,
    retention_class: str,
    checkpoint: str,
    now: dt.datetime,
    skeleton_days: int,
) -> seg.Manifest:
    """Write one segment: the manifest first, then the segment and its skeleton, each
    locked until its retention date (skeleton and manifest `skeleton_days` longer)."""
    built = seg.build_segment(
        entries, retention_class=retention_class, checkpoint=checkpoint, now=now
    )
    manifest = built.manifest
    retain = dt.datetime.fromisoformat(manifest.retain_until)
    long_retain = retain + DAY * skeleton_days
    hold = manifest.legal_hold
    store.put(manifest.key, manifest.to_bytes(), retain_until=long_retain, legal_hold=hold)
    failpoints.hit("archive.after_manifest")
    store.put(manifest.segment_key, built.segment, retain_until=retain, legal_hold=hold)
    store.put(manifest.skeleton_key, built.skeleton, retain_until=long_retain, legal_hold=hold)
    return manifest
