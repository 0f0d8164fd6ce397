"""Dead letters that never hold a record in clear (pure).

A refused record is stored twice in its DeadLetter: masked (every credential and card
number the classifier finds overwritten by `*`, byte for byte, in key, value, header
values and the detail), and whole, encrypted with HPKE (RFC 9180) for the operator's
X25519 public key. The worker holds only that public key, so neither the worker nor
anyone reading the dead-letter topic can recover a secret; the operator opens a letter
with the private key (`auditstream deadletter show`). Decision 0012.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from auditstream.core import detectors
from auditstream.core.detectors import Scanner, mask_bytes
from auditstream.core.secret_names import is_secret_name
from auditstream.core.validate import RawRecord, Rejected
from auditstream.errors import FormatError, KeyMaterialError
from auditstream.proto.v1 import sealed_pb2 as sealed

SUITE = "HPKE-X25519-SHA256-AES256GCM"
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PRIVATE_PREFIX = "AUDITSTREAM-DEADLETTER-PRIVATE-KEY"
PUBLIC_PREFIX = "auditstream-deadletter-key"


def _check_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise KeyMaterialError(
            f"dead-letter key id {key_id[:80]!r}: 1-64 letters, digits, '.', '_' or '-'"
        )
    return key_id


def _decode(text: str, prefix: str, what: str) -> tuple[str, bytes]:
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or parts[0] != prefix:
        raise KeyMaterialError(f"not a dead-letter {what} key (expected {prefix}+<id>+<base64>)")
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        raise KeyMaterialError(f"dead-letter {what} key: the key is not base64") from None
    if len(raw) != 32:
        raise KeyMaterialError(f"dead-letter {what} key: expected 32 bytes, got {len(raw)}")
    return _check_id(parts[1]), raw


def _info(key_id: str, source: sealed.SourceRecord) -> bytes:
    """HPKE info: binds a ciphertext to its letter, so it cannot be moved to another."""
    fields = (key_id, source.topic, str(source.partition), str(source.offset))
    return b"auditstream.v1.deadletter\x00" + b"\x00".join(f.encode() for f in fields)


@dataclass(frozen=True)
class DeadLetterRecipient:
    """The operator's public key: what the worker encrypts dead-letter originals for."""

    key_id: str
    public_key: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> DeadLetterRecipient:
        key_id, raw = _decode(text, PUBLIC_PREFIX, "public")
        return cls(key_id, raw)

    def encode(self) -> str:
        return f"{PUBLIC_PREFIX}+{self.key_id}+{base64.b64encode(self.public_key).decode()}"

    def seal(
        self, original: sealed.OriginalRecord, source: sealed.SourceRecord
    ) -> sealed.SealedOriginal:
        ciphertext = _HPKE.encrypt(
            original.SerializeToString(),
            X25519PublicKey.from_public_bytes(self.public_key),
            info=_info(self.key_id, source),
        )
        return sealed.SealedOriginal(key_id=self.key_id, suite=SUITE, ciphertext=ciphertext)


class DeadLetterKey:
    """The operator's private key: opens dead-letter originals. Never printed."""

    __slots__ = ("_private", "key_id")

    def __init__(self, key_id: str, private: X25519PrivateKey) -> None:
        self.key_id = _check_id(key_id)
        self._private = private

    @classmethod
    def generate(cls, key_id: str) -> DeadLetterKey:
        return cls(key_id, X25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> DeadLetterKey:
        key_id, raw = _decode(text, PRIVATE_PREFIX, "private")
        return cls(key_id, X25519PrivateKey.from_private_bytes(raw))

    def encode_private(self) -> str:
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"{PRIVATE_PREFIX}+{self.key_id}+{base64.b64encode(raw).decode()}"

    @property
    def recipient(self) -> DeadLetterRecipient:
        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return DeadLetterRecipient(self.key_id, raw)

    def open(self, letter: sealed.DeadLetter) -> sealed.OriginalRecord:
        """The record as received. Raises KeyMaterialError for a letter sealed for
        another key, FormatError when it does not decrypt (wrong key or altered)."""
        where = f"{letter.source.topic}/{letter.source.partition}/{letter.source.offset}"
        if not letter.HasField("sealed_original"):
            raise FormatError(f"dead letter {where} holds no encrypted original")
        box = letter.sealed_original
        if box.key_id != self.key_id:
            raise KeyMaterialError(
                f"dead letter {where} was sealed for key {box.key_id!r}, not {self.key_id!r}"
            )
        if box.suite != SUITE:
            raise FormatError(f"dead letter {where}: unknown suite {box.suite[:40]!r}")
        try:
            plain = _HPKE.decrypt(
                box.ciphertext, self._private, info=_info(box.key_id, letter.source)
            )
        except (InvalidTag, ValueError):
            raise FormatError(
                f"dead letter {where} does not decrypt with key {self.key_id!r}: "
                "another key of the same id, or the letter was altered"
            ) from None
        return sealed.OriginalRecord.FromString(plain)

    def __repr__(self) -> str:
        return f"DeadLetterKey({self.key_id!r}, <private>)"


def build_dead_letter(
    record: RawRecord,
    rejected: Rejected,
    now_ns: int,
    scanner: Scanner,
    recipient: DeadLetterRecipient | None,
) -> bytes:
    """The DeadLetter bytes for `record`: masked, and the original sealed for
    `recipient` (without one, the original is not kept at all)."""
    source = sealed.SourceRecord(
        topic=record.topic, partition=record.partition, offset=record.offset
    )
    found: Counter[str] = Counter()
    masked_kinds = detectors.MASKED_KINDS

    def masked(data: bytes, where: str) -> bytes:
        result = mask_bytes(data, scanner, masked_kinds)
        if where.startswith("header:") and data and is_secret_name(where[7:]):
            found[f"secret_field\x00{where}"] += 1
            return b"*" * len(data)
        for match in result.matches:
            if match.kind in masked_kinds:
                found[f"{match.kind}\x00{where}"] += 1
        return result.data

    detail_matches = [m for m in scanner.scan(rejected.detail) if m.kind in masked_kinds]
    for match in detail_matches:
        found[f"{match.kind}\x00detail"] += 1
    letter = sealed.DeadLetter(
        reason=rejected.reason,  # type: ignore[arg-type]
        detail=detectors.redact(rejected.detail, detail_matches),
        original_value=masked(record.value, "value"),
        original_key=masked(record.key or b"", "key"),
        original_headers=[
            sealed.RecordHeader(key=k, value=masked(v, f"header:{k}")) for k, v in record.headers
        ],
        source=source,
    )
    for name, count in sorted(found.items()):
        kind, where = name.split("\x00", 1)
        letter.detections.add(kind=kind, field=where, count=count, masked=True)
    if recipient is not None:
        original = sealed.OriginalRecord(
            key=record.key or b"",
            value=record.value,
            headers=[sealed.RecordHeader(key=k, value=v) for k, v in record.headers],
        )
        letter.sealed_original.CopyFrom(recipient.seal(original, source))
    letter.received_time.FromMilliseconds(record.timestamp_ms)
    letter.dead_lettered_time.FromNanoseconds(now_ns)
    return letter.SerializeToString()
