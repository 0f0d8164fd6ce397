"""Subject data keys: created on first use, wrapped at rest, destroyed on erasure.

Every data subject of a tenant has one live 256-bit data key, named by the subject's
reference (a keyed digest: the vault never sees a subject's name) and a random
generation: `<ref>.<generation>`. On disk a key exists only wrapped by a
key-encryption key (KEK) through a `KeyWrapper` — `LocalKek` here, a KMS elsewhere —
with its key id as associated data, so a wrapped key cannot be passed off as another.

    <directory>/keys/<ref>.json     {"key_id", "kek_id", "wrapped"}   the live key
    <directory>/erased/<ref>.json   {"key_ids": [...], "erased_at"}   what was destroyed
    <directory>/index.json          {"key_id": "index", ...}          the blind-index key

The blind-index key (made with the vault, wrapped alike) keys the digests that name
subjects and serve lookups; it never rotates, or every reference would change.

Every write goes to a temporary file that is fsynced, then renamed (or linked, so that
two workers creating a subject's first key agree on one) and the directory fsynced.
Destroying writes the tombstone first, then removes the key: a crash in between leaves
a key the tombstone already condemns, and the next `destroy` finishes. A subject that
appears again after its erasure gets a new generation; what the old one encrypted stays
unreadable. Unwrapped keys are cached, at most `cache_size` of them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditstream.core.keys import Keyring
from auditstream.errors import AuditStreamError

KEY_BYTES = 32
INDEX_KEY_ID = "index"
RECHECK_S = 1.0  # a cached key is looked for on disk again after this long
_KEK_CONTEXT = b"auditstream.v1.kek-aes-256-gcm"
_REF = re.compile(r"[0-9a-f]{32}")


class SubjectKeyError(AuditStreamError):
    """A subject key cannot be had: see the subclasses."""


class SubjectErasedError(SubjectKeyError):
    """The key was destroyed on request: what it encrypted is erased."""


class UnknownSubjectKeyError(SubjectKeyError):
    """The vault never held this key (another vault's data, or a damaged entry)."""


class KeyWrapper(Protocol):
    """Wraps data keys under a key-encryption key (a KMS implements this)."""

    @property
    def active_id(self) -> str:
        """The KEK new keys are wrapped with."""
        ...

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        """(kek id, wrapped key), bound to `context`."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The key; raises SubjectKeyError when it does not unwrap."""
        ...


class LocalKek:
    """KEKs from key files (a Keyring): AES-256-GCM with a random nonce per key. Rotate
    by making a new key active and calling `SubjectVault.rewrap`; keep the old one until
    then."""

    def __init__(self, keks: Keyring) -> None:
        self._keks = keks
        self._aead: dict[str, AESGCM] = {}

    def __repr__(self) -> str:
        return f"LocalKek(active={self.active_id!r})"

    @property
    def active_id(self) -> str:
        return self._keks.active.key_id

    def _kek(self, kek_id: str) -> AESGCM:
        aead = self._aead.get(kek_id)
        if aead is None:
            aead = self._aead[kek_id] = AESGCM(self._keks.require(kek_id).mac(_KEK_CONTEXT))
        return aead

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        kek_id = self.active_id
        return kek_id, nonce + self._kek(kek_id).encrypt(nonce, key, context)

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._kek(kek_id).decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag as exc:
            raise SubjectKeyError(f"a subject key does not unwrap under KEK {kek_id!r}") from exc


class SubjectVault:
    """The data keys of subjects, by reference (32 hex digits), in `directory`."""

    def __init__(
        self, directory: str | os.PathLike[str], wrapper: KeyWrapper, *, cache_size: int = 10_000
    ) -> None:
        self._dir = Path(directory)
        # The folders as strings: reading a key (first use, and the recheck every
        # RECHECK_S) goes through os, not pathlib.
        self._keys_dir = os.path.join(self._dir, "keys")
        self._erased_dir = os.path.join(self._dir, "erased")
        self._wrapper = wrapper
        self._cache_size = cache_size
        # ref -> (key id, key, key file identity, when last seen on disk)
        self._live: OrderedDict[str, tuple[str, bytes, tuple[int, int], float]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SubjectVault({str(self._dir)!r}, {self._wrapper!r})"

    @property
    def folder(self) -> Path:
        return self._dir

    # -- keys ---------------------------------------------------------------------
    def index_key(self) -> bytes:
        """The vault's blind-index key; made (durably) with the first call."""
        path = self._dir / "index.json"
        with self._lock:
            if not path.exists():
                key = secrets.token_bytes(KEY_BYTES)
                if write_atomically(path, self._wrapped(INDEX_KEY_ID, key), replace=False):
                    return key
            return self._unwrap(_read(path))

    def current(self, ref: str) -> tuple[str, bytes]:
        """(key id, key) of the subject's live key; made (durably) on first use. A key
        cached for longer than RECHECK_S is looked for on disk again (one stat), so a
        key that another process destroyed stops being used within that time."""
        now = time.monotonic()
        with self._lock:
            live = self._live.get(ref)
            if live is not None:
                key_id, key, file_id, checked = live
                if now - checked < RECHECK_S:
                    return key_id, key
                if _file_id(self._key_path(ref)) == file_id:
                    self._live[ref] = (key_id, key, file_id, now)
                    self._live.move_to_end(ref)
                    return key_id, key
                del self._live[ref]
            loaded = self._load(ref) or self._create(ref)
            self._remember(ref, loaded)
            return loaded

    def key(self, key_id: str) -> bytes:
        """The key with this id; SubjectErasedError if it was destroyed."""
        ref, _, _ = key_id.partition(".")
        with self._lock:
            live = self._live.get(ref)
            if live is not None and live[0] == key_id and time.monotonic() - live[3] < RECHECK_S:
                return live[1]
            loaded = self._load(ref)  # from disk: the key may have been destroyed since
            if loaded is not None and loaded[0] == key_id:
                self._remember(ref, loaded)
                return loaded[1]
        if key_id in self.erased_ids(ref):
            raise SubjectErasedError(f"subject key {key_id} was destroyed on request")
        raise UnknownSubjectKeyError(f"subject key {key_id} is not in this vault")

    def exists(self, ref: str) -> bool:
        """Whether the subject has a live key (it was seen and not erased since)."""
        return self._key_file(ref).exists()

    def destroy(self, ref: str) -> list[str]:
        """Erase the subject: its key is gone for good. Returns every key id of the
        subject ever destroyed (idempotent: a second call returns the same)."""
        _check(ref)
        with self._lock:
            path = self._key_file(ref)
            erased = self.erased_ids(ref)
            if path.exists():
                key_id = _read(path)["key_id"]
                if key_id not in erased:
                    erased.append(key_id)
                    write_atomically(
                        self._dir / "erased" / f"{ref}.json",
                        {"key_ids": erased, "erased_at": int(time.time())},
                    )
                path.unlink()
                _fsync_dir(path.parent)
            self._live.pop(ref, None)
            return erased

    def erased_ids(self, ref: str) -> list[str]:
        path = os.path.join(self._erased_dir, f"{_check(ref)}.json")
        try:
            ids = _read(path).get("key_ids")
        except FileNotFoundError:
            return []
        if not isinstance(ids, list):
            raise SubjectKeyError(f"vault file {path} is damaged (no key_ids)")
        return ids

    def rewrap(self) -> int:
        """Wrap every live key again under the wrapper's active KEK (after a KEK
        rotation); returns how many were rewrapped."""
        count = 0
        with self._lock:
            for path in [self._dir / "index.json", *sorted((self._dir / "keys").glob("*.json"))]:
                if not path.exists():
                    continue
                doc = _read(path)
                if doc["kek_id"] == self._wrapper.active_id:
                    continue
                key = self._unwrap(doc)
                write_atomically(path, self._wrapped(doc["key_id"], key))
                count += 1
        return count

    # -- files ----------------------------------------------------------------------
    def _key_file(self, ref: str) -> Path:
        return Path(self._key_path(ref))

    def _key_path(self, ref: str) -> str:
        return os.path.join(self._keys_dir, f"{_check(ref)}.json")

    def _load(self, ref: str) -> tuple[str, bytes] | None:
        path = self._key_path(ref)
        try:
            doc = _read(path)
        except FileNotFoundError:
            return None
        if doc["key_id"] in self.erased_ids(ref):  # a destroy that did not finish
            return None
        return doc["key_id"], self._unwrap(doc)

    def _unwrap(self, doc: dict[str, str]) -> bytes:
        wrapped = base64.b64decode(doc["wrapped"])
        return self._wrapper.unwrap(doc["kek_id"], wrapped, doc["key_id"].encode())

    def _wrapped(self, key_id: str, key: bytes) -> dict[str, str]:
        kek_id, wrapped = self._wrapper.wrap(key, key_id.encode())
        return {"key_id": key_id, "kek_id": kek_id, "wrapped": base64.b64encode(wrapped).decode()}

    def _create(self, ref: str) -> tuple[str, bytes]:
        path = self._key_file(ref)
        try:
            doc = _read(path)
        except FileNotFoundError:
            doc = None
        if doc is not None:
            if doc["key_id"] not in self.erased_ids(ref):  # another process made it meanwhile
                return doc["key_id"], self._unwrap(doc)
            path.unlink(missing_ok=True)  # condemned by an unfinished destroy: finish it
        key_id = f"{ref}.{secrets.token_hex(4)}"
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        if write_atomically(path, self._wrapped(key_id, key), replace=False):
            return key_id, key
        loaded = self._load(ref)  # another process made it first: theirs it is
        if loaded is None:
            raise SubjectKeyError(f"subject key for {ref} vanished while being made")
        return loaded

    def _remember(self, ref: str, live: tuple[str, bytes]) -> None:
        self._live[ref] = (*live, _file_id(self._key_path(ref)), time.monotonic())
        self._live.move_to_end(ref)
        while len(self._live) > self._cache_size:
            self._live.popitem(last=False)


def _read(path: str | Path) -> dict[str, Any]:
    """A vault file's fields; SubjectKeyError naming the file when it is damaged."""
    try:
        with open(path, "rb") as handle:
            doc = json.loads(handle.read())
        if not isinstance(doc, dict) or not isinstance(doc.get("key_id", ""), str):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise SubjectKeyError(
            f"vault file {path} is damaged (not the JSON the vault writes)"
        ) from None
    return doc


def _file_id(path: str) -> tuple[int, int]:
    """What tells a key file from its replacement: inode and change time (0, 0: none)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (0, 0)
    return (stat.st_ino, stat.st_ctime_ns)


def _check(ref: str) -> str:
    if not _REF.fullmatch(ref):
        raise SubjectKeyError("a subject reference is 32 lowercase hex digits")
    return ref


def write_atomically(path: Path, doc: Mapping[str, object], *, replace: bool = True) -> bool:
    """Write `doc` as JSON at `path` durably; with replace=False only if there is no file
    there yet (False then)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
