"""Tile roots of each chain, read from a store once and extended as the chain grows, so
that proving one entry reads two tiles of hashes instead of the whole chain.

The cache holds no trust (see `auditstream.core.tiles`): a proof built from it is
checked against the signed root like any other, and a proof that does not lead there
is built again from freshly read hashes before anything is reported.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from auditstream.core import tiles
from auditstream.core.hashes import leaf_hashes
from auditstream.errors import QueryError
from auditstream.query.store import AuditStore

READ_TILES = 256  # tiles read per query while building (64k hashes)


class TileCache:
    def __init__(self) -> None:
        self._roots: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def forget(self, chain_id: str) -> None:
        with self._lock:
            self._roots.pop(chain_id, None)

    def proof(
        self,
        store: AuditStore,
        chain_id: str,
        index: int,
        size: int,
        known: Mapping[int, bytes] | None = None,
    ) -> list[bytes]:
        """Audit path of entry `index` in the chain's tree of `size` entries, from the
        cached tile roots and the leaves of two tiles: from `known` (seq -> stored
        entry_hash, read by the caller just now) where it has them all, else read now.
        Raises QueryError when the store lacks entries the tree needs."""
        complete = size // tiles.TILE
        with self._lock:
            roots = list(self._roots.get(chain_id, ()))
        while len(roots) < complete:
            first = len(roots)
            last = min(complete, first + READ_TILES)
            roots += tiles.tile_roots(
                _leaves(store, chain_id, first * tiles.TILE, last * tiles.TILE)
            )
        with self._lock:
            if len(self._roots.get(chain_id, ())) < len(roots):
                self._roots[chain_id] = roots
        needed = {}
        for tile in tiles.tiles_needed(index, size):
            low, high = tile * tiles.TILE, min(size, (tile + 1) * tiles.TILE)
            given = [known.get(seq) for seq in range(low, high)] if known else [None]
            if all(h is not None for h in given):
                needed[tile] = leaf_hashes([h for h in given if h is not None])
            else:
                needed[tile] = _leaves(store, chain_id, low, high)
        return tiles.inclusion_proof(index, size, roots, needed)


def tile_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The inclusive seq ranges of the tiles `proof` reads besides its cache."""
    return [
        (tile * tiles.TILE, min(size, (tile + 1) * tiles.TILE) - 1)
        for tile in sorted(tiles.tiles_needed(index, size))
    ]


def _leaves(store: AuditStore, chain_id: str, low: int, high: int) -> list[bytes]:
    """Leaf hashes of seqs low..high-1 as stored; every seq must be there."""
    found = store.entry_hashes(chain_id, low, high)
    if len(found) != high - low or (found and (found[0][0], found[-1][0]) != (low, high - 1)):
        raise QueryError(
            f"the store holds {len(found)} of the {high - low} entries {low}..{high - 1} "
            f"of chain {chain_id!r}"
        )
    return leaf_hashes([digest for _, digest in found])
