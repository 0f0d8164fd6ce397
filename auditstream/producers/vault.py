"""Encrypted content with crypto-shredding.

Each subject (a user, a conversation, a tenant) gets a random 256-bit data key. Data
keys are stored wrapped (AES-256-GCM) by a key-encryption key (KEK) that has an id, one
file per subject key. Content is encrypted with AES-256-GCM under the subject's data
key, bound to its event id and slot name. Destroying the subject's key file makes
every ciphertext of that subject unreadable, without touching the hash chain, which
commits only to the ciphertext bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditstream.core.keys import Keyring
from auditstream.errors import AuditStreamError
from auditstream.proto.v1.log_entry_pb2 import EncryptedContent

ALGORITHM = "AES-256-GCM"
_KEK_CONTEXT = b"auditstream.v1.kek-aes-256-gcm"


class ContentUnavailableError(AuditStreamError):
    """The subject key was destroyed (erased) or never existed here."""


class ContentDecryptionError(AuditStreamError):
    """Ciphertext and key do not match: wrong key, or tampered content."""


def subject_key_id(subject: str) -> str:
    """Stable id of a subject's key; the subject name itself is not stored."""
    return "sk-" + hashlib.sha256(b"auditstream.v1.subject\x00" + subject.encode()).hexdigest()[:32]


def aad(event_id: str, slot: str) -> bytes:
    return event_id.encode() + b"\x00" + slot.encode()


class ContentVault:
    """Subject data keys in `directory`, wrapped by the KEKs of `keks`."""

    def __init__(self, directory: str | os.PathLike[str], keks: Keyring) -> None:
        self._dir = Path(directory)
        self._keks = keks
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ContentVault({str(self._dir)!r}, keks={self._keks!r})"

    def _kek(self, kek_id: str) -> AESGCM:
        return AESGCM(self._keks.require(kek_id).mac(_KEK_CONTEXT))

    def _path(self, key_id: str) -> Path:
        return self._dir / f"{key_id}.json"

    def _data_key(self, key_id: str, *, create: bool) -> bytes:
        with self._lock:
            cached = self._cache.get(key_id)
            if cached is not None:
                return cached
            path = self._path(key_id)
            if path.exists():
                doc = json.loads(path.read_text())
                wrapped = base64.b64decode(doc["wrapped"])
                try:
                    key = self._kek(doc["kek_id"]).decrypt(
                        wrapped[:12], wrapped[12:], key_id.encode()
                    )
                except InvalidTag as exc:
                    raise ContentDecryptionError(f"subject key {key_id} does not unwrap") from exc
            elif create:
                key = AESGCM.generate_key(bit_length=256)
                nonce = os.urandom(12)
                kek_id = self._keks.active.key_id
                wrapped = nonce + self._kek(kek_id).encrypt(nonce, key, key_id.encode())
                self._dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    json.dump(
                        {"kek_id": kek_id, "wrapped": base64.b64encode(wrapped).decode()}, handle
                    )
                tmp.replace(path)
            else:
                raise ContentUnavailableError(
                    f"subject key {key_id} was destroyed or never existed"
                )
            self._cache[key_id] = key
            return key

    def encrypt(self, subject: str, plaintext: bytes, associated: bytes) -> EncryptedContent:
        key_id = subject_key_id(subject)
        nonce = os.urandom(12)
        ciphertext = AESGCM(self._data_key(key_id, create=True)).encrypt(
            nonce, plaintext, associated
        )
        return EncryptedContent(
            algorithm=ALGORITHM, subject_key_id=key_id, nonce=nonce, ciphertext=ciphertext
        )

    def decrypt(self, content: EncryptedContent, associated: bytes) -> bytes:
        if content.algorithm != ALGORITHM:
            raise ContentDecryptionError(f"unsupported algorithm {content.algorithm!r}")
        key = self._data_key(content.subject_key_id, create=False)
        try:
            return AESGCM(key).decrypt(content.nonce, content.ciphertext, associated)
        except InvalidTag as exc:
            raise ContentDecryptionError("content does not decrypt under its subject key") from exc

    def destroy(self, subject: str) -> bool:
        """Crypto-shred a subject: delete its data key. True if there was one."""
        key_id = subject_key_id(subject)
        with self._lock:
            self._cache.pop(key_id, None)
            path = self._path(key_id)
            if not path.exists():
                return False
            path.unlink()
            return True
