"""Inclusion and consistency proof bundles built from a ClickHouse store.

The bundle formats and their offline checks are in `auditstream.core.proofs`; a bundle
is built only after the stored entries were seen to produce the checkpoint's root.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.core import hashes, merkle, note
from auditstream.core.checkpoint import parse_checkpoint_text
from auditstream.core.proofs import CONSISTENCY, INCLUSION
from auditstream.errors import QueryError


class ProofSource:
    """Reads what proofs need from ClickHouse: one entry, a chain's leaf hashes, and
    the checkpoint notes (whose signatures the checker, not this class, verifies)."""

    def __init__(self, client: ClickHouseClient, database: str = "auditstream") -> None:
        self.client = client
        self.events = f"{ident(database)}.audit_events"
        self.checkpoints = f"{ident(database)}.audit_checkpoints"

    def entry(self, event_id: str, tenant: str | None) -> dict[str, Any]:
        where = "event_id = {event_id:String}"
        params: dict[str, Any] = {"event_id": event_id}
        if tenant is not None:
            where += " AND tenant_id = {tenant:String}"
            params["tenant"] = tenant
        result = self.client.query(
            "SELECT chain_id, seq, prev_hash, body_digest, entry_hash, body "  # noqa: S608
            f"FROM {self.events} WHERE {where} ORDER BY chain_id, seq LIMIT 2",
            parameters=params,
            column_formats={"body": "bytes"},
        )
        found = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        if not found:
            raise QueryError(f"no event with id {event_id!r} in the store")
        if len(found) > 1:
            raise QueryError(f"event id {event_id!r} is stored more than once; give --chain")
        return found[0]

    def leaves(self, chain_id: str, size: int) -> list[bytes]:
        result = self.client.query(
            f"SELECT seq, any(entry_hash) FROM {self.events} "  # noqa: S608
            "WHERE chain_id = {chain:String} AND seq < {size:UInt64} GROUP BY seq ORDER BY seq",
            parameters={"chain": chain_id, "size": size},
        )
        found = result.result_rows
        if len(found) != size or (found and int(found[-1][0]) != size - 1):
            raise QueryError(
                f"the store holds {len(found)} of the first {size} entries of {chain_id!r}; "
                "run `auditstream verify` to see what is wrong"
            )
        return [hashes.leaf_hash(bytes(h)) for _, h in found]

    def notes(self, chain_id: str) -> list[tuple[int, bytes]]:
        result = self.client.query(
            f"SELECT tree_size, note FROM {self.checkpoints} "  # noqa: S608
            "WHERE chain_id = {chain:String} ORDER BY tree_size",
            parameters={"chain": chain_id},
        )
        return [(int(size), str(text).encode()) for size, text in result.result_rows]


def _unverified(signed: bytes) -> tuple[int, bytes]:
    """Tree size and root of a note, before its signature is checked (the builder's
    sanity check; checkers always verify the signature)."""
    text, _ = note.parse(signed)
    _, size, root = parse_checkpoint_text(text)
    return size, root


def build_inclusion(
    source: ProofSource,
    event_id: str,
    *,
    tenant: str | None = None,
    tree_size: int | None = None,
    with_body: bool = False,
) -> dict[str, Any]:
    entry = source.entry(event_id, tenant)
    chain_id, seq = str(entry["chain_id"]), int(entry["seq"])
    covering = [(s, n) for s, n in source.notes(chain_id) if s > seq]
    if tree_size is not None:
        covering = [(s, n) for s, n in covering if s == tree_size]
    if not covering:
        raise QueryError(
            f"no signed checkpoint of {chain_id!r} covers seq {seq} yet"
            + (f" with tree size {tree_size}" if tree_size is not None else "")
        )
    size, signed = covering[-1]
    leaves = source.leaves(chain_id, size)
    if merkle.root(leaves) != _unverified(signed)[1]:
        raise QueryError(
            f"the stored entries of {chain_id!r} do not produce the root of its checkpoint "
            f"for tree size {size}; run `auditstream verify`"
        )
    return inclusion_bundle(
        entry,
        event_id,
        size,
        merkle.inclusion_proof(leaves, seq),
        signed,
        with_body=with_body,
    )


def inclusion_bundle(
    entry: Mapping[str, Any],
    event_id: str,
    tree_size: int,
    audit_path: Sequence[bytes],
    signed_note: bytes,
    *,
    with_body: bool = False,
) -> dict[str, Any]:
    """The inclusion proof bundle (format in `auditstream.core.proofs`) of a stored
    entry (chain_id, seq, prev_hash, body_digest, entry_hash, body as bytes)."""
    seq = int(entry["seq"])
    bundle: dict[str, Any] = {
        "format": INCLUSION,
        "chain_id": str(entry["chain_id"]),
        "event_id": event_id,
        "entry": {
            "seq": seq,
            "prev_hash": bytes(entry["prev_hash"]).hex(),
            "body_digest": bytes(entry["body_digest"]).hex(),
            "entry_hash": bytes(entry["entry_hash"]).hex(),
        },
        "leaf_index": seq,
        "tree_size": tree_size,
        "audit_path": [h.hex() for h in audit_path],
        "checkpoint": signed_note.decode(),
    }
    if with_body and entry["body"]:
        bundle["body"] = base64.b64encode(bytes(entry["body"])).decode()
    return bundle


def build_consistency(
    source: ProofSource, chain_id: str, old_size: int | None = None, new_size: int | None = None
) -> dict[str, Any]:
    notes = dict(source.notes(chain_id))
    if len(notes) < 1:
        raise QueryError(f"no signed checkpoints of {chain_id!r} in the store")
    old = old_size if old_size is not None else min(notes)
    new = new_size if new_size is not None else max(notes)
    for size in (old, new):
        if size not in notes:
            raise QueryError(f"no checkpoint of {chain_id!r} with tree size {size}")
    if old > new:
        raise QueryError(f"old tree size {old} is larger than new tree size {new}")
    leaves = source.leaves(chain_id, new)
    for size in (old, new):
        if merkle.root(leaves[:size]) != _unverified(notes[size])[1]:
            raise QueryError(
                f"the stored entries of {chain_id!r} do not produce the root signed for tree "
                f"size {size}; run `auditstream verify`"
            )
    return {
        "format": CONSISTENCY,
        "chain_id": chain_id,
        "old_checkpoint": notes[old].decode(),
        "new_checkpoint": notes[new].decode(),
        "proof": [h.hex() for h in merkle.consistency_proof(leaves, old)],
    }
