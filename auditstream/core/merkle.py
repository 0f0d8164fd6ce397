"""RFC 6962 / RFC 9162 Merkle trees over a chain's entry hashes.

    leaf = SHA-256(0x00 || data)        node = SHA-256(0x01 || left || right)

The hash formulas are in `auditstream.core.hashes`. Functions taking `leaves` expect
leaf hashes (already through `leaf_hash`). The tree of n leaves splits at the largest
power of two smaller than n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from auditstream.core.hashes import HASH_SIZE, node_hash, node_hashes
from auditstream.errors import ProofError

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The O(log n) state from which the root of a growing tree follows.

    Holds the roots of the perfect subtrees that make up the first `size` leaves,
    largest first (one per set bit of `size`).
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} needs {bin(size).count('1')} hashes")
        self.size = size
        self._hashes = list(hashes)

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        hashes = self._hashes
        hashes.append(leaf)
        size = self.size
        # Each trailing 1 bit of the old size is a subtree the new leaf completes.
        while size & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            size >>= 1
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add many leaf hashes; same result as `append` for each, far fewer calls.

        Leaves are grouped into the largest perfect subtrees that keep the range
        aligned, and each subtree is hashed level by level.
        """
        i, n = 0, len(leaves)
        while i < n:
            size = self.size
            # The next block may be as large as the lowest set bit of the size
            # (any power of two when the range is empty) and as what is left.
            align = size & -size if size else 1 << 62
            block = min(align, 1 << ((n - i).bit_length() - 1))
            level = list(leaves[i : i + block])
            while len(level) > 1:
                level = node_hashes(level)
            self._push(level[0], block)
            i += block

    def _push(self, subtree: bytes, width: int) -> None:
        """Append a perfect subtree of `width` leaves; `size` must be a multiple of it."""
        hashes = self._hashes
        hashes.append(subtree)
        carry = self.size // width
        while carry & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            carry >>= 1
        self.size += width

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._hashes)


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of the given leaf hashes."""
    compact = CompactRange()
    compact.extend(leaves)
    return compact.root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf `index` in the tree of all `leaves` (RFC 6962 §2.1.1)."""
    return inclusion_path(index, len(leaves), lambda lo, hi: root(leaves[lo:hi]))


def inclusion_path(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """Audit path for leaf `index` in a tree of `size` leaves, given `subtree(lo, hi)`:
    the root of leaves lo..hi-1. Only the siblings on the path are asked for."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; each step records the sibling subtree, so the
    # path is built root-first and reversed at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for `leaf` at `index` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof hashes must be 32 bytes")
    fn, sn, acc = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            acc = node_hash(sibling, acc)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = node_hash(acc, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than the tree is deep")
    return acc


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """True when `proof` shows `leaf` at `index` in the tree with `expected_root`."""
    try:
        return root_from_inclusion(leaf, index, size, proof) == expected_root
    except ProofError:
        return False


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first `old_size` leaves are a prefix of `leaves` (RFC 6962 §2.1.2)."""
    return consistency_path(old_size, len(leaves), lambda lo, hi: root(leaves[lo:hi]))


def consistency_path(
    old_size: int, new_size: int, subtree: Callable[[int, int], bytes]
) -> list[bytes]:
    """Consistency proof from `old_size` to `new_size`, given `subtree(lo, hi)`: the root
    of leaves lo..hi-1. Only the subtrees on the proof are asked for."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """True when `proof` shows the tree `old_root` is a prefix of `new_root` (RFC 9162)."""
    if not 0 <= old_size <= new_size:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
