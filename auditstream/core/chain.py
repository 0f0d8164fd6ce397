"""The hash chain of DESIGN.md §3: one chain per chain_id, seq = 0, 1, 2, ...

Each entry commits to its body through `body_digest` and to the entry before it through
`entry_hash` (the formulas are in `auditstream.core.hashes`), and carries

    mac = HMAC-SHA256(key[key_id], entry_hash)
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from auditstream.core import wire
from auditstream.core.hashes import (
    GENESIS_HASH,
    body_digest,
    body_digests,
    chained_hashes,
    entry_hash,
    leaf_hash,
    leaf_hashes,
)
from auditstream.core.keys import HmacKey
from auditstream.core.merkle import CompactRange
from auditstream.proto.v1.sealed_pb2 import SealedEntry

CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
MAX_SEQ = 2**64 - 1


@functools.lru_cache(maxsize=4096)
def is_valid_chain_id(chain_id: str) -> bool:
    """Chain ids are 1-128 characters of [A-Za-z0-9._:@/-], starting alphanumeric."""
    return CHAIN_ID_RE.match(chain_id) is not None


class Link(NamedTuple):
    """One sealed chain entry as stored: the skeleton plus the body bytes.

    A NamedTuple rather than a frozen dataclass: sealing creates one per event and
    tuple construction is several times cheaper.

    `body` is empty when the content was removed (retention, erasure); the skeleton
    alone still verifies. (A real body is never empty: it always names its chain.)
    """

    chain_id: str
    seq: int
    prev_hash: bytes
    body_digest: bytes
    entry_hash: bytes
    key_id: str
    mac: bytes
    body: bytes

    def to_proto(self) -> SealedEntry:
        return SealedEntry(**self._asdict())

    def encode(self) -> bytes:
        """The SealedEntry bytes published on audit.sealed.v1."""
        return encode_link(
            wire.optional_bytes(1, self.chain_id.encode()),
            self.seq,
            self.prev_hash,
            self.body_digest,
            self.entry_hash,
            wire.optional_bytes(6, self.key_id.encode()),
            self.mac,
            self.body,
        )

    @classmethod
    def from_proto(cls, entry: SealedEntry) -> Link:
        return cls._make(_LINK_FIELDS(entry))

    @classmethod
    def decode(cls, data: bytes) -> Link:
        """Parse SealedEntry bytes; raises google.protobuf.message.DecodeError."""
        entry = SealedEntry()
        entry.ParseFromString(data)
        return cls.from_proto(entry)

    def without_body(self) -> Link:
        return self._replace(body=b"")


_LINK_FIELDS = operator.attrgetter(*Link._fields)


def encode_link(
    chain_field: bytes,
    seq: int,
    prev_hash: bytes,
    body_digest: bytes,
    entry_hash: bytes,
    key_field: bytes,
    mac: bytes,
    body: bytes,
) -> bytes:
    """SealedEntry bytes. `chain_field` and `key_field` are fields 1 and 6 already
    encoded (`wire.optional_bytes`), as they are the same for a whole batch."""
    varint = wire.varint
    if len(prev_hash) == len(body_digest) == len(entry_hash) == len(mac) == 32:
        return b"".join(
            (
                chain_field,
                b"\x10" + varint(seq) if seq else b"",
                b"\x1a\x20",
                prev_hash,
                b"\x22\x20",
                body_digest,
                b"\x2a\x20",
                entry_hash,
                key_field,
                b"\x3a\x20",
                mac,
                b"\x42" + varint(len(body)) if body else b"",
                body,
            )
        )
    return b"".join(  # not a real link (hashes of other sizes), still encoded as upb would
        (
            chain_field,
            wire.optional_varint(2, seq),
            wire.optional_bytes(3, prev_hash),
            wire.optional_bytes(4, body_digest),
            wire.optional_bytes(5, entry_hash),
            key_field,
            wire.optional_bytes(7, mac),
            wire.optional_bytes(8, body),
        )
    )


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain stands: the next seq to assign and the hash it must link to."""

    chain_id: str
    next_seq: int
    head_hash: bytes

    @classmethod
    def genesis(cls, chain_id: str) -> ChainHead:
        return cls(chain_id, 0, GENESIS_HASH)

    @classmethod
    def after(cls, link: Link) -> ChainHead:
        return cls(link.chain_id, link.seq + 1, link.entry_hash)


def seal(head: ChainHead, body: bytes, key: HmacKey) -> Link:
    """The link that appends `body` to the chain at `head`."""
    digest = body_digest(body)
    ehash = entry_hash(head.head_hash, head.next_seq, digest)
    mac = key.mac(ehash)
    return Link(head.chain_id, head.next_seq, head.head_hash, digest, ehash, key.key_id, mac, body)


class Chain:
    """A chain being written: its head and the compact Merkle range of its entries.

    Pure in-memory state; whoever owns it persists or recovers it. Not thread-safe.
    """

    __slots__ = ("chain_id", "head_hash", "merkle", "next_seq")

    def __init__(self, head: ChainHead, merkle: CompactRange | None = None) -> None:
        merkle = merkle if merkle is not None else CompactRange()
        if merkle.size != head.next_seq:
            raise ValueError(
                f"chain {head.chain_id!r}: Merkle range has {merkle.size} leaves "
                f"but the head is at seq {head.next_seq}"
            )
        self.chain_id = head.chain_id
        self.next_seq = head.next_seq
        self.head_hash = head.head_hash
        self.merkle = merkle

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.chain_id, self.next_seq, self.head_hash)

    def append(self, body: bytes, key: HmacKey) -> Link:
        """Seal `body` as the next entry and advance the head."""
        if self.next_seq > MAX_SEQ:
            raise OverflowError(f"chain {self.chain_id!r} is full")
        link = seal(self.head, body, key)
        self.merkle.append(leaf_hash(link.entry_hash))
        self.next_seq = link.seq + 1
        self.head_hash = link.entry_hash
        return link

    def append_many(self, bodies: Sequence[bytes], key: HmacKey) -> list[Link]:
        """Seal `bodies` in order as the next entries; equal to `append` for each.

        Digests, MACs and Merkle leaves are computed in bulk; only the chained hash
        itself is inherently one after another.
        """
        first, prevs, digests, hashes = self._advance(bodies)
        chain_id, key_id, mac = self.chain_id, key.key_id, key.mac
        return [
            Link(chain_id, first + i, prevs[i], digests[i], ehash, key_id, mac(ehash), bodies[i])
            for i, ehash in enumerate(hashes)
        ]

    def append_many_encoded(self, bodies: Sequence[bytes], key: HmacKey) -> list[bytes]:
        """Seal `bodies` in order as the next entries and return their SealedEntry bytes:
        `[link.encode() for link in self.append_many(bodies, key)]`, without the Links."""
        first, prevs, digests, hashes = self._advance(bodies)
        chain_field = wire.optional_bytes(1, self.chain_id.encode())
        key_field = wire.optional_bytes(6, key.key_id.encode())
        mac = key.mac
        return [
            encode_link(
                chain_field,
                first + i,
                prevs[i],
                digests[i],
                ehash,
                key_field,
                mac(ehash),
                bodies[i],
            )
            for i, ehash in enumerate(hashes)
        ]

    def _advance(
        self, bodies: Sequence[bytes]
    ) -> tuple[int, list[bytes], list[bytes], list[bytes]]:
        """Chain `bodies` on: the first seq, and each entry's prev hash, body digest and
        entry hash; the head and the Merkle range move past them."""
        first = self.next_seq
        if first + len(bodies) - 1 > MAX_SEQ:
            raise OverflowError(f"chain {self.chain_id!r} is full")
        digests = body_digests(bodies)
        hashes = chained_hashes(self.head_hash, first, digests)
        prevs = [self.head_hash, *hashes[:-1]]
        self.merkle.extend(leaf_hashes(hashes))
        if hashes:
            self.next_seq = first + len(bodies)
            self.head_hash = hashes[-1]
        return first, prevs, digests, hashes

    def accept(self, link: Link) -> None:
        """Advance over a link sealed elsewhere (recovery); it must extend this head."""
        if link.chain_id != self.chain_id or link.seq != self.next_seq:
            raise ValueError(
                f"link {link.chain_id}/{link.seq} does not follow "
                f"{self.chain_id}/{self.next_seq - 1}"
            )
        if link.prev_hash != self.head_hash:
            raise ValueError(f"link {link.chain_id}/{link.seq} does not extend the head hash")
        self.merkle.append(leaf_hash(link.entry_hash))
        self.next_seq = link.seq + 1
        self.head_hash = link.entry_hash

    def root(self) -> bytes:
        return self.merkle.root()
