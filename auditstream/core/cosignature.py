"""Witness cosignatures (C2SP tlog-cosignature, cosignature/v1 with Ed25519) and the
witness policy a verifier applies: at least `quorum` valid cosignatures from the witness
keys it trusts.

    witness vkey     <name>+<key id>+base64(0x04 || 32-byte Ed25519 public key)
    signature line   — <name> base64(key id || u64be timestamp || Ed25519 signature)
    signed message   "cosignature/v1\\n" "time <timestamp>\\n" <checkpoint note text>

A cosignature says: at that time, this is the largest tree the witness has seen for the
origin, consistent with everything it saw before. Witness keys, like checkpoint keys,
come from the verifier's own configuration, never from the store it checks.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditstream.core import note
from auditstream.core.keys import ALG_ED25519, b64decode, check_name, key_hash
from auditstream.errors import ConfigError, KeyMaterialError, NoteError

ALG_COSIGNATURE_V1 = 0x04
ALG_ML_DSA_44 = 0x06
HEADER = "cosignature/v1\n"
SIGNATURE_BYTES = 8 + 64  # timestamp, Ed25519 signature
MAX_TIMESTAMP = 2**63 - 1


class QuorumError(NoteError):
    """A checkpoint lacks the valid cosignatures the witness policy requires, or a
    trusted witness's cosignature on it does not verify."""


def message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs for checkpoint note `text` at `timestamp`."""
    return f"{HEADER}time {timestamp}\n{text}".encode()


class CosignatureVerifier:
    """A witness's public key: verifies its cosignature/v1 signatures."""

    __slots__ = ("_public", "key_id", "name", "public_bytes")

    def __init__(self, name: str, public_bytes: bytes) -> None:
        check_name(name)
        if len(public_bytes) != 32:
            raise KeyMaterialError(f"witness key {name!r}: Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_bytes = public_bytes
        self.key_id = key_hash(name, public_bytes, ALG_COSIGNATURE_V1)
        self._public = Ed25519PublicKey.from_public_bytes(public_bytes)

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        """Read a witness verifier key `<name>+<key id>+<base64(0x04 || key)>`."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyMaterialError("witness key must have the form <name>+<key id>+<key>")
        name, id_hex, encoded = parts
        raw = b64decode(encoded, f"witness key {name!r}")
        kind = raw[0] if raw else None
        if kind == ALG_ED25519:
            raise KeyMaterialError(
                f"witness key {name!r} is a plain Ed25519 note key (type 0x01); witnesses "
                "sign cosignature/v1 (type 0x04)"
            )
        if kind == ALG_ML_DSA_44:
            raise KeyMaterialError(
                f"witness key {name!r}: ML-DSA-44 cosignatures are not supported"
            )
        if kind != ALG_COSIGNATURE_V1 or len(raw) != 33:
            raise KeyMaterialError(f"witness key {name!r} is not a cosignature/v1 Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != id_hex.lower():
            raise KeyMaterialError(f"witness key {name!r}: key id does not match the key")
        return verifier

    def encode(self) -> str:
        """The verifier key string, safe to publish."""
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_bytes).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def timestamp(self, text: str, signature: bytes) -> int | None:
        """The cosignature's timestamp if `signature` (timestamp || Ed25519 signature, the
        key id already removed) is this witness's cosignature of note `text`; else None."""
        if len(signature) != SIGNATURE_BYTES:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            self._public.verify(signature[8:], message(text, timestamp))
        except InvalidSignature:
            return None
        return timestamp

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CosignatureVerifier)
            and other.name == self.name
            and other.public_bytes == self.public_bytes
        )

    def __hash__(self) -> int:
        return hash((self.name, self.public_bytes))

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.encode()!r})"


@dataclass(frozen=True, slots=True)
class Cosigned:
    """One valid cosignature: which witness, and when it signed."""

    witness: CosignatureVerifier
    timestamp: int


def cosignatures(signed_note: bytes, witnesses: Iterable[CosignatureVerifier]) -> list[Cosigned]:
    """The valid cosignatures on a note by `witnesses`, one per witness; signatures by
    other keys are ignored. Raises QuorumError when a witness's signature is invalid."""
    text, signatures = note.parse(signed_note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[CosignatureVerifier, int] = {}
    for sig in signatures:
        witness = known.get((sig.name, sig.key_hash))
        if witness is None:
            continue
        timestamp = witness.timestamp(text, sig.signature)
        if timestamp is None:
            raise QuorumError(f"the cosignature by witness {sig.name!r} does not verify")
        found.setdefault(witness, timestamp)
    return [Cosigned(w, t) for w, t in found.items()]


def signature_lines(signed_note: bytes, witness: CosignatureVerifier) -> bytes:
    """The lines of the note that are `witness`'s valid cosignatures (may be empty)."""
    text, signatures = note.parse(signed_note)
    lines = []
    for sig in signatures:
        if (sig.name, sig.key_hash) == (witness.name, witness.key_id) and witness.timestamp(
            text, sig.signature
        ) is not None:
            lines.append(note.signature_line(sig))
    return "".join(lines).encode()


@dataclass(frozen=True)
class WitnessPolicy:
    """Trust a checkpoint only with `quorum` valid cosignatures from `witnesses`."""

    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int

    def __post_init__(self) -> None:
        unique = tuple(dict.fromkeys(self.witnesses))
        object.__setattr__(self, "witnesses", unique)
        if self.quorum < 1:
            raise ConfigError(f"a witness quorum must be at least 1, not {self.quorum}")
        if self.quorum > len(unique):
            raise ConfigError(
                f"a quorum of {self.quorum} needs at least {self.quorum} different witness "
                f"keys; {len(unique)} given"
            )

    @classmethod
    def of(cls, witnesses: Sequence[CosignatureVerifier], quorum: int | None) -> WitnessPolicy:
        """The policy for these keys; without a quorum, any one of them suffices."""
        return cls(tuple(witnesses), 1 if quorum is None else quorum)

    def check(self, signed_note: bytes) -> list[Cosigned]:
        """The valid cosignatures, at least `quorum` of them; raises QuorumError naming
        what is missing (and which cosignatures by untrusted keys the note carries)."""
        valid = cosignatures(signed_note, self.witnesses)
        if len(valid) >= self.quorum:
            return valid
        _, signatures = note.parse(signed_note)
        known = {(w.name, w.key_id) for w in self.witnesses}
        # A cosignature/v1 blob is a timestamp and a signature; a log's plain Ed25519
        # signature is shorter, so it is not listed as an untrusted cosignature.
        others = sorted(
            {
                f"{s.name} (key id {s.key_hash.hex()})"
                for s in signatures
                if len(s.signature) == SIGNATURE_BYTES and (s.name, s.key_hash) not in known
            }
        )
        got = f"{len(valid)} valid cosignature{'s' if len(valid) != 1 else ''}"
        detail = f"{got} of the {self.quorum} required from the trusted witness keys ("
        detail += ", ".join(f"{w.name} key id {w.key_id.hex()}" for w in self.witnesses) + ")"
        if others:
            detail += "; cosigned by untrusted keys: " + ", ".join(others)
        elif not valid:
            detail += "; it carries no cosignatures"
        raise QuorumError(detail)
