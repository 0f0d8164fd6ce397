"""The pack's MANIFEST: every other file with its SHA-256, as a signed note (pure).

    auditstream/evidence-pack/v1
    <sha256 hex>  <path>                 (one line per file, sorted by path)

    — <report key name> <base64(key hash || Ed25519 signature)>

It is a C2SP signed note (https://c2sp.org/signed-note), so any signed-note verifier
checks it with the report's public key; the file lines are `sha256sum -c` input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auditstream.core import note
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import FormatError, NoteError

NAME = "MANIFEST"
ORIGIN = "auditstream/evidence-pack/v1"
_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class PackError(FormatError):
    """An evidence pack does not verify; the message says which file and why."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_path(path: str) -> bool:
    """Relative, no `..`, no spaces or odd characters: the paths a pack may hold."""
    return bool(_SAFE_PATH.match(path)) and ".." not in path.split("/")


def manifest_text(hashes: Mapping[str, str]) -> str:
    lines = [ORIGIN]
    for path in sorted(hashes):
        if not safe_path(path) or path == NAME:
            raise ValueError(f"not a pack path: {path!r}")
        lines.append(f"{hashes[path]}  {path}")
    return "\n".join(lines) + "\n"


def sign_manifest(files: Mapping[str, bytes], signer: NoteSigner) -> bytes:
    return note.sign(manifest_text({p: sha256(d) for p, d in files.items()}), [signer])


def _key(name: str, key_hash: bytes) -> str:
    return f"{name} (key hash {key_hash.hex()})"


@dataclass(frozen=True)
class Manifest:
    hashes: dict[str, str]
    signed_by: list[str]


def open_manifest(data: bytes, verifiers: Sequence[NoteVerifier]) -> Manifest:
    """The file hashes of a MANIFEST whose signature verifies under a trusted report
    key. Raises PackError naming the signer, the key or the line that is wrong."""
    try:
        text, signatures = note.parse(data)
    except NoteError as exc:
        raise PackError(f"{NAME} is not a signed note: {exc}") from exc
    trusted = {(v.name, v.key_hash): v for v in verifiers}
    signed_by = []
    for signature in signatures:
        verifier = trusted.get((signature.name, signature.key_hash))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), signature.signature):
            raise PackError(
                f"{NAME}: the signature by {_key(signature.name, signature.key_hash)} does not "
                "verify: the manifest was changed after it was signed"
            )
        signed_by.append(_key(signature.name, signature.key_hash))
    if not signed_by:
        found = ", ".join(_key(s.name, s.key_hash) for s in signatures) or "nobody"
        wanted = ", ".join(_key(v.name, v.key_hash) for v in verifiers)
        raise PackError(
            f"{NAME} is signed by {found}, which is not a trusted report key (trusted: {wanted})"
        )
    lines = text.splitlines()
    if not lines or lines[0] != ORIGIN:
        raise PackError(f"{NAME} does not start with {ORIGIN!r}")
    hashes: dict[str, str] = {}
    for number, line in enumerate(lines[1:], 2):
        found_line = _LINE.match(line)
        if found_line is None or not safe_path(found_line.group(2)):
            raise PackError(f"{NAME} line {number} is not '<sha256>  <path>': {line[:80]!r}")
        hashes[found_line.group(2)] = found_line.group(1)
    return Manifest(hashes, signed_by)
