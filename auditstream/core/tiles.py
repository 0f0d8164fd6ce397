"""Inclusion proofs from a tree cut into tiles of `TILE` leaves (pure).

Proving one entry of a chain needs the roots of subtrees that together cover every
other entry. Kept as the root of each complete tile (32 bytes per `TILE` entries), a
proof needs only two tiles' leaves besides: the entry's own tile and the last,
incomplete one. The tile roots hold no trust: a proof is valid only when it leads from
the entry's recomputed hash to the signed root, whatever produced its hashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from auditstream.core import merkle
from auditstream.core.hashes import node_hash
from auditstream.errors import ProofError

TILE = 256


def tile_roots(leaves: Sequence[bytes]) -> list[bytes]:
    """The root of each complete tile of `leaves` (leaf hashes, from tile 0 on)."""
    whole = len(leaves) - len(leaves) % TILE
    return [merkle.root(leaves[start : start + TILE]) for start in range(0, whole, TILE)]


def tiles_needed(index: int, size: int) -> set[int]:
    """The tiles whose leaves `inclusion_proof` needs: the entry's and the incomplete
    last one (if any)."""
    needed = {index // TILE}
    if size % TILE:
        needed.add(size // TILE)
    return needed


def inclusion_proof(
    index: int, size: int, roots: Sequence[bytes], tiles: Mapping[int, Sequence[bytes]]
) -> list[bytes]:
    """Audit path of leaf `index` in the tree of `size` leaves.

    roots  the roots of at least the first `size // TILE` tiles
    tiles  tile number -> its leaf hashes, for every tile of `tiles_needed`
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside a tree of size {size}")
    complete = size // TILE
    if len(roots) < complete:
        raise ProofError(f"{len(roots)} tile roots for a tree of {complete} complete tiles")
    missing = tiles_needed(index, size) - set(tiles)
    if missing:
        raise ProofError(f"the leaves of tile {min(missing)} are needed")

    def subtree(lo: int, hi: int) -> bytes:
        if lo % TILE == 0 and hi % TILE == 0 and hi // TILE <= complete:
            return merkle.root(roots[lo // TILE : hi // TILE])
        if lo // TILE == (hi - 1) // TILE:
            base = lo // TILE * TILE
            return merkle.root(tiles[lo // TILE][lo - base : hi - base])
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        return node_hash(subtree(lo, lo + k), subtree(lo + k, hi))

    return merkle.inclusion_path(index, size, subtree)
