"""Where the archive keeps each chain as a C2SP transparency log, and reading it back.

Every chain is one tiled log (https://c2sp.org/tlog-tiles) with the checkpoint origin
`auditstream/<chain_id>`, under a prefix of its own:

    v1/tlog/vkeys                                   the checkpoint verifier keys (vkeys)
    v1/tlog/<tenant>/<log>/checkpoint               the latest checkpoint (signed note)
    v1/tlog/<tenant>/<log>/tile/<L>/<N>[.p/<W>]     hash tiles
    v1/tlog/<tenant>/<log>/tile/entries/<N>[.p/<W>] entry bundles: the entry hashes
    v1/tlog/<tenant>/<log>/checkpoints/<day>/<size>           every checkpoint, by the
                                                              UTC day it was signed
    v1/tlog/<tenant>/<log>/checkpoints/<day>/<size>.<id>.cosig  a witness's cosignature
                                                              of it (key id in hex)

<log> is the chain id with `/` written as `~` (a character chain ids never contain), so
a prefix needs no escaping in a URL, a file path or an S3 key: chain `acme/shard1` is
`v1/tlog/acme/acme~shard1/`. <size> has 20 digits, so listings sort by size.

Nothing here is trusted by a verifier: checkpoints are checked against keys the
verifier holds, and tiles only matter through proofs that end at a signed root.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditstream.archive.store import ArchiveStore
from auditstream.core import note
from auditstream.core.checkpoint import origin_for, parse_checkpoint_text
from auditstream.core.tlog import Tile, TileHashes, cut
from auditstream.errors import NoteError, ProofError

ROOT = "v1/tlog/"
VKEYS = ROOT + "vkeys"
_HISTORY = re.compile(r"(\d{4}-\d{2}-\d{2})/(\d{20})(?:\.([0-9a-f]{8})\.cosig)?\Z")


def log_name(chain_id: str) -> str:
    return chain_id.replace("/", "~")


def chain_of(log: str) -> str:
    return log.replace("~", "/")


def log_prefix(chain_id: str) -> str:
    """The log's prefix in the archive, ending in `/`."""
    tenant = chain_id.split("/", 1)[0]
    return f"{ROOT}{tenant}/{log_name(chain_id)}/"


def day_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True, order=True)
class Dated:
    """One checkpoint of a log's history: its size, signing day, key, and the keys of
    the cosignatures stored beside it."""

    size: int
    day: str
    key: str
    cosignatures: tuple[str, ...] = ()

    def cosignature_key(self, key_id: bytes) -> str:
        return f"{self.key}.{key_id.hex()}.cosig"


def history_key(chain_id: str, day: str, size: int) -> str:
    return f"{log_prefix(chain_id)}checkpoints/{day}/{size:020d}"


def chains(store: ArchiveStore, tenant: str | None = None) -> list[str]:
    """The chains that have a log in the archive (one tenant's, if given)."""
    tenants = [tenant] if tenant else store.folders(ROOT)
    return sorted(chain_of(log) for t in tenants for log in store.folders(f"{ROOT}{t}/"))


class ArchiveLog:
    """One chain's log in an archive store: its checkpoints, cosignatures and tiles."""

    def __init__(self, store: ArchiveStore, chain_id: str) -> None:
        self.store = store
        self.chain_id = chain_id
        self.prefix = log_prefix(chain_id)

    def latest(self) -> bytes | None:
        """The latest published checkpoint note, if any."""
        return self.store.get(self.prefix + "checkpoint")

    def history(self, days: list[str] | None = None) -> list[Dated]:
        """The log's checkpoints by size (only those signed on `days`, if given)."""
        base = self.prefix + "checkpoints/"
        prefixes = [f"{base}{day}/" for day in days] if days is not None else [base]
        notes: dict[str, tuple[str, int]] = {}
        cosignatures: dict[str, list[str]] = {}
        for prefix in prefixes:
            for key in self.store.list(prefix):
                match = _HISTORY.match(key[len(base) :])
                if match is None:
                    continue
                if match.group(3) is None:
                    notes[key] = (match.group(1), int(match.group(2)))
                else:
                    cosignatures.setdefault(key.rsplit(".", 2)[0], []).append(key)
        return sorted(
            Dated(size, day, key, tuple(sorted(cosignatures.get(key, []))))
            for key, (day, size) in notes.items()
        )

    def cosigned(self, dated: Dated) -> bytes | None:
        """The checkpoint note with the cosignature lines stored beside it appended (a
        standard C2SP note: any client can verify it with the witness keys it trusts).
        None when the checkpoint object is gone."""
        signed = self.store.get(dated.key)
        if signed is None:
            return None
        lines = b"".join(self.store.get(key) or b"" for key in dated.cosignatures)
        return note.merge([signed + lines])[0] if lines else signed

    def notes(self) -> Iterator[tuple[Dated, bytes]]:
        """Every checkpoint of the history, cosignatures appended, by size."""
        for dated in self.history():
            signed = self.cosigned(dated)
            if signed is not None:
                yield dated, signed

    def read_tile(self, tile: Tile) -> bytes:
        """A tile's bytes; a partial tile that is gone is cut from its full tile (logs
        may drop partial tiles once the full one exists). Raises ProofError if neither
        is there."""
        data = self.store.get(self.prefix + tile.path)
        if data is None and not tile.full:
            full = self.store.get(self.prefix + tile.as_full().path)
            if full is not None:
                data = cut(full, tile)
        if data is None:
            raise ProofError(f"{self.prefix}{tile.path} is not in the archive")
        return data

    def tile_hashes(self, size: int) -> TileHashes:
        """Subtree hashes of the tree of `size` from this log's tiles."""
        return TileHashes(size, self.read_tile)


def checked_note(signed: bytes, chain_id: str) -> tuple[int, bytes]:
    """Size and root of a checkpoint note that names `chain_id` (signatures unchecked).
    Raises NoteError otherwise."""
    text, _ = note.parse(signed)
    origin, size, root = parse_checkpoint_text(text)
    if origin != origin_for(chain_id):
        raise NoteError(f"checkpoint origin {origin!r} is not the log of chain {chain_id!r}")
    return size, root
