"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles), pure: tile paths, the bytes of hash
tiles and entry bundles, the right edge of a growing tiled tree, and subtree hashes read
back from tiles (for proofs).

A tile is 256 consecutive hashes of one level of the RFC 6962 tree: level 0 holds leaf
hashes, level L the hashes at tree height 8L (each the root of a full tile of level
L-1). The rightmost tile of a level is usually partial (1-255 hashes) and has a path of
its own, so every path is written once and never changes:

    tile/<L>/<N>                a full tile: 256 hashes, 8192 bytes
    tile/<L>/<N>.p/<W>          the partial tile of width W
    tile/entries/<N>[.p/<W>]    the leaf data of level-0 tile N, each as
                                uint16 big-endian length || data

<N> is zero-padded to groups of three digits, all but the last prefixed with `x`
(1234067 is `x001/x234/067`). A checkpoint of tree size n needs, besides full tiles, the
partial tile of each level whose count of hashes `n >> 8L` is not a multiple of 256
(`edge(n)`). In auditstream the leaf data are entry hashes, so a level-0 hash is
`leaf_hash(entry_hash)`: exactly the leaves of the checkpoint tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from auditstream.core import merkle
from auditstream.core.hashes import HASH_SIZE, leaf_hashes, node_hash
from auditstream.errors import FormatError, ProofError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRIES = -1  # the level of entry bundles (as in golang.org/x/mod/sumdb/tlog)
MAX_LEVEL = 63
MAX_ENTRY = 0xFFFF

_LEVEL = re.compile(r"(0|[1-9][0-9]?)\Z")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}\Z")


def index_path(index: int) -> str:
    """`index` as path elements of three digits, all but the last prefixed `x`."""
    if index < 0:
        raise ValueError("a tile index is never negative")
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """One tile (or, at level `ENTRIES`, one entry bundle) of a tiled tree."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.level == ENTRIES else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{index_path(self.index)}{suffix}"

    def as_full(self) -> Tile:
        return Tile(self.level, self.index)


def parse_tile_path(path: str) -> Tile:
    """The tile a `tile/...` path names. Raises FormatError for any other path."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise FormatError(f"{path!r} is not a tile path")
    level_text, elements = parts[1], parts[2:]
    if level_text == "entries":
        level = ENTRIES
    elif _LEVEL.match(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise FormatError(f"{path!r}: tile level must be 0-63 or 'entries'")
    width = TILE_WIDTH
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        if not _WIDTH.match(elements[-1]) or int(elements[-1]) >= TILE_WIDTH:
            raise FormatError(f"{path!r}: partial tile width must be 1-255")
        width = int(elements[-1])
        elements = [*elements[:-2], elements[-2][:-2]]
    groups = [e[1:] for e in elements[:-1] if e.startswith("x")] + elements[-1:]
    if len(groups) != len(elements) or not all(len(g) == 3 and g.isdigit() for g in groups):
        raise FormatError(f"{path!r}: tile index must be groups of three digits")
    tile = Tile(level, int("".join(groups)), width)
    if tile.path != path:  # e.g. superfluous leading groups of zeros
        raise FormatError(f"{path!r} is not the canonical path of {tile.path!r}")
    return tile


def edge(size: int) -> list[Tile]:
    """The partial tiles a tree of `size` leaves has, lowest level first, then the
    partial entry bundle (none when `size` is a multiple of 256)."""
    tiles = []
    count, level = size, 0
    while count:
        if count % TILE_WIDTH:
            tiles.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
        count //= TILE_WIDTH
        level += 1
    if size % TILE_WIDTH:
        tiles.append(Tile(ENTRIES, size // TILE_WIDTH, size % TILE_WIDTH))
    return tiles


def encode_hashes(hashes: Sequence[bytes]) -> bytes:
    return b"".join(hashes)


def decode_hashes(data: bytes, width: int | None = None) -> list[bytes]:
    """The hashes of a tile; `width` checks their count."""
    if len(data) % HASH_SIZE or not data:
        raise FormatError(f"a tile of {len(data)} bytes is not a sequence of 32-byte hashes")
    hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
    if width is not None and len(hashes) != width:
        raise FormatError(f"tile holds {len(hashes)} hashes, not {width}")
    return hashes


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise ValueError(f"an entry of {len(entry)} bytes does not fit a bundle")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a bundle; `width` checks their count."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise FormatError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise FormatError("entry bundle ends inside an entry")
        entries.append(data[pos : pos + length])
        pos += length
    if width is not None and len(entries) != width:
        raise FormatError(f"entry bundle holds {len(entries)} entries, not {width}")
    return entries


def cut(full: bytes, tile: Tile) -> bytes:
    """The bytes of partial `tile` taken from the full tile (or bundle) it begins."""
    if tile.level != ENTRIES:
        if len(full) < HASH_SIZE * tile.width:
            raise FormatError(f"tile {tile.index} holds fewer than {tile.width} hashes")
        return full[: HASH_SIZE * tile.width]
    pos = 0
    for _ in range(tile.width):
        if pos + 2 > len(full):
            raise FormatError(f"entry bundle {tile.index} holds fewer than {tile.width} entries")
        pos += 2 + int.from_bytes(full[pos : pos + 2], "big")
    return full[:pos]


def edge_root(size: int, partials: Mapping[int, Sequence[bytes]]) -> bytes:
    """Root of the tree of `size` leaves from the hashes of its partial tiles (level ->
    hashes; the full tiles are not needed: each complete subtree is one hash there)."""
    subtrees: list[bytes] = []
    for tile in sorted((t for t in edge(size) if t.level != ENTRIES), key=lambda t: -t.level):
        hashes = partials.get(tile.level, ())
        if len(hashes) != tile.width:
            raise FormatError(
                f"level {tile.level} of a tree of size {size} needs {tile.width} hashes, "
                f"got {len(hashes)}"
            )
        start = 0
        for bit in reversed(range(TILE_HEIGHT)):
            if tile.width >> bit & 1:
                subtrees.append(merkle.root(hashes[start : start + (1 << bit)]))
                start += 1 << bit
    return merkle.CompactRange(size, subtrees).root()


class TileTree:
    """The right edge of a tiled tree, grown by appending leaf data.

    Holds the hashes of the partial tile of each level and the data of the partial
    entry bundle (at most 255 of each), so memory stays O(log n). `append` returns the
    tiles and bundles that became full, which are then final.
    """

    __slots__ = ("_entries", "_levels", "size")

    def __init__(
        self,
        size: int = 0,
        partials: Mapping[int, Sequence[bytes]] | None = None,
        entries: Sequence[bytes] = (),
    ) -> None:
        partials = partials or {}
        wanted = {t.level: t.width for t in edge(size)}
        for level, hashes in {**partials, ENTRIES: entries}.items():
            if len(hashes) != wanted.get(level, 0):
                raise FormatError(
                    f"a tree of size {size} has {wanted.get(level, 0)} hashes at level "
                    f"{level}, not {len(hashes)}"
                )
        top = max((t.level for t in edge(size)), default=0)
        self.size = size
        self._levels = [list(partials.get(level, ())) for level in range(top + 1)]
        self._entries = list(entries)

    def append(self, data: Sequence[bytes]) -> list[tuple[Tile, bytes]]:
        """Add leaf data; returns the full tiles and bundles completed, as (tile, bytes)."""
        done: list[tuple[Tile, bytes]] = []
        leaves = leaf_hashes(data)
        start = 0
        while start < len(data):
            index = self.size // TILE_WIDTH
            take = min(TILE_WIDTH - self.size % TILE_WIDTH, len(data) - start)
            self._entries.extend(data[start : start + take])
            self._levels[0].extend(leaves[start : start + take])
            self.size += take
            start += take
            if not self.size % TILE_WIDTH:
                done.append((Tile(ENTRIES, index), encode_bundle(self._entries)))
                self._entries = []
                self._carry(done)
        return done

    def _carry(self, done: list[tuple[Tile, bytes]]) -> None:
        """Emit every level whose partial tile just filled; its root goes one level up."""
        level = 0
        while len(self._levels[level]) == TILE_WIDTH:
            hashes = self._levels[level]
            index = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH - 1
            done.append((Tile(level, index), encode_hashes(hashes)))
            self._levels[level] = []
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(merkle.root(hashes))
            level += 1

    def partials(self) -> list[tuple[Tile, bytes]]:
        """The partial tiles and bundle of the current size, as (tile, bytes)."""
        return [(tile, self._encoded(tile, tile.width)) for tile in edge(self.size)]

    def prefix(self, tile: Tile) -> bytes | None:
        """The bytes of `tile` (full or partial) if it is a prefix of a partial tile this
        edge still holds; None when it has been completed (or lies ahead)."""
        if tile.level != ENTRIES and tile.level >= len(self._levels):
            return None
        count = self.size >> (TILE_HEIGHT * max(tile.level, 0))
        if tile.index != count // TILE_WIDTH or tile.width > count % TILE_WIDTH:
            return None
        return self._encoded(tile, tile.width)

    def _encoded(self, tile: Tile, width: int) -> bytes:
        if tile.level == ENTRIES:
            return encode_bundle(self._entries[:width])
        return encode_hashes(self._levels[tile.level][:width])

    def root(self) -> bytes:
        return edge_root(self.size, dict(enumerate(self._levels)))


class TileHashes:
    """Subtree roots of a tree of `size` leaves, computed from its tiles.

    `read(tile)` returns a tile's bytes; each tile is read once. Nothing read is
    trusted: a proof built from these hashes only verifies against a signed root if the
    tiles were right.
    """

    def __init__(self, size: int, read: Callable[[Tile], bytes]) -> None:
        self.size = size
        self._read = read
        self._tiles: dict[Tile, list[bytes]] = {}

    def node(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves from index * 2**height."""
        if (index + 1) << height > self.size:
            raise ProofError(
                f"subtree {index} of height {height} is not complete at size {self.size}"
            )
        level = height // TILE_HEIGHT
        first = index << (height - TILE_HEIGHT * level)
        count = 1 << (height - TILE_HEIGHT * level)
        available = self.size >> (TILE_HEIGHT * level)
        number = first // TILE_WIDTH
        width = min(TILE_WIDTH, available - number * TILE_WIDTH)
        hashes = self._tile(Tile(level, number, width))
        offset = first - number * TILE_WIDTH
        return merkle.root(hashes[offset : offset + count])

    def _tile(self, tile: Tile) -> list[bytes]:
        hashes = self._tiles.get(tile)
        if hashes is None:
            hashes = self._tiles[tile] = decode_hashes(self._read(tile), tile.width)
        return hashes

    def subtree(self, lo: int, hi: int) -> bytes:
        """The root the RFC 6962 tree has over leaves lo..hi-1, for the ranges its proof
        algorithms ask for (lo aligned to the subtree's left half)."""
        if not 0 <= lo < hi <= self.size:
            raise ProofError(f"leaves {lo}..{hi - 1} are outside a tree of size {self.size}")
        parts = []
        while lo < hi:
            aligned = (lo & -lo).bit_length() - 1 if lo else MAX_LEVEL
            height = min(aligned, (hi - lo).bit_length() - 1)
            parts.append(self.node(height, lo >> height))
            lo += 1 << height
        acc = parts[-1]
        for left in reversed(parts[:-1]):
            acc = node_hash(left, acc)
        return acc

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 6962 consistency proof from `old_size` to this tree's size."""
        return merkle.consistency_path(old_size, self.size, self.subtree)
