"""Inclusion and consistency proofs: built from a store, checked with only a public key.

An inclusion proof bundle shows that one event is entry `seq` of its chain and that a
signed checkpoint covers it, without revealing any other entry:

    {"format": "auditstream.inclusion-proof.v1", "chain_id", "event_id",
     "entry": {"seq", "prev_hash", "body_digest", "entry_hash"},   (hashes in hex)
     "body": base64 SealedBody (optional), "leaf_index", "tree_size",
     "audit_path": [hex, ...], "checkpoint": signed note text}

A consistency proof bundle shows that the tree of an older checkpoint is a prefix of a
newer one's, i.e. nothing the older one covered was changed since:

    {"format": "auditstream.consistency-proof.v1", "chain_id",
     "old_checkpoint", "new_checkpoint", "proof": [hex, ...]}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from auditstream.core import merkle, note
from auditstream.core.chain import CHAIN_DOMAIN
from auditstream.core.checkpoint import parse_checkpoint_text, verify_checkpoint
from auditstream.core.keys import NoteVerifier
from auditstream.errors import ConfigError, FormatError, NoteError, ProofError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.sinks.sql import ident

INCLUSION = "auditstream.inclusion-proof.v1"
CONSISTENCY = "auditstream.consistency-proof.v1"


@dataclass(frozen=True)
class Checked:
    ok: bool
    message: str


class ProofSource:
    """Reads what proofs need from ClickHouse: one entry, a chain's leaf hashes, and
    the checkpoint notes (whose signatures the checker, not this class, verifies)."""

    def __init__(self, client: Any, database: str = "auditstream") -> None:
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
            raise ConfigError(f"no event with id {event_id!r} in the store")
        if len(found) > 1:
            raise ConfigError(f"event id {event_id!r} is stored more than once; give --chain")
        return found[0]

    def leaves(self, chain_id: str, size: int) -> list[bytes]:
        result = self.client.query(
            f"SELECT seq, any(entry_hash) FROM {self.events} "  # noqa: S608
            "WHERE chain_id = {chain:String} AND seq < {size:UInt64} GROUP BY seq ORDER BY seq",
            parameters={"chain": chain_id, "size": size},
        )
        found = result.result_rows
        if len(found) != size or (found and int(found[-1][0]) != size - 1):
            raise ConfigError(
                f"the store holds {len(found)} of the first {size} entries of {chain_id!r}; "
                "run `auditstream verify` to see what is wrong"
            )
        return [merkle.leaf_hash(bytes(h)) for _, h in found]

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
        raise ConfigError(
            f"no signed checkpoint of {chain_id!r} covers seq {seq} yet"
            + (f" with tree size {tree_size}" if tree_size is not None else "")
        )
    size, signed = covering[-1]
    leaves = source.leaves(chain_id, size)
    if merkle.root(leaves) != _unverified(signed)[1]:
        raise ConfigError(
            f"the stored entries of {chain_id!r} do not produce the root of its checkpoint "
            f"for tree size {size}; run `auditstream verify`"
        )
    bundle: dict[str, Any] = {
        "format": INCLUSION,
        "chain_id": chain_id,
        "event_id": event_id,
        "entry": {
            "seq": seq,
            "prev_hash": bytes(entry["prev_hash"]).hex(),
            "body_digest": bytes(entry["body_digest"]).hex(),
            "entry_hash": bytes(entry["entry_hash"]).hex(),
        },
        "leaf_index": seq,
        "tree_size": size,
        "audit_path": [h.hex() for h in merkle.inclusion_proof(leaves, seq)],
        "checkpoint": signed.decode(),
    }
    if with_body and entry["body"]:
        bundle["body"] = base64.b64encode(bytes(entry["body"])).decode()
    return bundle


def build_consistency(
    source: ProofSource, chain_id: str, old_size: int | None = None, new_size: int | None = None
) -> dict[str, Any]:
    notes = dict(source.notes(chain_id))
    if len(notes) < 1:
        raise ConfigError(f"no signed checkpoints of {chain_id!r} in the store")
    old = old_size if old_size is not None else min(notes)
    new = new_size if new_size is not None else max(notes)
    for size in (old, new):
        if size not in notes:
            raise ConfigError(f"no checkpoint of {chain_id!r} with tree size {size}")
    if old > new:
        raise ConfigError(f"old tree size {old} is larger than new tree size {new}")
    leaves = source.leaves(chain_id, new)
    for size in (old, new):
        if merkle.root(leaves[:size]) != _unverified(notes[size])[1]:
            raise ConfigError(
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


def _hex(value: Any, what: str, size: int = 32) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise FormatError(f"{what} is not hex") from None
    if len(raw) != size:
        raise FormatError(f"{what} is not {size} bytes")
    return raw


def check_inclusion(doc: dict[str, Any], verifiers: Sequence[NoteVerifier]) -> Checked:
    """Check an inclusion bundle offline. Malformed bundles raise FormatError."""
    if doc.get("format") != INCLUSION:
        raise FormatError(f"not an inclusion proof (format {doc.get('format')!r})")
    try:
        chain_id = str(doc["chain_id"])
        entry = doc["entry"]
        seq = int(entry["seq"])
        prev_hash = _hex(entry["prev_hash"], "entry.prev_hash")
        body_digest = _hex(entry["body_digest"], "entry.body_digest")
        entry_hash = _hex(entry["entry_hash"], "entry.entry_hash")
        index, size = int(doc["leaf_index"]), int(doc["tree_size"])
        path = [_hex(h, "audit_path entry") for h in doc["audit_path"]]
        signed = str(doc["checkpoint"]).encode()
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"inclusion proof lacks or mangles a field: {exc}") from None
    try:
        checkpoint = verify_checkpoint(signed, verifiers, chain_id)
    except NoteError as exc:
        return Checked(False, f"checkpoint does not verify: {exc}")
    if checkpoint.tree_size != size:
        return Checked(False, f"checkpoint is for tree size {checkpoint.tree_size}, not {size}")
    if index != seq:
        return Checked(False, f"leaf index {index} is not the entry's seq {seq}")
    recomputed = hashlib.sha256(
        CHAIN_DOMAIN + prev_hash + seq.to_bytes(8, "big") + body_digest
    ).digest()
    if recomputed != entry_hash:
        return Checked(False, "entry_hash is not the hash of the entry's skeleton")
    if "body" in doc:
        problem = _check_body(doc, chain_id, seq, body_digest)
        if problem:
            return Checked(False, problem)
    try:
        root = merkle.root_from_inclusion(merkle.leaf_hash(entry_hash), index, size, path)
    except ProofError as exc:
        return Checked(False, f"audit path is malformed: {exc}")
    if root != checkpoint.root_hash:
        return Checked(False, "audit path does not lead to the checkpoint's root")
    return Checked(
        True,
        f"event {doc.get('event_id', '?')} is entry {seq} of chain {chain_id}, covered by the "
        f"checkpoint of tree size {size} signed by {', '.join(v.name for v in verifiers)}",
    )


def _check_body(doc: dict[str, Any], chain_id: str, seq: int, body_digest: bytes) -> str:
    try:
        body = base64.b64decode(str(doc["body"]), validate=True)
    except (binascii.Error, ValueError):
        return "body is not valid base64"
    if hashlib.sha256(body).digest() != body_digest:
        return "body does not hash to the entry's body_digest"
    try:
        decoded = sealed.SealedBody.FromString(body)
    except DecodeError:
        return "body does not parse"
    if (decoded.chain_id, decoded.seq) != (chain_id, seq):
        return "body names another chain or seq"
    if "event_id" in doc and decoded.entry.event_id != doc["event_id"]:
        return "body is of another event"
    return ""


def check_consistency(
    doc: dict[str, Any], verifiers: Sequence[NoteVerifier], held: bytes | None = None
) -> Checked:
    """Check a consistency bundle offline. `held`: a checkpoint the auditor kept earlier,
    which must be the bundle's old one."""
    if doc.get("format") != CONSISTENCY:
        raise FormatError(f"not a consistency proof (format {doc.get('format')!r})")
    try:
        chain_id = str(doc["chain_id"])
        old_note = str(doc["old_checkpoint"]).encode()
        new_note = str(doc["new_checkpoint"]).encode()
        path = [_hex(h, "proof entry") for h in doc["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"consistency proof lacks or mangles a field: {exc}") from None
    try:
        old = verify_checkpoint(old_note, verifiers, chain_id)
        new = verify_checkpoint(new_note, verifiers, chain_id)
    except NoteError as exc:
        return Checked(False, f"checkpoint does not verify: {exc}")
    if held is not None:
        try:
            kept = verify_checkpoint(held, verifiers, chain_id)
        except NoteError as exc:
            return Checked(False, f"the checkpoint you hold does not verify: {exc}")
        if (kept.tree_size, kept.root_hash) != (old.tree_size, old.root_hash):
            return Checked(False, "the bundle's old checkpoint is not the one you hold")
    if not merkle.verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, path
    ):
        return Checked(
            False,
            f"tree size {new.tree_size} does not extend tree size {old.tree_size}: "
            "history was rewritten, or the proof is damaged",
        )
    return Checked(
        True,
        f"chain {chain_id}: tree size {new.tree_size} extends tree size {old.tree_size} "
        "(nothing covered by the older checkpoint changed)",
    )
