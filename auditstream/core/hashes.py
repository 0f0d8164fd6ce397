"""The hash formulas of the sealing format (DESIGN.md §3), each defined once.

    body_digest = SHA-256(body)
    entry_hash  = SHA-256("auditstream.v1.chain" || 0x00 || prev_hash || u64be(seq) || body_digest)
    leaf        = SHA-256(0x00 || entry_hash)                  (RFC 6962 §2.1)
    node        = SHA-256(0x01 || left || right)

prev_hash of seq 0 is 32 zero bytes. The bulk variants return exactly what the single
ones return for each item; they exist because a Python call per hash costs as much as
the hash itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256
from typing import Final

CHAIN_DOMAIN: Final = b"auditstream.v1.chain\x00"
GENESIS_HASH: Final = bytes(32)
HASH_SIZE: Final = 32


def body_digest(body: bytes) -> bytes:
    return sha256(body).digest()


def body_digests(bodies: Sequence[bytes]) -> list[bytes]:
    return [sha256(body).digest() for body in bodies]


def entry_hash(prev_hash: bytes, seq: int, digest: bytes) -> bytes:
    return sha256(CHAIN_DOMAIN + prev_hash + seq.to_bytes(8, "big") + digest).digest()


def entry_hashes(
    prev_hashes: Sequence[bytes], seqs: Sequence[int], digests: Sequence[bytes]
) -> list[bytes]:
    """`entry_hash` of each (prev_hash, seq, digest), as stored: no linking assumed."""
    domain = CHAIN_DOMAIN
    return [
        sha256(domain + prev + seq.to_bytes(8, "big") + digest).digest()
        for prev, seq, digest in zip(prev_hashes, seqs, digests, strict=True)
    ]


def chained_hashes(head: bytes, first_seq: int, digests: Sequence[bytes]) -> list[bytes]:
    """The entry hashes of consecutive entries from seq `first_seq` on, each linking to
    the one before it and the first to `head`."""
    domain = CHAIN_DOMAIN
    hashes = []
    for seq, digest in enumerate(digests, start=first_seq):
        head = sha256(domain + head + seq.to_bytes(8, "big") + digest).digest()
        hashes.append(head)
    return hashes


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data).digest()


def leaf_hashes(items: Sequence[bytes]) -> list[bytes]:
    return [sha256(b"\x00" + data).digest() for data in items]


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def node_hashes(level: Sequence[bytes]) -> list[bytes]:
    """The next level up of a perfect subtree: `node_hash` of each pair, in order."""
    return [
        sha256(b"\x01" + left + right).digest()
        for left, right in zip(level[0::2], level[1::2], strict=True)
    ]
