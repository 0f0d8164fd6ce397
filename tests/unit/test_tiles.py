"""Inclusion proofs from tile roots equal the RFC 6962 proofs from all leaves, for
every tree size around tile edges, and fail loudly without the leaves they need."""

from __future__ import annotations

import hashlib

import pytest

from auditstream.core import merkle, tiles
from auditstream.core.hashes import leaf_hash
from auditstream.errors import ProofError

LEAVES = [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(3 * tiles.TILE + 7)]
SIZES = (1, 2, 255, 256, 257, 511, 512, 513, 700, 768, len(LEAVES))


@pytest.mark.parametrize("size", SIZES)
def test_every_index_matches_the_full_tree_proof(size: int) -> None:
    leaves = LEAVES[:size]
    roots = tiles.tile_roots(leaves)
    assert len(roots) == size // tiles.TILE
    all_tiles = {
        t: leaves[t * tiles.TILE : (t + 1) * tiles.TILE] for t in range(-(-size // tiles.TILE))
    }
    expected_root = merkle.root(leaves)
    for index in {0, 1, size // 2, size - 2, size - 1} & set(range(size)):
        needed = {t: all_tiles[t] for t in tiles.tiles_needed(index, size)}
        path = tiles.inclusion_proof(index, size, roots, needed)
        assert path == merkle.inclusion_proof(leaves, index)
        assert merkle.verify_inclusion(leaves[index], index, size, path, expected_root)


def test_a_changed_neighbour_in_its_tile_yields_a_path_that_does_not_verify() -> None:
    size = 700
    roots = tiles.tile_roots(LEAVES[:size])
    own = list(LEAVES[256:512])
    own[4] = leaf_hash(b"\x00" * 32)
    needed = {1: own, 2: LEAVES[512:size]}
    path = tiles.inclusion_proof(259, size, roots, needed)
    assert not merkle.verify_inclusion(LEAVES[259], 259, size, path, merkle.root(LEAVES[:size]))


def test_missing_material_is_an_error_not_a_wrong_proof() -> None:
    roots = tiles.tile_roots(LEAVES[:700])
    with pytest.raises(ProofError, match="tile 2"):
        tiles.inclusion_proof(10, 700, roots, {0: LEAVES[:256]})
    with pytest.raises(ProofError, match="tile roots"):
        tiles.inclusion_proof(10, 700, roots[:1], {0: LEAVES[:256], 2: LEAVES[512:700]})
    with pytest.raises(ProofError, match="outside"):
        tiles.inclusion_proof(700, 700, roots, {})
