"""The archive as a verification source: segments through their manifests.

For each manifest of a chain the source checks that the objects are the bytes the
manifest names (SHA-256) and that the manifest's claims (range, count, first and last
hash, Merkle root, retention) hold for the entries inside. It then hands the entries to
the chain verifier in seq order, merging the chain's retention classes, whose segments
interleave. A segment that is gone or altered is reported, and the chain continues from
its skeleton, so one bad object yields one finding instead of a cascade.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.archive.tlog import ArchiveLog
from auditstream.core import hashes, merkle
from auditstream.core.chain import ChainHead, Link
from auditstream.core.verify import Kind
from auditstream.errors import FormatError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.verification.sources import Batch, Flag

BATCH_ENTRIES = 4096


@dataclass(frozen=True)
class _Listed:
    key: str
    manifest: seg.Manifest | None  # None: the manifest does not parse
    first_seq: int


@dataclass
class _Loaded:
    entries: list[sealed.SealedEntry]
    removal_due: bool  # the entries are skeletons whose content may have expired


class ArchiveSource:
    name = "archive"

    def __init__(
        self,
        archive: FileArchive | S3Archive,
        *,
        tenant: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        self.archive = archive
        self.tenant = tenant
        self.start = start
        self.end = end
        self.now = now or dt.datetime.now(dt.UTC)
        self._by_chain: dict[str, list[_Listed]] | None = None
        self._checkpoint_keys: dict[str, list[str]] | None = None

    # -- listing -----------------------------------------------------------------------
    def _prefix(self, kind: str) -> str:
        return f"v1/{kind}/{self.tenant}/" if self.tenant else f"v1/{kind}/"

    def _listing(self) -> dict[str, list[_Listed]]:
        if self._by_chain is None:
            by_chain: dict[str, list[_Listed]] = defaultdict(list)
            for key in self.archive.list(self._prefix("manifests")):
                chain_id, first_seq = _place(key)
                data = self.archive.get(key)
                manifest = None
                if data is not None:
                    try:
                        manifest = seg.Manifest.from_bytes(data)
                    except FormatError:
                        manifest = None
                by_chain[chain_id].append(_Listed(key, manifest, first_seq))
            for listed in by_chain.values():
                listed.sort(key=lambda item: item.first_seq)
            self._by_chain = dict(by_chain)
        return self._by_chain

    def _checkpoint_listing(self) -> dict[str, list[str]]:
        if self._checkpoint_keys is None:
            found: dict[str, list[str]] = defaultdict(list)
            for key in self.archive.list(self._prefix("checkpoints")):
                found[_place(key)[0]].append(key)
            self._checkpoint_keys = dict(found)
        return self._checkpoint_keys

    def chains(self, chain: str | None) -> list[str]:
        found = set(self._listing()) | set(self._checkpoint_listing())
        if chain is not None:
            found &= {chain}
        return sorted(c for c in found if self._selected(c))

    def checkpoints(self, chain_id: str) -> list[bytes]:
        notes = set()
        for key in self._checkpoint_listing().get(chain_id, []):
            data = self.archive.get(key) or b""
            try:
                notes.add(sealed.Checkpoint.FromString(data).note)
            except DecodeError:
                notes.add(data)  # reported as a checkpoint that does not verify
        for listed in self._listing().get(chain_id, []):
            if listed.manifest is not None and listed.manifest.checkpoint:
                notes.add(listed.manifest.checkpoint.encode())
        # The plain signed notes of the chain's log, with the witness cosignatures
        # stored beside them; the verifier merges copies of one checkpoint.
        notes.update(signed for _, signed in ArchiveLog(self.archive, chain_id).notes())
        return sorted(notes)

    # -- a time range --------------------------------------------------------------
    def _seq_range(self, chain_id: str) -> tuple[int, int] | None:
        """The seqs of segments received in [start, end); all seqs without a range."""
        listed = [m.manifest for m in self._listing().get(chain_id, []) if m.manifest]
        if self.start is None and self.end is None:
            return None
        inside = [
            m
            for m in listed
            if (self.start is None or m.last_received >= self.start.isoformat())
            and (self.end is None or m.first_received < self.end.isoformat())
        ]
        if not inside:
            return (1, 0)  # nothing in range
        return min(m.first_seq for m in inside), max(m.last_seq for m in inside)

    def _selected(self, chain_id: str) -> bool:
        found = self._seq_range(chain_id)
        return found is None or found[0] <= found[1]

    def start_head(self, chain_id: str) -> ChainHead | None:
        found = self._seq_range(chain_id)
        if found is None or found[0] == 0:
            return None
        for listed in self._listing().get(chain_id, []):
            manifest = listed.manifest
            if manifest is not None and manifest.first_seq == found[0]:
                return ChainHead(chain_id, found[0], bytes.fromhex(manifest.first_prev_hash))
        return None

    # -- entries -----------------------------------------------------------------------
    def batches(self, chain_id: str, flag: Flag) -> Iterator[Batch]:
        seq_range = self._seq_range(chain_id)
        links: list[Link] = []
        due: list[bool] = []
        for entry, removal_due in self._merged(chain_id, flag, seq_range):
            links.append(Link.from_proto(entry))
            due.append(removal_due)
            if len(links) >= BATCH_ENTRIES:
                yield Batch(links, None, due)
                links, due = [], []
        if links:
            yield Batch(links, None, due)

    def _merged(
        self, chain_id: str, flag: Flag, seq_range: tuple[int, int] | None
    ) -> Iterator[tuple[sealed.SealedEntry, bool]]:
        """The chain's entries over all its segments, in seq order. A segment is read
        only when its first seq comes up, so memory holds the overlapping ones."""
        listed = self._listing().get(chain_id, [])
        if seq_range is not None:
            low, high = seq_range
            listed = [m for m in listed if m.manifest is None or m.manifest.last_seq >= low]
            listed = [m for m in listed if m.first_seq <= high]
        heap: list[tuple[int, int, int, _Loaded]] = []
        position = 0
        while position < len(listed) or heap:
            while position < len(listed) and (not heap or listed[position].first_seq <= heap[0][0]):
                loaded = self._load(listed[position], flag)
                if loaded is not None and loaded.entries:
                    heapq.heappush(heap, (loaded.entries[0].seq, position, 0, loaded))
                position += 1
            if not heap:
                continue
            seq, order, index, loaded = heapq.heappop(heap)
            if seq_range is None or seq_range[0] <= seq <= seq_range[1]:
                yield loaded.entries[index], loaded.removal_due
            if index + 1 < len(loaded.entries):
                heapq.heappush(heap, (loaded.entries[index + 1].seq, order, index + 1, loaded))

    def _load(self, listed: _Listed, flag: Flag) -> _Loaded | None:
        manifest = listed.manifest
        if manifest is None:
            flag(listed.first_seq, Kind.MANIFEST_MISMATCH, f"{listed.key} does not parse")
            return None
        first = manifest.first_seq
        if manifest.key != listed.key:
            flag(first, Kind.MANIFEST_MISMATCH, f"{listed.key} describes {manifest.key}")
        retain_until = dt.datetime.fromisoformat(manifest.retain_until)
        due = not manifest.legal_hold and retain_until <= self.now
        segment = self._object(manifest.segment_key, manifest.segment_sha256, first, flag, due)
        skeleton = self._object(
            manifest.skeleton_key, manifest.skeleton_sha256, first, flag, may_be_gone=False
        )
        if segment is not None:
            _check_claims(manifest, segment, flag, with_bodies=True)
            return _Loaded(segment, removal_due=False)
        if skeleton is not None:
            _check_claims(manifest, skeleton, flag, with_bodies=False)
            return _Loaded(skeleton, removal_due=True)  # a missing segment is reported above
        return None

    def _object(
        self, key: str, digest: str, first: int, flag: Flag, may_be_gone: bool
    ) -> list[sealed.SealedEntry] | None:
        data = self.archive.get(key)
        if data is None:
            if not may_be_gone:
                flag(first, Kind.SEGMENT_MISSING, f"{key} is missing before its retention date")
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            flag(first, Kind.SEGMENT_MISMATCH, f"{key} differs from its manifest's SHA-256")
            return None
        try:
            return [sealed.SealedEntry.FromString(raw) for raw in seg.decode_entries(data)]
        except (FormatError, DecodeError) as exc:
            flag(first, Kind.SEGMENT_MISMATCH, f"{key} does not decode: {exc}")
            return None


def _place(key: str) -> tuple[str, int]:
    """The chain id and first seq a manifest or checkpoint key names."""
    parts = key.split("/")
    chain_id = urllib.parse.unquote(parts[3]) if len(parts) > 3 else ""
    try:
        first = int(parts[-1].split("-", 1)[0].split(".", 1)[0])
    except ValueError:
        first = 0
    return chain_id, first


def _check_claims(
    manifest: seg.Manifest, entries: list[sealed.SealedEntry], flag: Flag, *, with_bodies: bool
) -> None:
    """Report every manifest field the entries contradict."""
    if not entries:
        flag(manifest.first_seq, Kind.MANIFEST_MISMATCH, f"{manifest.key}: the objects are empty")
        return
    wrong = []
    seqs = [e.seq for e in entries]
    checks = {
        "chain_id": all(e.chain_id == manifest.chain_id for e in entries),
        "first_seq": seqs[0] == manifest.first_seq,
        "last_seq": seqs[-1] == manifest.last_seq,
        "seqs": seg.seq_runs(seqs) == manifest.seqs,
        "count": len(entries) == manifest.count,
        "first_prev_hash": entries[0].prev_hash.hex() == manifest.first_prev_hash,
        "last_entry_hash": entries[-1].entry_hash.hex() == manifest.last_entry_hash,
        "merkle_root": merkle.root([hashes.leaf_hash(e.entry_hash) for e in entries]).hex()
        == manifest.merkle_root,
    }
    if with_bodies:
        try:
            bodies = [sealed.SealedBody.FromString(e.body) for e in entries]
        except DecodeError:
            bodies = []  # the chain verifier reports the body itself
        if bodies:
            retain = max(b.classification.retain_until.ToSeconds() for b in bodies)
            classes = {b.classification.retention_class or "standard" for b in bodies}
            checks |= {
                "retain_until": dt.datetime.fromtimestamp(retain, dt.UTC).isoformat()
                == manifest.retain_until,
                "legal_hold": any(b.classification.legal_hold for b in bodies)
                == manifest.legal_hold,
                "retention_class": classes == {manifest.retention_class},
                "tenant_id": all(b.entry.tenant_id == manifest.tenant_id for b in bodies),
            }
    wrong = [name for name, holds in checks.items() if not holds]
    if wrong:
        flag(
            manifest.first_seq,
            Kind.MANIFEST_MISMATCH,
            f"{manifest.key}: entries contradict {', '.join(wrong)}",
        )
