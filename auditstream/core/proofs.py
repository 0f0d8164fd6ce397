"""Inclusion and consistency proof bundles, checked with only a public key (pure).

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

`auditstream.verification.proofs` builds them from a store.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from auditstream.core import hashes, merkle
from auditstream.core.checkpoint import verify_checkpoint
from auditstream.core.cosignature import QuorumError, WitnessPolicy
from auditstream.core.keys import NoteVerifier
from auditstream.errors import FormatError, NoteError, ProofError
from auditstream.proto.v1 import sealed_pb2 as sealed

INCLUSION = "auditstream.inclusion-proof.v1"
CONSISTENCY = "auditstream.consistency-proof.v1"


@dataclass(frozen=True)
class Checked:
    ok: bool
    message: str


def _hex(value: Any, what: str, size: int = 32) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError as exc:
        raise FormatError(f"{what} is not hex") from exc
    if len(raw) != size:
        raise FormatError(f"{what} is not {size} bytes")
    return raw


def check_inclusion(
    doc: dict[str, Any],
    verifiers: Sequence[NoteVerifier],
    witnesses: WitnessPolicy | None = None,
) -> Checked:
    """Check an inclusion bundle offline; with `witnesses`, its checkpoint must also
    carry the policy's quorum of cosignatures. Malformed bundles raise FormatError."""
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
        raise FormatError(f"inclusion proof lacks or mangles a field: {exc}") from exc
    try:
        checkpoint = verify_checkpoint(signed, verifiers, chain_id, witnesses)
    except QuorumError as exc:
        return Checked(False, f"checkpoint is not witnessed: {exc}")
    except NoteError as exc:
        return Checked(False, f"checkpoint does not verify: {exc}")
    if checkpoint.tree_size != size:
        return Checked(False, f"checkpoint is for tree size {checkpoint.tree_size}, not {size}")
    if index != seq:
        return Checked(False, f"leaf index {index} is not the entry's seq {seq}")
    if hashes.entry_hash(prev_hash, seq, body_digest) != entry_hash:
        return Checked(False, "entry_hash is not the hash of the entry's skeleton")
    if "body" in doc:
        problem = _check_body(doc, chain_id, seq, body_digest)
        if problem:
            return Checked(False, problem)
    try:
        root = merkle.root_from_inclusion(hashes.leaf_hash(entry_hash), index, size, path)
    except ProofError as exc:
        return Checked(False, f"audit path is malformed: {exc}")
    if root != checkpoint.root_hash:
        return Checked(False, "audit path does not lead to the checkpoint's root")
    cosigners = ""
    if witnesses is not None:
        names = sorted({c.witness.name for c in witnesses.check(signed)})
        cosigners = f" and cosigned by {', '.join(names)}"
    return Checked(
        True,
        f"event {doc.get('event_id', '?')} is entry {seq} of chain {chain_id}, covered by the "
        f"checkpoint of tree size {size} signed by {', '.join(v.name for v in verifiers)}"
        f"{cosigners}",
    )


def _check_body(doc: dict[str, Any], chain_id: str, seq: int, body_digest: bytes) -> str:
    try:
        body = base64.b64decode(str(doc["body"]), validate=True)
    except (binascii.Error, ValueError):
        return "body is not valid base64"
    if hashes.body_digest(body) != body_digest:
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
        raise FormatError(f"consistency proof lacks or mangles a field: {exc}") from exc
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
