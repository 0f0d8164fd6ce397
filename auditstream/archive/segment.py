"""Archive objects (pure): segments, skeletons and manifests.

A chain's entries are archived per retention class, in segments:

    segment   zstd( varint length | SealedEntry bytes, repeated )        content, expires
    skeleton  the same entries without their bodies                      kept longer
    manifest  JSON describing both, written FIRST                        kept longer

Keys (chain ids are percent-encoded, so `acme/shard1` is one path element):

    v1/segments/<class>/<tenant>/<chain>/<yyyy-mm-dd>/<first>-<last>.seg
    v1/skeletons/<tenant>/<chain>/<class>/<first>-<last>.skel
    v1/manifests/<tenant>/<chain>/<class>/<first>-<last>.json
    v1/checkpoints/<tenant>/<chain>/<tree size>.note

The manifest is the commit record: it carries the SHA-256 of the objects it names, so
objects written after it can be checked, and rebuilt byte for byte from the same
entries if a crash interrupted their upload (compression is deterministic).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import zstandard

from auditstream.core import hashes, merkle
from auditstream.core.body import decode_body
from auditstream.core.wire import read_varint, varint
from auditstream.errors import FormatError
from auditstream.proto.v1.sealed_pb2 import SealedEntry

FORMAT = "auditstream.archive.segment.v1"
ZSTD_LEVEL = 10


def chain_path(chain_id: str) -> str:
    return urllib.parse.quote(chain_id, safe="")


def _range(first: int, last: int) -> str:
    return f"{first:020d}-{last:020d}"


def segment_key(
    retention_class: str, tenant: str, chain_id: str, day: str, first: int, last: int
) -> str:
    folder = f"v1/segments/{retention_class}/{tenant}/{chain_path(chain_id)}/{day}"
    return f"{folder}/{_range(first, last)}.seg"


def skeleton_key(retention_class: str, tenant: str, chain_id: str, first: int, last: int) -> str:
    return (
        f"v1/skeletons/{tenant}/{chain_path(chain_id)}/{retention_class}/{_range(first, last)}.skel"
    )


def manifest_key(retention_class: str, tenant: str, chain_id: str, first: int, last: int) -> str:
    return (
        f"v1/manifests/{tenant}/{chain_path(chain_id)}/{retention_class}/{_range(first, last)}.json"
    )


def checkpoint_key(tenant: str, chain_id: str, tree_size: int) -> str:
    return f"v1/checkpoints/{tenant}/{chain_path(chain_id)}/{tree_size:020d}.note"


def encode_entries(entries: Iterable[bytes]) -> bytes:
    """zstd of length-delimited records (deterministic for the same input)."""
    raw = b"".join(varint(len(e)) + e for e in entries)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(raw)


def decode_entries(data: bytes) -> Iterator[bytes]:
    try:
        raw = zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as exc:
        raise FormatError(f"archive object does not decompress: {exc}") from exc
    pos = 0
    while pos < len(raw):
        length, pos = read_varint(raw, pos)
        if pos + length > len(raw):
            raise FormatError("archive object ends inside a record")
        yield raw[pos : pos + length]
        pos += length


def seq_runs(seqs: Sequence[int]) -> list[list[int]]:
    """Ascending seqs as [first, last] runs: [0,1,2,5,6] -> [[0,2],[5,6]]."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


def runs_seqs(runs: Iterable[Sequence[int]]) -> Iterator[int]:
    for first, last in runs:
        yield from range(first, last + 1)


@dataclass(frozen=True)
class Manifest:
    chain_id: str
    tenant_id: str
    retention_class: str
    first_seq: int
    last_seq: int
    seqs: list[list[int]]  # runs: the class's entries of the chain in this range
    count: int
    first_prev_hash: str
    last_entry_hash: str
    merkle_root: str  # RFC 6962 root over this segment's entry hashes, in seq order
    segment_key: str
    segment_sha256: str
    segment_bytes: int
    skeleton_key: str
    skeleton_sha256: str
    retain_until: str  # ISO 8601: Object Lock date of the segment
    legal_hold: bool
    created: str
    checkpoint: str = ""  # the latest signed checkpoint note of the chain, if any
    first_received: str = ""  # ISO 8601 Kafka times of the first and last entry
    last_received: str = ""
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return manifest_key(
            self.retention_class, self.tenant_id, self.chain_id, self.first_seq, self.last_seq
        )

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise FormatError(f"unknown manifest format {doc.get('format')!r}")
            return cls(**doc)
        except (ValueError, TypeError) as exc:
            raise FormatError(f"manifest does not parse: {exc}") from exc


@dataclass(frozen=True)
class BuiltSegment:
    manifest: Manifest
    segment: bytes
    skeleton: bytes


def build_segment(
    entries: Sequence[SealedEntry],
    *,
    retention_class: str,
    checkpoint: str,
    now: dt.datetime,
) -> BuiltSegment:
    """The objects and manifest for `entries` (one chain, one class, ascending seq)."""
    if not entries:
        raise ValueError("a segment needs entries")
    first, last = entries[0], entries[-1]
    bodies = [decode_body(e.body) for e in entries]
    tenant = bodies[0].entry.tenant_id
    day = dt.datetime.fromtimestamp(bodies[0].received_time.seconds, dt.UTC).strftime("%Y-%m-%d")
    segment = encode_entries(e.SerializeToString() for e in entries)
    skeleton = encode_entries(_skeleton(e).SerializeToString() for e in entries)
    retain = max(b.classification.retain_until.ToSeconds() for b in bodies)
    seg_key = segment_key(retention_class, tenant, first.chain_id, day, first.seq, last.seq)
    manifest = Manifest(
        chain_id=first.chain_id,
        tenant_id=tenant,
        retention_class=retention_class,
        first_seq=first.seq,
        last_seq=last.seq,
        seqs=seq_runs([e.seq for e in entries]),
        count=len(entries),
        first_prev_hash=first.prev_hash.hex(),
        last_entry_hash=last.entry_hash.hex(),
        merkle_root=merkle.root([hashes.leaf_hash(e.entry_hash) for e in entries]).hex(),
        segment_key=seg_key,
        segment_sha256=hashlib.sha256(segment).hexdigest(),
        segment_bytes=len(segment),
        skeleton_key=skeleton_key(retention_class, tenant, first.chain_id, first.seq, last.seq),
        skeleton_sha256=hashlib.sha256(skeleton).hexdigest(),
        retain_until=dt.datetime.fromtimestamp(retain, dt.UTC).isoformat(),
        legal_hold=any(b.classification.legal_hold for b in bodies),
        created=now.isoformat(timespec="seconds"),
        checkpoint=checkpoint,
        first_received=_iso(bodies[0].received_time.ToSeconds()),
        last_received=_iso(bodies[-1].received_time.ToSeconds()),
    )
    return BuiltSegment(manifest, segment, skeleton)


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _skeleton(entry: SealedEntry) -> SealedEntry:
    skeleton = SealedEntry()
    skeleton.CopyFrom(entry)
    skeleton.body = b""
    return skeleton
