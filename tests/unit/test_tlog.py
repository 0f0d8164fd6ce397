"""C2SP tlog-tiles in the pure core: paths as the spec spells them, the tiles a growing
tree emits, its right edge, and proofs from tiles equal to proofs from all leaves."""

from __future__ import annotations

import functools
import hashlib
import random

import pytest

from auditstream.core import merkle, tlog
from auditstream.core.hashes import leaf_hashes
from auditstream.core.tlog import ENTRIES, Tile, TileHashes, TileTree
from auditstream.errors import FormatError, ProofError

DATA = [hashlib.sha256(str(i).encode()).digest() for i in range(70_400)]
LEAVES = leaf_hashes(DATA)
SIZES = (1, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 70_000)


def test_index_paths_follow_the_spec() -> None:
    assert tlog.index_path(0) == "000"
    assert tlog.index_path(67) == "067"
    assert tlog.index_path(1000) == "x001/000"
    assert tlog.index_path(1_234_067) == "x001/x234/067"
    assert Tile(0, 1_234_067).path == "tile/0/x001/x234/067"
    assert Tile(2, 5, 17).path == "tile/2/005.p/17"
    assert Tile(ENTRIES, 1000, 1).path == "tile/entries/x001/000.p/1"


@pytest.mark.parametrize(
    "tile",
    [Tile(0, 0), Tile(63, 999), Tile(1, 1_234_067, 255), Tile(ENTRIES, 7), Tile(ENTRIES, 2, 3)],
)
def test_paths_parse_back(tile: Tile) -> None:
    assert tlog.parse_tile_path(tile.path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile",
        "tile/0",
        "checkpoint",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/1",
        "tile/0/0000",
        "tile/0/x1/000",
        "tile/0/001/000",
        "tile/0/x000/001",  # not canonical: a leading group of zeros
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/017",
        "tile/0/000.p",
        "tile/entries/../000",
        "tile/0/x001/../000",
        "tile/data/000",
        "tile/0/\u0661\u0662\u0663",  # non-ASCII digits
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(FormatError):
        tlog.parse_tile_path(path)


def test_edge_matches_the_spec_example() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
    # level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1"
    assert tlog.edge(70_000) == [
        Tile(0, 273, 112),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
        Tile(ENTRIES, 273, 112),
    ]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial
    # level 1 tile of width 1"
    assert tlog.edge(256) == [Tile(1, 0, 1)]
    assert tlog.edge(0) == []


@functools.cache
def grown(size: int, seed: int = 1) -> tuple[TileTree, dict[Tile, bytes]]:
    """A tree of `size` grown in random chunks, and every full tile it emitted (shared
    between tests: read them, never grow them)."""
    tree, emitted = TileTree(), {}
    rng = random.Random(seed)
    while tree.size < size:
        step = min(size - tree.size, rng.choice((1, 3, 200, 256, 700, 5000)))
        for tile, data in tree.append(DATA[tree.size : tree.size + step]):
            assert tile not in emitted
            emitted[tile] = data
    return tree, emitted


@pytest.mark.parametrize("size", SIZES)
def test_a_growing_tree_emits_the_tiles_of_the_spec(size: int) -> None:
    tree, emitted = grown(size)
    assert tree.size == size
    assert tree.root() == merkle.root(LEAVES[:size])
    for n in range(size // 256):
        assert emitted[Tile(0, n)] == b"".join(LEAVES[n * 256 : (n + 1) * 256])
        assert tlog.decode_bundle(emitted[Tile(ENTRIES, n)], 256) == DATA[n * 256 : (n + 1) * 256]
    for n in range(size // 65_536):
        # "each hash in a tile is the Merkle Tree Hash of a full tile at the level below"
        expected = [
            merkle.root(LEAVES[i : i + 256]) for i in range(n * 65_536, (n + 1) * 65_536, 256)
        ]
        assert tlog.decode_hashes(emitted[Tile(1, n)], 256) == expected
    full_count = sum(size // 256**level // 256 for level in (1, 2, 3)) + 2 * (size // 256)
    assert len(emitted) == full_count


@pytest.mark.parametrize("size", SIZES)
def test_the_edge_restores_a_tree_that_grows_on_identically(size: int) -> None:
    tree, _ = grown(size)
    partials = dict(tree.partials())
    assert set(partials) == set(tlog.edge(size))
    hashes = {t.level: tlog.decode_hashes(d, t.width) for t, d in partials.items() if t.level >= 0}
    entries = next((tlog.decode_bundle(d) for t, d in partials.items() if t.level == ENTRIES), [])
    assert tlog.edge_root(size, hashes) == merkle.root(LEAVES[:size])
    # Restored from its edge alone, the tree grows on as one grown in one go.
    restored = TileTree(size, hashes, entries)
    emitted = dict(restored.append(DATA[size:]))
    whole, emitted_whole = grown(len(DATA), seed=2)
    assert restored.root() == whole.root() == merkle.root(LEAVES)
    assert emitted and all(emitted_whole[tile] == data for tile, data in emitted.items())
    assert dict(restored.partials()) == dict(whole.partials())


def test_an_edge_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(FormatError):
        TileTree(300, {0: LEAVES[256:299]}, DATA[256:300])
    with pytest.raises(FormatError):
        TileTree(300, {0: LEAVES[256:300]}, [])
    with pytest.raises(FormatError):
        tlog.edge_root(300, {0: LEAVES[256:300]})  # level 1 is missing


def test_prefix_serves_earlier_partial_tiles_until_they_fill() -> None:
    tree, _ = grown(600)
    assert tree.prefix(Tile(0, 2, 50)) == b"".join(LEAVES[512:562])
    assert tree.prefix(Tile(ENTRIES, 2, 3)) == tlog.encode_bundle(DATA[512:515])
    assert tree.prefix(Tile(0, 1, 50)) is None  # tile 1 is full by now
    assert tree.prefix(Tile(0, 2, 100)) is None  # not that far yet
    assert tlog.cut(tlog.encode_bundle(DATA[:256]), Tile(ENTRIES, 0, 7)) == tlog.encode_bundle(
        DATA[:7]
    )


def tile_reader(size: int) -> TileHashes:
    tree, emitted = grown(size)
    stored = {**emitted, **dict(tree.partials())}
    return TileHashes(size, lambda tile: stored[tile])


@pytest.mark.parametrize("size", [s for s in SIZES if s not in (65_535, 65_537)])
def test_consistency_proofs_from_tiles_equal_those_from_all_leaves(size: int) -> None:
    hashes = tile_reader(size)
    olds = {0, 1, size // 3, size - 1, size, 256, 257, 65_536} & set(range(size + 1))
    for old in sorted(olds):
        proof = hashes.consistency_proof(old)
        assert proof == merkle.consistency_proof(LEAVES[:size], old)
        assert merkle.verify_consistency(
            old, size, merkle.root(LEAVES[:old]), merkle.root(LEAVES[:size]), proof
        )


def test_inclusion_paths_from_tiles_equal_those_from_all_leaves() -> None:
    size = 70_000
    hashes = tile_reader(size)
    for index in (0, 1, 255, 256, 65_535, 65_536, 69_999):
        path = []
        lo, hi = 0, size
        while hi - lo > 1:  # the RFC 6962 walk, with subtrees read from tiles
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                path.append(hashes.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(hashes.subtree(lo, lo + k))
                lo += k
        assert path[::-1] == merkle.inclusion_proof(LEAVES[:size], index)


def test_tiles_that_are_missing_or_too_short_are_errors() -> None:
    hashes = TileHashes(300, lambda tile: b"\0" * 32 * 10)
    with pytest.raises(FormatError):
        hashes.subtree(0, 300)
    with pytest.raises(ProofError):
        TileHashes(300, lambda tile: b"").subtree(0, 301)
    with pytest.raises(ProofError):
        TileHashes(300, lambda tile: b"").node(9, 0)


def test_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"a", b"\xff" * 300, DATA[0]]
    encoded = tlog.encode_bundle(entries)
    assert encoded[:2] == b"\x00\x00" and encoded[2:4] == b"\x00\x01"
    assert tlog.decode_bundle(encoded, 4) == entries
    for cut_at in (1, 3, len(encoded) - 1):
        with pytest.raises(FormatError):
            tlog.decode_bundle(encoded[:cut_at])
    with pytest.raises(FormatError):
        tlog.decode_bundle(encoded, 3)
    with pytest.raises(ValueError, match="does not fit"):
        tlog.encode_bundle([b"x" * 65_536])
    with pytest.raises(FormatError):
        tlog.decode_hashes(b"x" * 33)
