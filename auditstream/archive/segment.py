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
entries if a crash interrupted their upload (compression is deterministic, and the
manifest records its level).

Segment entries are the SealedEntry bytes exactly as the sink consumed them, gathered
as columns in a `Draft`: nothing is parsed twice or serialized again to write them.
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
from auditstream.proto.v1.sealed_pb2 import SealedBody, SealedEntry

FORMAT = "auditstream.archive.segment.v1"
ZSTD_LEVEL = 3  # zstd's default (decision 0014)
LEGACY_ZSTD_LEVEL = 10  # manifests that do not name a level were compressed at this one
_BODY_TAG = b"\x42"  # SealedEntry.body: field 8, length-delimited


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


def encode_entries(entries: Iterable[bytes], level: int = ZSTD_LEVEL) -> bytes:
    """zstd of length-delimited records (deterministic for the same input and level)."""
    raw = b"".join([varint(len(e)) + e for e in entries])
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(raw)


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
    def zstd_level(self) -> int:
        """The compression level its objects were written with (rebuilds need it)."""
        level = self.extra.get("zstd_level", LEGACY_ZSTD_LEVEL)
        if type(level) is not int or not 1 <= level <= zstandard.MAX_COMPRESSION_LEVEL:
            raise FormatError(f"manifest {self.key}: zstd_level {level!r} is not a zstd level")
        return level

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


class Draft:
    """The entries of one segment on its way to being written: one chain, one retention
    class, ascending seq. Kept as the columns the objects and the manifest are made of
    (entry bytes, skeleton bytes, seqs, entry hashes) plus the few facts the manifest
    takes from the bodies, so the segment costs no second parse of anything."""

    def __init__(self, chain_id: str, retention_class: str) -> None:
        self.chain_id = chain_id
        self.retention_class = retention_class
        self.values: list[bytes] = []
        self.skeletons: list[bytes] = []
        self.seqs: list[int] = []
        self.entry_hashes: list[bytes] = []
        self.size = 0
        self.tenant_id = ""
        self.first_prev_hash = b""
        self.first_received = self.last_received = 0  # seconds
        self.retain_until = 0  # seconds, the latest of the entries'
        self.legal_hold = False

    @classmethod
    def of(cls, entries: Iterable[SealedEntry], retention_class: str) -> Draft:
        """A draft of parsed entries (one chain, ascending seq)."""
        draft: Draft | None = None
        for entry in entries:
            draft = draft or cls(entry.chain_id, retention_class)
            body = entry.body
            draft.add(entry.SerializeToString(), entry, decode_body(body), body)
        if draft is None:
            raise ValueError("a segment needs entries")
        return draft

    def add(self, value: bytes, entry: SealedEntry, body: SealedBody, body_bytes: bytes) -> None:
        """One entry: `value` is its SealedEntry bytes, `entry` its parse, `body_bytes`
        the entry's body and `body` their parse."""
        received = body.received_time.seconds
        if not self.values:
            self.tenant_id = body.entry.tenant_id
            self.first_prev_hash = entry.prev_hash
            self.first_received = received
        self.last_received = received
        self.values.append(value)
        self.skeletons.append(skeleton_of(value, entry, body_bytes))
        self.seqs.append(entry.seq)
        self.entry_hashes.append(entry.entry_hash)
        self.size += len(value)
        classification = body.classification
        self.retain_until = max(self.retain_until, classification.retain_until.seconds)
        self.legal_hold = self.legal_hold or classification.legal_hold

    def __len__(self) -> int:
        return len(self.values)


def skeleton_of(value: bytes, entry: SealedEntry, body: bytes) -> bytes:
    """The bytes of `entry` (`value`, whose body is `body`) without its body. A
    serialized SealedEntry ends with the body (the highest field number), so that is a
    cut; bytes in another order go through the parsed entry."""
    if not body:
        return value
    field = _BODY_TAG + varint(len(body))
    cut = len(value) - len(body) - len(field)
    if cut >= 0 and value.startswith(field, cut) and value.endswith(body):
        return value[:cut]
    skeleton = SealedEntry()
    skeleton.CopyFrom(entry)
    skeleton.ClearField("body")
    return skeleton.SerializeToString()


@dataclass(frozen=True)
class BuiltSegment:
    manifest: Manifest
    segment: bytes
    skeleton: bytes


def build_segment(
    draft: Draft,
    *,
    checkpoint: str,
    now: dt.datetime,
    zstd_level: int = ZSTD_LEVEL,
) -> BuiltSegment:
    """The objects and manifest for the draft's entries."""
    if not draft.values:
        raise ValueError("a segment needs entries")
    first, last = draft.seqs[0], draft.seqs[-1]
    chain_id, retention_class, tenant = draft.chain_id, draft.retention_class, draft.tenant_id
    day = dt.datetime.fromtimestamp(draft.first_received, dt.UTC).strftime("%Y-%m-%d")
    segment = encode_entries(draft.values, zstd_level)
    skeleton = encode_entries(draft.skeletons, zstd_level)
    manifest = Manifest(
        chain_id=chain_id,
        tenant_id=tenant,
        retention_class=retention_class,
        first_seq=first,
        last_seq=last,
        seqs=seq_runs(draft.seqs),
        count=len(draft.values),
        first_prev_hash=draft.first_prev_hash.hex(),
        last_entry_hash=draft.entry_hashes[-1].hex(),
        merkle_root=merkle.root(hashes.leaf_hashes(draft.entry_hashes)).hex(),
        segment_key=segment_key(retention_class, tenant, chain_id, day, first, last),
        segment_sha256=hashlib.sha256(segment).hexdigest(),
        segment_bytes=len(segment),
        skeleton_key=skeleton_key(retention_class, tenant, chain_id, first, last),
        skeleton_sha256=hashlib.sha256(skeleton).hexdigest(),
        retain_until=_iso(draft.retain_until),
        legal_hold=draft.legal_hold,
        created=now.isoformat(timespec="seconds"),
        checkpoint=checkpoint,
        first_received=_iso(draft.first_received),
        last_received=_iso(draft.last_received),
        extra={"zstd_level": zstd_level},
    )
    return BuiltSegment(manifest, segment, skeleton)


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
