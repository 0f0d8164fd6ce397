"""The archive sink's transparency logs: tiles, entry bundles and plain signed
checkpoints for every chain (where they go: `auditstream.archive.tlog`).

`Tiling` wraps the archive sink's writer. It sees each record the sink takes; before
the sink's write returns, it writes the tiles and bundles that filled up, then
publishes every checkpoint whose entries are all tiled: its partial tiles, its dated
history object, then the log's `checkpoint` pointer. So a checkpoint is never visible
before the tiles it needs, and it is published only if those tiles reproduce its root.

A flush writes the objects of every chain at once, `threads` at a time (each is a round
trip to the store), and only when all of a chain's objects are written does it point
the chain's `checkpoint` at the newest checkpoint they publish.

Durability follows the segments: objects are written once and locked as long as
skeletons; the Kafka offset of a checkpoint record is committed only once it is
published. Entries need no hold, because tiles are derived from them: after a restart
or a rebalance a chain continues from its latest published checkpoint, and the entries
between it and the first one Kafka delivers again are read back from the archive's
skeletons (which is also how an archive written before tiles existed gets them).

A chain whose log cannot continue (its tiles disagree with a signed root, the archive
lacks entries, an object exists with other bytes) stops: an error is logged and
counted, its checkpoint records stay uncommitted, segments go on, and a restart tries
again. Store errors propagate, as they do for segments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import logging
import re
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message, TopicPartition
from prometheus_client import Counter

from auditstream.archive import segment as seg
from auditstream.archive.store import ArchiveConflictError, ArchiveStore
from auditstream.archive.tlog import VKEYS, ArchiveLog, checked_note, day_of, history_key
from auditstream.core.hashes import HASH_SIZE
from auditstream.core.keys import NoteVerifier
from auditstream.core.tlog import (
    ENTRIES,
    Tile,
    TileTree,
    cut,
    decode_bundle,
    decode_hashes,
    edge,
    edge_root,
)
from auditstream.errors import FormatError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.sinks.base import Written

if TYPE_CHECKING:
    from auditstream.sinks.archive import ArchiveSink

log = logging.getLogger(__name__)

TILED = Counter("auditstream_tlog_entries_total", "Entries added to transparency-log tiles")
TILES = Counter("auditstream_tlog_tiles_total", "Tiles and entry bundles written")
PUBLISHED = Counter("auditstream_tlog_checkpoints_total", "Checkpoints published as signed notes")
STOPPED = Counter(
    "auditstream_tlog_chain_failures_total",
    "Chains whose transparency log stopped (see the error log)",
)
DAY = dt.timedelta(days=1)
RECENT_TILES = 8  # full tiles kept per chain for checkpoints that arrive after them
BACKFILL_BATCH = 65_536
_MANIFEST = re.compile(r"/([^/]+)/(\d{20})-(\d{20})\.json\Z")

Position = tuple[str, int, int]  # topic, partition, offset


@dataclass
class _Pending:
    note: bytes
    day: str
    position: Position | None


@dataclass
class _Chain:
    log: ArchiveLog
    tree: TileTree
    published: int
    arrived: list[tuple[int, bytes]] = field(default_factory=list)  # since the last flush
    incoming: list[bytes] = field(default_factory=list)
    pending: dict[int, _Pending] = field(default_factory=dict)
    recent: OrderedDict[Tile, bytes] = field(default_factory=OrderedDict)
    planned: dict[str, bytes] = field(default_factory=dict)  # objects not written yet
    publishing: list[int] = field(default_factory=list)  # sizes they publish, verified
    stopped: str = ""

    @property
    def expected(self) -> int:
        return self.tree.size + len(self.incoming)


class TileWriter:
    """Every chain's tiles and checkpoints, written to one store.

    Feed it entries (in seq order per chain) and checkpoints; `flush` writes what is
    due, `threads` objects at a time. State is loaded per chain from the store on first
    sight.
    """

    def __init__(
        self,
        store: ArchiveStore,
        *,
        retain_days: int,
        now: Callable[[], dt.datetime],
        threads: int = 8,
    ) -> None:
        self.store = store
        self.retain_days = retain_days
        self.now = now
        self.threads = threads
        self.entries_tiled = 0
        self.checkpoints_published = 0
        self._chains: dict[str, _Chain] = {}

    # -- input -------------------------------------------------------------------------
    def entry(self, chain_id: str, seq: int, entry_hash: bytes) -> None:
        """One sealed entry, in any order within a batch (a producer without
        idempotence may reorder on retries); replays (seqs already tiled) are ignored."""
        chain = self._chain(chain_id)
        if not chain.stopped:
            chain.arrived.append((seq, entry_hash))

    def _take(self, chain: _Chain) -> None:
        """The entries that arrived since the last flush, in seq order."""
        arrived, chain.arrived = sorted(chain.arrived), []
        for seq, entry_hash in arrived:
            self._add(chain, seq, entry_hash)
            if chain.stopped:
                return

    def _add(self, chain: _Chain, seq: int, entry_hash: bytes) -> None:
        if seq < chain.expected:
            return
        if len(entry_hash) != HASH_SIZE:
            self._stop(chain, f"entry {seq} has a {len(entry_hash)}-byte entry hash")
            return
        if seq > chain.expected:
            self._backfill(chain, seq)
            if chain.stopped:
                return
        chain.incoming.append(entry_hash)

    def checkpoint(
        self, chain_id: str, signed: bytes, day: str, position: Position | None = None
    ) -> None:
        """A signed checkpoint of the chain, signed on `day` (UTC, yyyy-mm-dd)."""
        chain = self._chain(chain_id)
        try:
            size, _ = checked_note(signed, chain_id)
        except FormatError as exc:
            log.error("checkpoint record of chain %s is not a checkpoint note: %s", chain_id, exc)
            return
        if size <= chain.published:
            return  # published before this record was delivered again
        known = chain.pending.get(size)
        if known is not None and known.note != signed:
            log.error("chain %s: two different checkpoints of tree size %d", chain_id, size)
            return
        chain.pending[size] = _Pending(signed, day, position)

    # -- output ------------------------------------------------------------------------
    def flush(self) -> None:
        """Write full tiles, then publish every checkpoint whose entries are tiled."""
        for chain in self._chains.values():
            if chain.stopped:
                continue
            try:
                self._take(chain)
                if chain.stopped:
                    continue
                if chain.incoming:
                    incoming, chain.incoming = chain.incoming, []
                    self._append(chain, incoming)
                self._publish_due(chain)
            except (FormatError, ArchiveConflictError) as exc:
                self._stop(chain, str(exc))
        self._write_planned()

    def _write_planned(self) -> None:
        """Write every chain's planned objects, then, for each chain whose objects are
        all written, its `checkpoint` pointer: the newest checkpoint they publish."""
        chains = [c for c in self._chains.values() if c.planned or c.publishing]
        if not chains:
            return
        retain = self.now() + DAY * self.retain_days
        with ThreadPoolExecutor(self.threads, thread_name_prefix="tlog-write") as pool:
            writes = [
                (chain, [pool.submit(self._put, k, d, retain) for k, d in chain.planned.items()])
                for chain in chains
            ]
            for chain, futures in writes:
                chain.planned = {}
                conflict = _conflict(futures)
                if conflict is not None:
                    self._stop(chain, str(conflict))
                    chain.publishing = []
            pointers = [
                (chain, pool.submit(self._point, chain)) for chain, _ in writes if chain.publishing
            ]
            for chain, future in pointers:
                future.result()
                self.checkpoints_published += len(chain.publishing)
                PUBLISHED.inc(len(chain.publishing))
                for size in chain.publishing:
                    chain.pending.pop(size, None)
                chain.published = max(chain.publishing)
                chain.publishing = []

    def _point(self, chain: _Chain) -> None:
        newest = chain.pending[max(chain.publishing)]
        self.store.replace(chain.log.prefix + "checkpoint", newest.note)

    def held(self) -> list[Position]:
        """Positions of checkpoint records not published yet (not to be committed)."""
        return [
            p.position
            for chain in self._chains.values()
            for p in chain.pending.values()
            if p.position is not None
        ]

    def forget(self) -> None:
        """Drop all state (after a rebalance); chains load again from the store."""
        self._chains.clear()

    # -- per chain ---------------------------------------------------------------------
    def _chain(self, chain_id: str) -> _Chain:
        chain = self._chains.get(chain_id)
        if chain is None:
            chain = self._chains[chain_id] = self._load(chain_id)
        return chain

    def _load(self, chain_id: str) -> _Chain:
        """The chain's tree as of its latest published checkpoint."""
        archive_log = ArchiveLog(self.store, chain_id)
        latest = archive_log.latest()
        if latest is None:
            return _Chain(archive_log, TileTree(), 0)
        try:
            size, root = checked_note(latest, chain_id)
            partials: dict[int, list[bytes]] = {}
            entries: list[bytes] = []
            for tile in edge(size):
                data = archive_log.read_tile(tile)
                if tile.level == ENTRIES:
                    entries = decode_bundle(data, tile.width)
                else:
                    partials[tile.level] = decode_hashes(data, tile.width)
            tree = TileTree(size, partials, entries)
            if tree.root() != root:
                raise FormatError("its tiles do not produce the root of its latest checkpoint")
        except FormatError as exc:
            chain = _Chain(archive_log, TileTree(), 0)
            self._stop(chain, f"cannot continue from the archive: {exc}")
            return chain
        log.info("chain %s: log continues from tree size %d", chain_id, size)
        return _Chain(archive_log, tree, size)

    def _append(self, chain: _Chain, hashes: Sequence[bytes]) -> None:
        for tile, data in chain.tree.append(hashes):
            chain.planned[chain.log.prefix + tile.path] = data
            chain.recent[tile] = data
            if len(chain.recent) > RECENT_TILES:
                chain.recent.popitem(last=False)
        self.entries_tiled += len(hashes)
        TILED.inc(len(hashes))

    def _publish_due(self, chain: _Chain) -> None:
        """Plan the objects of every checkpoint whose entries are tiled, once its root
        is checked against the tiles."""
        for size in sorted(s for s in chain.pending if s <= chain.tree.size):
            if size in chain.publishing:
                continue
            pending = chain.pending[size]
            tiles = [(tile, self._edge_tile(chain, tile)) for tile in edge(size)]
            partials = {t.level: decode_hashes(d, t.width) for t, d in tiles if t.level >= 0}
            _, root = checked_note(pending.note, chain.log.chain_id)
            if edge_root(size, partials) != root:
                raise FormatError(
                    f"the entries archived for seq 0..{size - 1} do not produce the root "
                    f"signed for tree size {size}"
                )
            for tile, data in tiles:
                chain.planned[chain.log.prefix + tile.path] = data
            chain.planned[history_key(chain.log.chain_id, pending.day, size)] = pending.note
            chain.publishing.append(size)

    def _edge_tile(self, chain: _Chain, tile: Tile) -> bytes:
        """A partial tile of an earlier size: from the edge, a recent full tile, or the
        store (a checkpoint record that came long after its entries)."""
        data = chain.tree.prefix(tile)
        if data is not None:
            return data
        full = chain.recent.get(tile.as_full())
        if full is None:  # planned in this flush, or written before
            full = chain.planned.get(chain.log.prefix + tile.as_full().path)
        return cut(full, tile) if full is not None else chain.log.read_tile(tile)

    def _backfill(self, chain: _Chain, stop: int) -> None:
        """Entries from the tree's size up to `stop` (exclusive), from the skeletons."""
        if chain.incoming:
            incoming, chain.incoming = chain.incoming, []
            self._append(chain, incoming)
        start = chain.tree.size
        log.info(
            "chain %s: reading seq %d..%d back from the archive",
            chain.log.chain_id,
            start,
            stop - 1,
        )
        batch: list[bytes] = []
        expected = start
        try:
            for seq, entry_hash in _archived(self.store, chain.log.chain_id, start, stop):
                if seq != expected:
                    break
                batch.append(entry_hash)
                expected += 1
                if len(batch) >= BACKFILL_BATCH:
                    self._append(chain, batch)
                    self._write_planned()  # a bounded number of tiles in memory
                    batch = []
            self._append(chain, batch)
        except (FormatError, ArchiveConflictError) as exc:
            self._stop(chain, f"reading seq {start}..{stop - 1} back: {exc}")
            return
        if expected != stop:
            self._stop(
                chain, f"seq {expected} is neither in the archive's skeletons nor delivered again"
            )

    def _put(self, key: str, data: bytes, retain: dt.datetime) -> None:
        if self.store.put(key, data, retain_until=retain):
            TILES.inc()

    def _stop(self, chain: _Chain, why: str) -> None:
        chain.stopped = why
        STOPPED.inc()
        log.error(
            "transparency log of chain %s stops at tree size %d: %s (segments go on; its "
            "checkpoint records stay uncommitted until a restart succeeds)",
            chain.log.chain_id,
            chain.published,
            why,
        )


def _conflict(futures: Iterable[Future[None]]) -> ArchiveConflictError | None:
    """The first conflict among a chain's writes, once all are done; other store
    errors are raised."""
    conflict = None
    for future in futures:
        try:
            future.result()
        except ArchiveConflictError as exc:
            conflict = conflict or exc
    return conflict


def _archived(
    store: ArchiveStore, chain_id: str, start: int, stop: int
) -> Iterator[tuple[int, bytes]]:
    """(seq, entry hash) of the chain's archived entries start..stop-1, in seq order,
    from the skeletons of the segments that overlap (one segment per class in memory)."""
    tenant = chain_id.split("/", 1)[0]
    prefix = f"v1/manifests/{tenant}/{seg.chain_path(chain_id)}/"
    by_class: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key in store.list(prefix):
        match = _MANIFEST.search(key)
        if match and int(match.group(3)) >= start and int(match.group(2)) < stop:
            by_class[match.group(1)].append((int(match.group(2)), key))
    streams = [_skeleton_hashes(store, sorted(keys), start, stop) for keys in by_class.values()]
    return heapq.merge(*streams)


def _skeleton_hashes(
    store: ArchiveStore, manifests: Iterable[tuple[int, str]], start: int, stop: int
) -> Iterator[tuple[int, bytes]]:
    for _, key in manifests:
        data = store.get(key)
        if data is None:
            raise FormatError(f"{key} disappeared")
        manifest = seg.Manifest.from_bytes(data)
        skeleton = store.get(manifest.skeleton_key)
        if skeleton is None:
            raise FormatError(f"{manifest.skeleton_key} is missing")
        if hashlib.sha256(skeleton).hexdigest() != manifest.skeleton_sha256:
            raise FormatError(f"{manifest.skeleton_key} differs from its manifest's SHA-256")
        for raw in seg.decode_entries(skeleton):
            entry = sealed.SealedEntry.FromString(raw)
            if start <= entry.seq < stop:
                yield entry.seq, entry.entry_hash


class Tiling:
    """The archive sink's writer with its transparency logs written alongside (a Writer
    for `SinkLoop`)."""

    def __init__(self, sink: ArchiveSink) -> None:
        self.inner = sink
        self.checkpoints_topic = sink.config.topics.checkpoints
        self.now = sink.now
        self.tiles = TileWriter(
            sink.store,
            retain_days=sink.config.skeleton_days,
            now=sink.now,
            threads=sink.config.upload_threads,
        )
        self._positions: dict[tuple[str, int], int] = {}

    def load(self) -> None:
        self.inner.load()

    def take(self, message: Message) -> None:
        self.inner.take(message)
        topic, partition, offset = (
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
        )
        self._positions[(topic, partition)] = offset + 1
        value = message.value() or b""
        if topic == self.checkpoints_topic:
            checkpoint = sealed.Checkpoint.FromString(value)
            kind, millis = message.timestamp()
            signed_at = (
                dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
                if kind != TIMESTAMP_NOT_AVAILABLE and millis > 0
                else self.now()
            )
            self.tiles.checkpoint(
                checkpoint.chain_id, checkpoint.note, day_of(signed_at), (topic, partition, offset)
            )
        else:
            entry = sealed.SealedEntry.FromString(value)
            self.tiles.entry(entry.chain_id, entry.seq, entry.entry_hash)

    def due(self) -> bool:
        return self.inner.due()

    def write(self, *, everything: bool) -> Written:
        """The sink's write, after the tiles and due checkpoints are written; offsets of
        unpublished checkpoint records held back. Writing everything (on stop or when
        partitions are revoked) also drops the logs' state: partitions seen again later
        load it afresh from the archive."""
        self.tiles.flush()
        written = self.inner.write(everything=everything)
        offsets = self._held_back(written.offsets)
        if everything:
            self.tiles.forget()
            self._positions.clear()
        return Written(written.entries, offsets)

    def _held_back(self, offsets: Sequence[TopicPartition] | None) -> list[TopicPartition]:
        """Offsets of the partitions taken from since the state was last dropped, each
        no further than its oldest unpublished checkpoint record."""
        if offsets is None:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._positions.items()]
        oldest: dict[tuple[str, int], int] = {}
        for topic, partition, offset in self.tiles.held():
            key = (topic, partition)
            oldest[key] = min(offset, oldest.get(key, offset))
        return [
            TopicPartition(
                tp.topic,
                tp.partition,
                min(tp.offset, oldest.get((tp.topic, tp.partition), tp.offset)),
            )
            for tp in offsets
            if (tp.topic, tp.partition) in self._positions
        ]


def publish_verifier_keys(store: ArchiveStore, verifiers: Iterable[NoteVerifier]) -> bool:
    """Add the checkpoint verifier keys to `v1/tlog/vkeys` (keys listed before stay:
    old checkpoints remain verifiable). Returns whether the file changed."""
    known = (store.get(VKEYS) or b"").decode("utf-8", "replace").split()
    wanted = list(dict.fromkeys([*known, *(v.encode() for v in verifiers)]))
    if wanted == known:
        return False
    store.replace(VKEYS, ("\n".join(wanted) + "\n").encode())
    return True
