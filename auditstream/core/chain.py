"""The hash chain of DESIGN.md §3: one chain per chain_id, seq = 0, 1, 2, ...

    body_digest = SHA-256(body)
    entry_hash  = SHA-256("auditstream.v1.chain" || 0x00 || prev_hash || u64be(seq) || body_digest)
    mac         = HMAC-SHA256(key[key_id], entry_hash)

prev_hash of seq 0 is 32 zero bytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import NamedTuple

from auditstream.core.keys import HmacKey
from auditstream.core.merkle import CompactRange
from auditstream.proto.v1.sealed_pb2 import SealedEntry

GENESIS_HASH = bytes(32)
CHAIN_DOMAIN = b"auditstream.v1.chain\x00"
CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
MAX_SEQ = 2**64 - 1


@functools.lru_cache(maxsize=4096)
def is_valid_chain_id(chain_id: str) -> bool:
    """Chain ids are 1-128 characters of [A-Za-z0-9._:@/-], starting alphanumeric."""
    return CHAIN_ID_RE.match(chain_id) is not None


def entry_hash(prev_hash: bytes, seq: int, body_digest: bytes) -> bytes:
    return sha256(CHAIN_DOMAIN + prev_hash + seq.to_bytes(8, "big") + body_digest).digest()


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
        return SealedEntry(
            chain_id=self.chain_id,
            seq=self.seq,
            prev_hash=self.prev_hash,
            body_digest=self.body_digest,
            entry_hash=self.entry_hash,
            key_id=self.key_id,
            mac=self.mac,
            body=self.body,
        )

    def encode(self) -> bytes:
        """The SealedEntry bytes published on audit.sealed.v1."""
        return self.to_proto().SerializeToString()

    @classmethod
    def from_proto(cls, entry: SealedEntry) -> Link:
        return cls(
            chain_id=entry.chain_id,
            seq=entry.seq,
            prev_hash=entry.prev_hash,
            body_digest=entry.body_digest,
            entry_hash=entry.entry_hash,
            key_id=entry.key_id,
            mac=entry.mac,
            body=entry.body,
        )

    @classmethod
    def decode(cls, data: bytes) -> Link:
        """Parse SealedEntry bytes; raises google.protobuf.message.DecodeError."""
        entry = SealedEntry()
        entry.ParseFromString(data)
        return cls.from_proto(entry)

    def without_body(self) -> Link:
        return self._replace(body=b"")


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
    digest = sha256(body).digest()
    ehash = sha256(
        CHAIN_DOMAIN + head.head_hash + head.next_seq.to_bytes(8, "big") + digest
    ).digest()
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
        seq = self.next_seq
        if seq > MAX_SEQ:
            raise OverflowError(f"chain {self.chain_id!r} is full")
        digest = sha256(body).digest()
        ehash = sha256(CHAIN_DOMAIN + self.head_hash + seq.to_bytes(8, "big") + digest).digest()
        link = Link(
            self.chain_id, seq, self.head_hash, digest, ehash, key.key_id, key.mac(ehash), body
        )
        self.merkle.append(sha256(b"\x00" + ehash).digest())
        self.next_seq = seq + 1
        self.head_hash = ehash
        return link

    def append_many(self, bodies: Sequence[bytes], key: HmacKey) -> list[Link]:
        """Seal `bodies` in order as the next entries; equal to `append` for each.

        Digests, MACs and Merkle leaves are computed in bulk; only the chained hash
        itself is inherently one after another.
        """
        first, chain_id, key_id = self.next_seq, self.chain_id, key.key_id
        if first + len(bodies) - 1 > MAX_SEQ:
            raise OverflowError(f"chain {chain_id!r} is full")
        digests = [sha256(body).digest() for body in bodies]
        prevs, hashes = [], []
        head = self.head_hash
        for seq, digest in enumerate(digests, start=first):
            prevs.append(head)
            head = sha256(CHAIN_DOMAIN + head + seq.to_bytes(8, "big") + digest).digest()
            hashes.append(head)
        macs = [key.mac(ehash) for ehash in hashes]
        self.merkle.extend([sha256(b"\x00" + ehash).digest() for ehash in hashes])
        self.next_seq = first + len(bodies)
        self.head_hash = head
        return [
            Link(chain_id, first + i, prevs[i], digests[i], hashes[i], key_id, macs[i], body)
            for i, body in enumerate(bodies)
        ]

    def accept(self, link: Link) -> None:
        """Advance over a link sealed elsewhere (recovery); it must extend this head."""
        if link.chain_id != self.chain_id or link.seq != self.next_seq:
            raise ValueError(
                f"link {link.chain_id}/{link.seq} does not follow "
                f"{self.chain_id}/{self.next_seq - 1}"
            )
        if link.prev_hash != self.head_hash:
            raise ValueError(f"link {link.chain_id}/{link.seq} does not extend the head hash")
        self.merkle.append(sha256(b"\x00" + link.entry_hash).digest())
        self.next_seq = link.seq + 1
        self.head_hash = link.entry_hash

    def root(self) -> bytes:
        return self.merkle.root()
