"""Personal data off the chain: the fields of a subject, encrypted at seal time.

Before a body is sealed, `SubjectProtection.protect` moves the personal fields out of
the entry — the documented `PERSONAL_FIELDS`, and any other field in which the
classifier found personal data — into a LogEntry of their own, encrypts it, and
returns the `ProtectedFields` the body carries instead. The chain commits to the
ciphertext, so destroying a subject's data key later erases those fields without
changing a hashed byte (crypto-shredding). `open` puts them back, while the keys live.

    blind key(tenant) = HMAC-SHA256(index key of the vault,
                                    "auditstream.v1.blind-index" || 0x00 || tenant)
    digest(f, value)  = HMAC-SHA256(blind key, f || 0x00 || UTF-8 value)[:16]
    subject ref       = hex(digest("subject", subject id))         names the vault key
    event key         = HMAC-SHA256("auditstream.v1.event-key", k1 || k2 || ...)
                        (the subjects' data keys in key-id order: any one erased, all gone)
    ciphertext        = AES-256-GCM(event key, nonce, fields,
                        "auditstream.v1.protected" || 0x00 || chain_id || 0x00
                        || u64be(seq) || event_id)

The subjects are the entry's `subject_ids`, or its actor when it names none. An entry
with neither is left as it is: there is nobody to erase it for.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.descriptor import Descriptor

from auditstream.core import wire
from auditstream.core.detectors import CREDENTIAL_KINDS
from auditstream.errors import AuditStreamError
from auditstream.privacy.vault import RECHECK_S, SubjectKeyError, SubjectVault
from auditstream.proto.v1.log_entry_pb2 import LogEntry
from auditstream.proto.v1.sealed_pb2 import SealedBody
from auditstream.proto.v1.views_pb2 import PersonalView

ALGORITHM: Final = "AES-256-GCM"
# What holds personal data in an audit event by its nature. A field the classifier finds
# personal data in (an e-mail address in `resource`, say) is protected as well.
PERSONAL_FIELDS: Final = (
    "actor_id",
    "subject_ids",
    "message",
    "payload",
    "data",
    "session_id",
    "content",
    "change.old_values",
    "change.new_values",
    "ai.tool_calls",
    "mcp.tool_arguments",
    "mcp.tool_result",
)
# What sealing, retention and the chain's own reading need in clear: never protected.
CLEAR_FIELDS: Final = frozenset(
    {
        "event_type",
        "outcome",
        "severity",
        "sensitivity",
        "policy_tags",
        "event_id",
        "event_time",
        "tenant_id",
        "producer_id",
        "producer_seq",
        "validation_issues",
        "payload_content_type",
    }
)
INDEXED_FIELDS: Final = ("actor_id", "resource", "session_id")  # blind indexes, if protected
_BLIND_DOMAIN = b"auditstream.v1.blind-index\x00"
_EVENT_KEY_DOMAIN = b"auditstream.v1.event-key"
_AAD_DOMAIN = b"auditstream.v1.protected\x00"
_WELL_KNOWN = "google.protobuf."


# (key id, key, SubjectKey field bytes, BlindIndex field bytes, when the vault said so)
_Known = tuple[str, bytes, bytes, bytes, float]


class ProtectionError(AuditStreamError):
    """Protected fields that cannot be opened: erased, unknown key, or tampered."""


class SubjectProtection:
    """Encrypts and opens the personal fields of entries, with keys from `vault` and
    blind indexes under tenant keys derived from the vault's index key."""

    def __init__(self, vault: SubjectVault, *, cache_size: int = 10_000) -> None:
        self._vault = vault
        self._index_key = vault.index_key()
        self._cache_size = cache_size
        self._blind_keys: dict[str, bytes] = {}
        # Bounded memos (cleared when full): what repeats from event to event.
        self._digests: dict[tuple[str, str, str], bytes] = {}  # (tenant, field, value)
        self._known: dict[tuple[str, str], _Known] = {}  # (tenant, subject) -> its key
        self._aeads: dict[tuple[str, ...], AESGCM] = {}  # key ids -> cipher
        self._names: dict[tuple[str, ...], bytes] = {}  # moved fields -> field 5 bytes
        self._indexes: dict[tuple[str, str, str], bytes] = {}  # -> BlindIndex field bytes
        self._pool: list[bytes] = []  # nonces
        # (tenant, actor) -> (cipher, envelope head, actor index, subject index, checked)
        self._actors: dict[tuple[str, str], tuple[AESGCM, bytes, bytes, bytes, float]] = {}
        self._aad_heads: dict[str, bytes] = {}  # chain -> associated data before the seq

    def __repr__(self) -> str:
        return f"SubjectProtection({self._vault!r})"

    @property
    def vault(self) -> SubjectVault:
        return self._vault

    # -- digests --------------------------------------------------------------------
    def digest(self, tenant_id: str, field: str, value: str) -> bytes:
        """The blind index of `value` in `field`, for tenant `tenant_id`."""
        memo = (tenant_id, field, value)
        found = self._digests.get(memo)
        if found is None:
            key = self._blind_keys.get(tenant_id)
            if key is None:
                key = self._blind_keys[tenant_id] = hmac.digest(
                    self._index_key, _BLIND_DOMAIN + tenant_id.encode(), "sha256"
                )
            found = hmac.digest(key, field.encode() + b"\x00" + value.encode(), "sha256")[:16]
            _bounded(self._digests, self._cache_size)[memo] = found
        return found

    def subject_ref(self, tenant_id: str, subject: str) -> str:
        """The vault reference of a subject (what names its key and its erasure)."""
        return self.digest(tenant_id, "subject", subject).hex()

    # -- sealing ---------------------------------------------------------------------
    def protect(
        self,
        entry: LogEntry,
        found: Iterable[tuple[str, str]],
        *,
        chain_id: str,
        seq: int,
        serialized: bytes | None = None,
    ) -> tuple[bytes, bytes]:
        """Take the personal fields out of `entry`: those of PERSONAL_FIELDS it has, and
        those `found` holds personal data in ((kind, field) detections). Returns the
        entry's bytes to seal and the ProtectedFields bytes that hold what was taken (b""
        when the entry names no subject or has no such field: then the entry is sealed as
        it is). `serialized`: the entry's bytes, when they are at hand. The fields are
        cleared from `entry` itself."""
        extra = (
            [
                path
                for kind, where in found
                if kind not in CREDENTIAL_KINDS
                and (path := protectable(where)) is not None
                and path not in _COVERED
                and path.partition(".")[0] not in _TOP
            ]
            if found
            else []
        )
        if extra:
            return self._protect_fields(entry, extra, chain_id, seq)
        return self._protect_views(entry, chain_id, seq, serialized)

    def _protect_views(
        self, entry: LogEntry, chain_id: str, seq: int, serialized: bytes | None
    ) -> tuple[bytes, bytes]:
        """`protect` of PERSONAL_FIELDS alone (the classifier added none): the entry's
        bytes are parsed as a PersonalView (views.proto), which keeps only the personal
        fields, and those are cleared from the entry. What depends only on the actor is
        remembered with its key. (The taken fields are encrypted: their bytes need not be
        canonical.)"""
        personal = PersonalView.FromString(
            entry.SerializeToString() if serialized is None else serialized
        )
        personal.DiscardUnknownFields()
        moved: list[str] = []
        nested: list[tuple[str, list[str]]] = []
        for field, value in personal.ListFields():  # in field number order
            name = field.name
            if name in _NESTED:
                subs = [sub.name for sub, _ in value.ListFields()]
                if not subs:  # the message is there, but none of its personal fields
                    personal.ClearField(name)
                    continue
                nested.append((name, subs))
                moved.extend(f"{name}.{sub}" for sub in subs)
            else:
                moved.append(name)
        if not moved or (moved[0] != "actor_id" and moved[-1] != "subject_ids"):
            return entry.SerializeToString(deterministic=True), b""  # nobody to erase it for
        for name in moved:
            if "." not in name:
                entry.ClearField(name)
        for name, subs in nested:
            outer = getattr(entry, name)
            for sub in subs:
                outer.ClearField(sub)
        clear, plain = entry.SerializeToString(deterministic=True), personal.SerializeToString()
        tenant = entry.tenant_id
        now = time.monotonic()
        session = (
            self._index(tenant, "session_id", personal.session_id) if "session_id" in moved else b""
        )
        if moved[-1] == "subject_ids":
            names = sorted(set(personal.subject_ids))
            by_actor = (
                self._index(tenant, "actor_id", personal.actor_id)
                if moved[0] == "actor_id"
                else b""
            )
            aead, head, tail = self._subjects(tenant, names, by_actor + session, now)
        else:
            actor = personal.actor_id
            memo = (tenant, actor)
            known = self._actors.get(memo)
            if known is None or now - known[4] >= RECHECK_S:
                key_id, key, subject, index, checked = self._subject(tenant, actor, now)
                known = (
                    self._aead((key_id,), [key]),
                    _ALGORITHM_FIELD + subject,
                    self._index(tenant, "actor_id", actor),
                    index,
                    checked,
                )
                _bounded(self._actors, self._cache_size)[memo] = known
            aead, head, actor_index, subject_index, _ = known
            tail = actor_index + session + subject_index
        aad = self._aad_heads.get(chain_id)
        if aad is None:
            aad = _bounded(self._aad_heads, self._cache_size)[chain_id] = _aad(chain_id, 0, "")[:-8]
        nonce = self._nonce()
        ciphertext = aead.encrypt(nonce, plain, aad + _U64.pack(seq) + entry.event_id.encode())
        return clear, b"".join(
            (
                head,
                _NONCE_TAG,
                nonce,
                _CIPHERTEXT_TAG,
                wire.varint(len(ciphertext)),
                ciphertext,
                self._names_field(moved),
                tail,
            )
        )

    def _subjects(
        self, tenant: str, names: list[str], indexes: bytes, now: float
    ) -> tuple[AESGCM, bytes, bytes]:
        """For an event of several subjects: its cipher (from their keys in key id order),
        the envelope's head, and its indexes (`indexes`, then the subjects' in digest
        order)."""
        known = sorted(self._subject(tenant, name, now) for name in names)
        key_ids = tuple(item[0] for item in known)
        aead = self._aead(key_ids, [item[1] for item in known])
        head = _ALGORITHM_FIELD + b"".join(item[2] for item in known)
        return aead, head, indexes + b"".join(sorted(item[3] for item in known))

    def _protect_fields(
        self, entry: LogEntry, extra: list[str], chain_id: str, seq: int
    ) -> tuple[bytes, bytes]:
        """`protect` of PERSONAL_FIELDS and the `extra` paths the classifier found
        personal data in, field by field."""
        subjects = entry.subject_ids
        if subjects:
            names: list[str] = sorted(set(subjects))
        elif entry.actor_id:
            names = [entry.actor_id]
        else:
            return entry.SerializeToString(deterministic=True), b""
        top = _with(extra)[0]
        tenant = entry.tenant_id
        indexes = b"".join(
            self._index(tenant, name, value)
            for name in INDEXED_FIELDS
            if name in top and (value := getattr(entry, name))
        )
        clear, personal, moved = _split_with(entry, extra)
        if not moved:
            return clear, b""
        aead, head, tail = self._subjects(tenant, names, indexes, time.monotonic())
        nonce = self._nonce()
        ciphertext = aead.encrypt(nonce, personal, _aad(chain_id, seq, entry.event_id))
        return clear, b"".join(
            (
                head,
                wire.length_delimited(3, nonce),
                wire.length_delimited(4, ciphertext),
                self._names_field(moved),
                tail,
            )
        )

    def _subject(self, tenant_id: str, name: str, now: float) -> _Known:
        """A subject's live key and its encoded SubjectKey and BlindIndex, remembered
        for RECHECK_S (after that the vault is asked again, and it looks on disk)."""
        memo = (tenant_id, name)
        found = self._known.get(memo)
        if found is None or now - found[4] >= RECHECK_S:
            ref = self.digest(tenant_id, "subject", name)
            key_id, key = self._vault.current(ref.hex())
            subject = wire.length_delimited(
                2, wire.optional_bytes(1, ref) + wire.optional_bytes(2, key_id.encode())
            )
            found = (key_id, key, subject, self._index(tenant_id, "subject", name), now)
            _bounded(self._known, self._cache_size)[memo] = found
        return found

    def _nonce(self) -> bytes:
        """12 random bytes (drawn from the OS 4096 nonces at a time)."""
        if not self._pool:
            pool = os.urandom(12 * 4096)
            self._pool = [pool[i : i + 12] for i in range(0, len(pool), 12)]
        return self._pool.pop()

    def _index(self, tenant_id: str, field: str, value: str) -> bytes:
        memo = (tenant_id, field, value)
        found = self._indexes.get(memo)
        if found is None:
            found = wire.length_delimited(
                6,
                wire.optional_bytes(1, field.encode())
                + wire.optional_bytes(2, self.digest(tenant_id, field, value)),
            )
            _bounded(self._indexes, self._cache_size)[memo] = found
        return found

    def _names_field(self, moved: list[str]) -> bytes:
        memo = tuple(moved)
        found = self._names.get(memo)
        if found is None:
            found = wire.repeated_bytes(5, (name.encode() for name in sorted(moved)))
            _bounded(self._names, self._cache_size)[memo] = found
        return found

    def _aead(self, key_ids: tuple[str, ...], keys: list[bytes]) -> AESGCM:
        aead = self._aeads.get(key_ids)
        if aead is None:
            aead = AESGCM(hmac.digest(_EVENT_KEY_DOMAIN, b"".join(keys), "sha256"))
            _bounded(self._aeads, self._cache_size)[key_ids] = aead
        return aead

    # -- reading ---------------------------------------------------------------------
    def open(self, body: SealedBody) -> LogEntry:
        """The body's entry with its protected fields back in place (a copy). Raises
        ProtectionError when a subject was erased or the ciphertext does not open."""
        entry = LogEntry()
        entry.CopyFrom(body.entry)
        if body.HasField("protected"):
            entry.MergeFromString(self._decrypt(body))
        return entry

    def open_fields(self, body: SealedBody) -> LogEntry:
        """Only the protected fields of a body, decrypted (an empty entry when it has
        none). ProtectionError as `open`."""
        if not body.HasField("protected"):
            return LogEntry()
        return LogEntry.FromString(self._decrypt(body))

    def _decrypt(self, body: SealedBody) -> bytes:
        fields = body.protected
        if fields.algorithm != ALGORITHM:
            raise ProtectionError(f"protected fields: unknown algorithm {fields.algorithm!r}")
        key_ids = tuple(subject.key_id for subject in fields.subjects)
        try:
            keys = [self._vault.key(key_id) for key_id in key_ids]
        except SubjectKeyError as exc:
            raise ProtectionError(str(exc)) from exc
        aad = _aad(body.chain_id, body.seq, body.entry.event_id)
        try:
            return self._aead(key_ids, keys).decrypt(fields.nonce, fields.ciphertext, aad)
        except InvalidTag as exc:
            raise ProtectionError(
                f"protected fields of {body.chain_id}#{body.seq} do not decrypt: altered, or "
                "moved from another entry"
            ) from exc


def _aad(chain_id: str, seq: int, event_id: str) -> bytes:
    return b"".join(
        (_AAD_DOMAIN, chain_id.encode(), b"\x00", struct.pack(">Q", seq), event_id.encode())
    )


@lru_cache(maxsize=1024)
def protectable(where: str) -> str | None:
    """The LogEntry field path that holds a classifier finding at `where` ("resource",
    "change.new_values", "ai.tool_calls.arguments" -> "ai.tool_calls"): the path down to
    the first field that is a value, a list or a well-known type. None for a field that
    stays in clear or a path that is not a field."""
    descriptor: Descriptor = LogEntry.DESCRIPTOR  # type: ignore[assignment]
    path: list[str] = []
    for name in where.split("."):
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return None
        path.append(name)
        message = field.message_type
        if field.is_repeated or message is None or message.full_name.startswith(_WELL_KNOWN):
            break
        descriptor = message
    return None if path[0] in CLEAR_FIELDS else ".".join(path)


def _split(
    entry: LogEntry, personal: LogEntry, top: frozenset[str], nested: Mapping[str, frozenset[str]]
) -> list[str]:
    """Leave in `entry` what stays clear and in `personal` (a copy of it) what is
    protected: the set fields named in `top`, and in a submessage named in `nested`
    the set subfields it names. Returns the paths moved."""
    moved: list[str] = []
    for field, _ in entry.ListFields():
        name = field.name
        if name in top:
            entry.ClearField(name)
            moved.append(name)
        elif name in nested:
            subs = nested[name]
            source, target = getattr(entry, name), getattr(personal, name)
            kept = False
            for sub, _ in source.ListFields():
                if sub.name in subs:
                    source.ClearField(sub.name)
                    moved.append(f"{name}.{sub.name}")
                    kept = True
                else:
                    target.ClearField(sub.name)
            if not kept:
                personal.ClearField(name)
        else:
            personal.ClearField(name)
    return moved


def _split_with(entry: LogEntry, extra: list[str]) -> tuple[bytes, bytes, list[str]]:
    """`_split_views` for PERSONAL_FIELDS and `extra` paths (classifier findings), field
    by field."""
    top, nested = _with(extra)
    personal = LogEntry()
    personal.CopyFrom(entry)
    moved = _split(entry, personal, top, nested)
    return (
        entry.SerializeToString(deterministic=True),
        personal.SerializeToString(deterministic=True),
        moved,
    )


def _paths(paths: Iterable[str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Field paths (at most two deep) as top-level names and subfields by message."""
    top = frozenset(path for path in paths if "." not in path)
    nested: dict[str, set[str]] = {}
    for path in paths:
        if "." in path:
            head, _, sub = path.partition(".")
            if head not in top:
                nested.setdefault(head, set()).add(sub.partition(".")[0])
    return top, {head: frozenset(subs) for head, subs in nested.items()}


_TOP, _NESTED = _paths(PERSONAL_FIELDS)
_COVERED = frozenset(PERSONAL_FIELDS)
_ALGORITHM_FIELD = wire.optional_bytes(1, ALGORITHM.encode())
_NONCE_TAG = b"\x1a\x0c"  # field 3, 12 bytes
_CIPHERTEXT_TAG = b"\x22"  # field 4, length-delimited
_U64 = struct.Struct(">Q")


@lru_cache(maxsize=256)
def _with_extra(extra: frozenset[str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    return _paths([*PERSONAL_FIELDS, *extra])


def _with(extra: list[str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    return _with_extra(frozenset(extra))


def _bounded(memo: dict[Any, Any], size: int) -> dict[Any, Any]:
    if len(memo) >= size:
        memo.clear()
    return memo
