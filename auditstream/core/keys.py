"""Key objects: HMAC keys for entry MACs, Ed25519 note keys for checkpoints.

No function here reads files or the environment (see `auditstream.settings.keyfiles`), and no
repr, str or exception message contains key bytes.

Note keys use the string formats of the C2SP signed-note ecosystem
(golang.org/x/mod/sumdb/note), so other tools can read them:

    verifier key   <name>+<hash>+<base64(0x01 || public key)>
    signer key     PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>

where <hash> is 8 hex digits: the first 4 bytes of SHA-256(name || 0x0A || 0x01 ||
public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from auditstream.errors import KeyMaterialError, UnknownKeyError

MIN_HMAC_KEY_BYTES = 32
ALG_ED25519 = 0x01
KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_BLOCK = 64  # SHA-256 block size


class HmacKey:
    """An HMAC-SHA256 key with its id.

    The inner and outer pad states are computed once, which makes `mac()` about three
    times faster than `hmac.digest()` for the 32-byte messages MACed here.
    """

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, key_id: str, secret: bytes) -> None:
        if not KEY_ID_RE.match(key_id):
            raise KeyMaterialError(f"invalid HMAC key id {key_id!r}")
        if len(secret) < MIN_HMAC_KEY_BYTES:
            raise KeyMaterialError(
                f"HMAC key {key_id!r} has {len(secret)} bytes; at least "
                f"{MIN_HMAC_KEY_BYTES} are required"
            )
        block = secret if len(secret) <= _BLOCK else hashlib.sha256(secret).digest()
        block = block.ljust(_BLOCK, b"\0")
        self.key_id = key_id
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(self, data: bytes) -> bytes:
        """HMAC-SHA256 of `data` (RFC 2104), 32 bytes."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def check(self, data: bytes, mac: bytes) -> bool:
        """True when `mac` is this key's MAC of `data` (constant-time compare)."""
        return hmac.compare_digest(self.mac(data), mac)

    def __repr__(self) -> str:
        return f"HmacKey(key_id={self.key_id!r})"

    def __reduce__(self) -> str:
        raise TypeError("HmacKey cannot be pickled")


class Keyring:
    """HMAC keys by id, one of them active for new MACs; old ids stay verifiable."""

    def __init__(self, keys: Iterable[HmacKey], active_id: str) -> None:
        self._keys: dict[str, HmacKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise KeyMaterialError(f"duplicate HMAC key id {key.key_id!r}")
            self._keys[key.key_id] = key
        if active_id not in self._keys:
            raise KeyMaterialError(f"active HMAC key id {active_id!r} is not in the keyring")
        self.active = self._keys[active_id]

    def get(self, key_id: str) -> HmacKey | None:
        return self._keys.get(key_id)

    def require(self, key_id: str) -> HmacKey:
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKeyError(key_id)
        return key

    def __iter__(self) -> Iterator[HmacKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(ids={sorted(self._keys)!r}, active={self.active.key_id!r})"


def check_name(name: str) -> None:
    """Raise KeyMaterialError unless `name` is a valid note key name."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise KeyMaterialError(f"invalid note key name {name!r}: no '+' or spaces allowed")


def key_hash(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """The 4-byte key hash that identifies a note key of signature type `alg` in
    signature lines."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def b64decode(text: str, what: str) -> bytes:
    """Strict base64; KeyMaterialError naming `what` (never the text) otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyMaterialError(f"{what}: not valid base64") from exc


class NoteVerifier:
    """A checkpoint public key: verifies Ed25519 signatures on signed notes."""

    __slots__ = ("_public", "key_hash", "name", "public_bytes")

    def __init__(self, name: str, public_bytes: bytes) -> None:
        check_name(name)
        if len(public_bytes) != 32:
            raise KeyMaterialError(f"note key {name!r}: Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_bytes = public_bytes
        self.key_hash = key_hash(name, public_bytes)
        self._public = Ed25519PublicKey.from_public_bytes(public_bytes)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Read a verifier key string `<name>+<hash>+<base64>`."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyMaterialError("verifier key must have the form <name>+<hash>+<key>")
        name, hash_hex, encoded = parts
        raw = b64decode(encoded, f"verifier key {name!r}")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise KeyMaterialError(f"verifier key {name!r} is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_hash.hex() != hash_hex.lower():
            raise KeyMaterialError(f"verifier key {name!r}: hash does not match the key")
        return verifier

    def encode(self) -> str:
        """The verifier key string, safe to publish."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_bytes).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NoteVerifier)
            and other.name == self.name
            and other.public_bytes == self.public_bytes
        )

    def __hash__(self) -> int:
        return hash((self.name, self.public_bytes))

    def __repr__(self) -> str:
        return f"NoteVerifier({self.encode()!r})"


class NoteSigner:
    """A checkpoint signing key. Its private half never appears in repr or errors."""

    __slots__ = ("_private", "verifier")

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, public)
        self._private = private

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> NoteSigner:
        """Read a signer key string `PRIVATE+KEY+<name>+<hash>+<base64>`."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise KeyMaterialError("signer key must have the form PRIVATE+KEY+<name>+<hash>+<key>")
        name, hash_hex, encoded = parts[2], parts[3], parts[4]
        raw = b64decode(encoded, f"signer key {name!r}")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise KeyMaterialError(f"signer key {name!r} is not an Ed25519 key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_hash.hex() != hash_hex.lower():
            raise KeyMaterialError(f"signer key {name!r}: hash does not match the key")
        return signer

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def key_hash(self) -> bytes:
        return self.verifier.key_hash

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def encode_private(self) -> str:
        """The signer key string. Write it only to a protected key file."""
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_hash.hex()}+{encoded}"

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_hash={self.key_hash.hex()!r})"

    def __reduce__(self) -> str:
        raise TypeError("NoteSigner cannot be pickled")
