"""Encrypted content with crypto-shredding, for producers that store content.

Each subject (a user, a conversation, a tenant) gets a random 256-bit data key in a
`SubjectVault` (wrapped by a key-encryption key, one file per subject; see
auditstream.privacy.vault). Content is encrypted with AES-256-GCM under the subject's
data key, bound to its event id and slot name. Destroying the subject's key makes every
ciphertext of that subject unreadable, without touching the hash chain, which commits
only to the ciphertext bytes.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditstream.core.keys import Keyring
from auditstream.errors import AuditStreamError
from auditstream.privacy.vault import (
    LocalKek,
    SubjectErasedError,
    SubjectKeyError,
    SubjectVault,
    UnknownSubjectKeyError,
)
from auditstream.proto.v1.log_entry_pb2 import EncryptedContent

ALGORITHM = "AES-256-GCM"


class ContentUnavailableError(AuditStreamError):
    """The subject key was destroyed (erased) or never existed here."""


class ContentDecryptionError(AuditStreamError):
    """Ciphertext and key do not match: wrong key, or tampered content."""


def subject_ref(subject: str) -> str:
    """The vault reference of a content subject; the subject name itself is not stored."""
    return hashlib.sha256(b"auditstream.v1.subject\x00" + subject.encode()).hexdigest()[:32]


def aad(event_id: str, slot: str) -> bytes:
    return event_id.encode() + b"\x00" + slot.encode()


class ContentVault:
    """Subject data keys in `directory`, wrapped by the KEKs of `keks`."""

    def __init__(self, directory: str | os.PathLike[str], keks: Keyring) -> None:
        self._vault = SubjectVault(directory, LocalKek(keks))

    def __repr__(self) -> str:
        return f"ContentVault({self._vault!r})"

    def encrypt(self, subject: str, plaintext: bytes, associated: bytes) -> EncryptedContent:
        key_id, key = self._vault.current(subject_ref(subject))
        nonce = os.urandom(12)
        return EncryptedContent(
            algorithm=ALGORITHM,
            subject_key_id=key_id,
            nonce=nonce,
            ciphertext=AESGCM(key).encrypt(nonce, plaintext, associated),
        )

    def decrypt(self, content: EncryptedContent, associated: bytes) -> bytes:
        if content.algorithm != ALGORITHM:
            raise ContentDecryptionError(f"unsupported algorithm {content.algorithm!r}")
        try:
            key = self._vault.key(content.subject_key_id)
        except (SubjectErasedError, UnknownSubjectKeyError) as exc:
            raise ContentUnavailableError(
                f"subject key {content.subject_key_id} was destroyed or never existed"
            ) from exc
        except SubjectKeyError as exc:
            raise ContentDecryptionError(str(exc)) from exc
        try:
            return AESGCM(key).decrypt(content.nonce, content.ciphertext, associated)
        except InvalidTag as exc:
            raise ContentDecryptionError("content does not decrypt under its subject key") from exc

    def destroy(self, subject: str) -> bool:
        """Crypto-shred a subject: delete its data key. True if there was one."""
        ref = subject_ref(subject)
        if not self._vault.exists(ref):
            return False
        self._vault.destroy(ref)
        return True
