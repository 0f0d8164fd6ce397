"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:

    <text>\\n
    \\n
    — <key name> <base64(4-byte key hash || signature)>\\n
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import NoteError

SIG_PREFIX = "\u2014 "  # em dash and a space
MAX_SIGNATURES = 100


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_hash: bytes
    signature: bytes


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if "\n\n" in text:
        raise NoteError("note text must not contain a blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text must not contain control characters")


def sign(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """The signed note: `text` signed by every signer."""
    _check_text(text)
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    message = text.encode()
    lines = [
        signature_line(Signature(signer.name, signer.key_hash, signer.sign(message)))
        for signer in signers
    ]
    return (text + "\n" + "".join(lines)).encode()


def parse(note: bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signatures, checking only the syntax."""
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = decoded[: split + 1], decoded[split + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("note signatures must end with a newline")
    signatures = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, blob = line[len(SIG_PREFIX) :].partition(" ")
        if not name or not blob or " " in blob:
            raise NoteError("malformed signature line")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"signature of {name!r} is not valid base64") from exc
        if len(raw) < 5:
            raise NoteError(f"signature of {name!r} is too short")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError("note has too many signatures")
    return text, signatures


def open_note(note: bytes, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[NoteVerifier]]:
    """Text of a note and the trusted verifiers whose signature on it is valid.

    Signatures by unknown keys are ignored. Raises `NoteError` when the note is
    malformed, when a known key's signature is invalid, or when no trusted key
    signed it.
    """
    text, signatures = parse(note)
    known = {(v.name, v.key_hash): v for v in verifiers}
    message = text.encode()
    verified: list[NoteVerifier] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_hash))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise NoteError(f"invalid signature by {sig.name!r}")
        if verifier not in verified:
            verified.append(verifier)
    if not verified:
        names = ", ".join(sorted({s.name for s in signatures})) or "nobody"
        raise NoteError(f"note is not signed by a trusted key (signed by: {names})")
    return text, verified


def signature_line(signature: Signature) -> str:
    """The note line of one signature, newline included."""
    blob = base64.b64encode(signature.key_hash + signature.signature).decode()
    return f"{SIG_PREFIX}{signature.name} {blob}\n"


def merge(notes: Iterable[bytes]) -> list[bytes]:
    """Notes with the same text combined into one carrying all their signatures (each
    line once, in the order first seen). A note that does not parse is kept as it is,
    so whoever verifies it reports it."""
    texts: dict[str, list[str]] = {}
    broken: list[bytes] = []
    for signed in notes:
        try:
            text, signatures = parse(signed)
        except NoteError:
            broken.append(signed)
            continue
        lines = texts.setdefault(text, [])
        lines.extend(line for line in map(signature_line, signatures) if line not in lines)
    merged = [(text + "\n" + "".join(lines)).encode() for text, lines in texts.items()]
    return [*merged, *dict.fromkeys(broken)]
