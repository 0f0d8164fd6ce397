"""Signed checkpoints of a chain's Merkle tree (C2SP tlog-checkpoint).

The checkpoint body is three lines; the origin names the chain:

    auditstream/<chain_id>
    <tree size>
    <base64 root hash>
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from auditstream.core import note
from auditstream.core.cosignature import QuorumError, WitnessPolicy
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import NoteError

ORIGIN_PREFIX = "auditstream/"


def origin_for(chain_id: str) -> str:
    return ORIGIN_PREFIX + chain_id


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A verified (or freshly signed) checkpoint and the note it came from."""

    chain_id: str
    tree_size: int
    root_hash: bytes
    note: bytes

    @property
    def origin(self) -> str:
        return origin_for(self.chain_id)


def checkpoint_text(chain_id: str, tree_size: int, root_hash: bytes) -> str:
    if tree_size < 0:
        raise ValueError("tree size must not be negative")
    return f"{origin_for(chain_id)}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


def sign_checkpoint(
    chain_id: str, tree_size: int, root_hash: bytes, signer: NoteSigner
) -> SignedCheckpoint:
    signed = note.sign(checkpoint_text(chain_id, tree_size, root_hash), [signer])
    return SignedCheckpoint(chain_id, tree_size, root_hash, signed)


def parse_checkpoint_text(text: str) -> tuple[str, int, bytes]:
    """Origin, tree size and root of a checkpoint body; extension lines are ignored."""
    lines = text.split("\n")
    if len(lines) < 4:
        raise NoteError("checkpoint needs an origin, a size and a root line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise NoteError(f"checkpoint tree size {size_text!r} is not a decimal number")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("checkpoint root is not valid base64") from exc
    if len(root_hash) != 32:
        raise NoteError("checkpoint root is not a 32-byte hash")
    return origin, int(size_text), root_hash


def verify_checkpoint(
    signed_note: bytes,
    verifiers: Sequence[NoteVerifier],
    chain_id: str | None = None,
    witnesses: WitnessPolicy | None = None,
) -> SignedCheckpoint:
    """Check a checkpoint's signature against trusted keys and return its content.

    Raises `NoteError` when the note is malformed, unsigned by a trusted key, or for
    another chain than `chain_id`; `QuorumError` (a NoteError) when `witnesses` is given
    and the note lacks the cosignatures it requires.
    """
    text, _ = note.open_note(signed_note, verifiers)
    origin, tree_size, root_hash = parse_checkpoint_text(text)
    if not origin.startswith(ORIGIN_PREFIX):
        raise NoteError(f"checkpoint origin {origin!r} is not an auditstream chain")
    found_chain = origin[len(ORIGIN_PREFIX) :]
    if chain_id is not None and found_chain != chain_id:
        raise NoteError(f"checkpoint is for chain {found_chain!r}, not {chain_id!r}")
    if witnesses is not None:
        try:
            witnesses.check(signed_note)
        except QuorumError as exc:
            raise QuorumError(f"checkpoint of tree size {tree_size}: {exc}") from exc
    return SignedCheckpoint(found_chain, tree_size, root_hash, signed_note)
