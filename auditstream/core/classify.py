"""Classification of an event before it is sealed (pure).

Every text of a LogEntry is scanned with `detectors`: every string field at any depth
(message, resource, action, metadata, change records, AI and MCP blocks and their tool
calls, ...), the payload (JSON keys and values at any depth, or text), and Struct data
(keys and values). Only the identity fields the pipeline keys on — `event_id` and
`tenant_id` — are left as they are. Then:
- credentials and card numbers are masked in place, and so is every value under a key
  that names a secret (`secret_names`), whatever it looks like;
- sensitivity is raised to what was found (never lowered);
- policy tags are added: PCI for card data, HIPAA for health markers, GDPR for personal
  data, SOC2 for authentication, access and configuration events.

Cost: the serialized entry holds every text of it verbatim, so one prefilter pass over
those bytes (`Scanner.candidates`) tells whether any rule can match anywhere; an event
where none can is not walked at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from auditstream.core import detectors
from auditstream.core.deadletter import DeadLetterRecipient, build_dead_letter
from auditstream.core.detectors import Match, Scanner, mask_bytes
from auditstream.core.rules import CARD
from auditstream.core.secret_names import is_secret_name
from auditstream.core.validate import RawRecord, Rejected
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import Detection

MASKED_BY_DEFAULT = detectors.MASKED_KINDS
SECRET_FIELD = "secret_field"  # noqa: S105 - a kind: recorded for a value masked by its key
_SECRET_FIELD_MASK = f"[REDACTED:{SECRET_FIELD}]"
# The pipeline keys on these; masking them would break deduplication and chains.
_IDENTITY_FIELDS = frozenset({"event_id", "tenant_id"})
# A producer id in UUID form is an id too (decision 0020); any other form is scanned.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_CREDENTIAL = (pb.SENSITIVITY_HIGHLY_RESTRICTED, "")
# Kind -> (minimum sensitivity, policy tag or ""); credentials: highly restricted.
_KIND_EFFECTS: dict[str, tuple[int, str]] = {
    CARD: (pb.SENSITIVITY_HIGHLY_RESTRICTED, "PCI"),
    "iban": (pb.SENSITIVITY_RESTRICTED, "GDPR"),
    "us_ssn": (pb.SENSITIVITY_HIGHLY_RESTRICTED, "GDPR"),
    "uk_nino": (pb.SENSITIVITY_HIGHLY_RESTRICTED, "GDPR"),
    "email": (pb.SENSITIVITY_CONFIDENTIAL, "GDPR"),
    "phone": (pb.SENSITIVITY_CONFIDENTIAL, "GDPR"),
    "ipv4": (pb.SENSITIVITY_INTERNAL, "GDPR"),
    "ipv6": (pb.SENSITIVITY_INTERNAL, "GDPR"),
    "medical_record": (pb.SENSITIVITY_HIGHLY_RESTRICTED, "HIPAA"),
}
_SOC2_EVENTS = frozenset(
    {
        pb.EVENT_LOGIN,
        pb.EVENT_LOGOUT,
        pb.EVENT_PRIVILEGE_USE,
        pb.EVENT_CONFIG_CHANGE,
        pb.EVENT_POLICY_CHANGE,
        pb.EVENT_USER_MANAGEMENT,
        pb.EVENT_RESOURCE_ACCESS,
        pb.EVENT_FILE_ACCESS,
        pb.EVENT_DATA_EXPORT,
    }
)
_STRUCT = struct_pb2.Struct.DESCRIPTOR.full_name
_TIMESTAMP = "google.protobuf.Timestamp"


@dataclass(slots=True)
class Outcome:
    """What classification found and changed; `changed` means the entry was modified.
    (Slotted, with plain containers: one is made per event.)"""

    detections: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, field): n
    masked: set[tuple[str, str]] = field(default_factory=set)
    added_tags: list[str] = field(default_factory=list)
    declared_sensitivity: int = 0
    changed: bool = False

    def found(self, kind: str, where: str, masked: bool) -> None:
        """Count one detection of `kind` in field `where`."""
        key = (kind, where)
        self.detections[key] = self.detections.get(key, 0) + 1
        if masked:
            self.masked.add(key)

    def to_proto(self) -> list[Detection]:
        return [
            Detection(kind=kind, field=where, count=count, masked=(kind, where) in self.masked)
            for (kind, where), count in sorted(self.detections.items())
        ]


class Classifier:
    """Applies detectors and policy tagging to LogEntry messages, in place, and builds
    dead letters with what it finds masked (`dead_letter`)."""

    def __init__(
        self,
        mask_kinds: Iterable[str] = MASKED_BY_DEFAULT,
        *,
        scanner: Scanner | None = None,
        dead_letters: DeadLetterRecipient | None = None,
    ) -> None:
        self.mask_kinds = frozenset(mask_kinds)
        self.scanner = scanner or detectors.default_scanner()
        self.dead_letters = dead_letters
        self._named = self.scanner.markers[detectors.NAMED_KEY]
        self._health = self.scanner.markers[detectors.HEALTH_WORD]
        self._backslash = self.scanner.markers[detectors.BACKSLASH]

    # -- one event -------------------------------------------------------------------
    def classify(
        self, entry: pb.LogEntry, payload_json: object = None, serialized: bytes | None = None
    ) -> Outcome:
        """Scan, mask, tag and raise sensitivity of `entry` in place.

        `payload_json` is the payload already parsed by validation, if it was JSON.
        `serialized` are bytes holding every text of `entry` — the record it was parsed
        from, when validation left it unchanged — so it need not be serialized again
        for the prefilter (more bytes than the entry's only add candidate rules).
        """
        outcome = Outcome(declared_sensitivity=entry.sensitivity)
        data = entry.SerializeToString() if serialized is None else serialized
        event_id = entry.event_id
        if event_id:  # an id, never scanned; its digit groups look like card numbers
            data = data.replace(event_id.encode(), b"", 1)
        producer_id = entry.producer_id
        if producer_id and _UUID.fullmatch(producer_id):
            data = data.replace(producer_id.encode(), b"", 1)
        scanner = self.scanner
        found = scanner.candidates(data)
        changed = False
        if found & self._backslash:
            # JSON escapes (`\u0041KIA`) hide secrets from the bytes: every text of
            # such an event is looked at on its own.
            changed = self._message(entry, "", outcome, payload_json, None)
        elif found & scanner.all_rules or (found & self._named and _has_struct(entry)):
            changed = self._message(entry, "", outcome, payload_json, found)
        changed |= self._apply_effects(entry, outcome, found & self._health)
        outcome.changed = changed
        return outcome

    def dead_letter(self, record: RawRecord, rejected: Rejected, now_ns: int) -> bytes:
        """The DeadLetter bytes for a refused record: masked, the original encrypted
        (`auditstream.core.deadletter`)."""
        return build_dead_letter(record, rejected, now_ns, self.scanner, self.dead_letters)

    # -- walking ---------------------------------------------------------------------
    def _text(self, text: str, where: str, outcome: Outcome, candidates: int | None) -> str | None:
        """Scan `text`; its masked form if anything was masked, else None."""
        if not text:
            return None
        matches = self.scanner.scan(text, candidates)
        if not matches:
            return None
        masked: list[Match] = []
        for match in matches:
            hide = match.kind in self.mask_kinds
            outcome.found(match.kind, where, hide)
            if hide:
                masked.append(match)
        if not masked:
            return None
        return detectors.redact(text, [_as_masked(m) for m in masked])

    def _message(
        self, message: Message, path: str, outcome: Outcome, payload: object, found: int | None
    ) -> bool:
        """Walk every field of `message`; `found` are the candidate rules of the event
        (None: let each text find its own)."""
        changed = False
        for descriptor, value in message.ListFields():
            name = descriptor.name
            where = f"{path}.{name}" if path else name
            if not path and (
                name in _IDENTITY_FIELDS or (name == "producer_id" and _UUID.fullmatch(value))
            ):
                continue
            repeated = descriptor.is_repeated
            if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                assert descriptor.message_type is not None
                kind = descriptor.message_type.full_name
                if kind == _TIMESTAMP:
                    continue
                for item in value if repeated else (value,):
                    if kind == _STRUCT:
                        changed |= self._struct(item, where, outcome, found)
                    else:
                        changed |= self._message(item, where, outcome, None, found)
            elif descriptor.type == FieldDescriptor.TYPE_STRING:
                if repeated:
                    for index, item in enumerate(value):
                        new = self._text(item, where, outcome, found)
                        if new is not None:
                            value[index] = new
                            changed = True
                else:
                    new = self._text(value, where, outcome, found)
                    if new is not None:
                        setattr(message, name, new)
                        changed = True
            elif where == "payload":
                assert isinstance(message, pb.LogEntry)
                changed |= self._payload(message, payload, outcome, found)
        return changed

    def _json(
        self, value: object, where: str, outcome: Outcome, found: int | None
    ) -> tuple[object, bool]:
        """Walk a JSON value; masked strings are replaced. Keys are scanned too, and
        every value under a key that names a secret is masked."""
        if isinstance(value, str):
            masked = self._text(value, where, outcome, found)
            return (value, False) if masked is None else (masked, True)
        if isinstance(value, list):
            changed = False
            out = []
            for item in value:
                new, did = self._json(item, where, outcome, found)
                out.append(new)
                changed |= did
            return out, changed
        if isinstance(value, dict):
            changed = False
            result: dict[str, object] = {}
            for key, item in value.items():
                new_key, key_changed = self._json(key, where, outcome, found)
                if is_secret_name(key):
                    new, did = self._secret_value(item, where, outcome)
                else:
                    new, did = self._json(item, where, outcome, found)
                result[str(new_key)] = new
                changed |= did or key_changed
            return result, changed
        return value, False

    def _secret_value(self, value: object, where: str, outcome: Outcome) -> tuple[object, bool]:
        """Mask every string and number under a secret-named key (structure stays)."""
        if isinstance(value, list):
            pairs = [self._secret_value(item, where, outcome) for item in value]
            return [new for new, _ in pairs], any(did for _, did in pairs)
        if isinstance(value, dict):
            pairs_of = {k: self._secret_value(v, where, outcome) for k, v in value.items()}
            return {k: new for k, (new, _) in pairs_of.items()}, any(
                did for _, did in pairs_of.values()
            )
        if isinstance(value, bool) or value is None or value == "":
            return value, False  # nothing to hide, and telling "empty" apart helps audits
        if isinstance(value, str | int | float):
            outcome.found(SECRET_FIELD, where, True)
            return _SECRET_FIELD_MASK, True
        return value, False

    def _struct(
        self, struct: struct_pb2.Struct, where: str, outcome: Outcome, found: int | None
    ) -> bool:
        if not struct.fields:
            return False
        new, changed = self._json(json_of_struct(struct), where, outcome, found)
        if changed:
            struct.Clear()
            struct.update(new)  # type: ignore[arg-type]
        return changed

    def _payload(
        self, entry: pb.LogEntry, document: object, outcome: Outcome, found: int | None
    ) -> bool:
        raw = entry.payload
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._binary_payload(entry, outcome)
        if entry.payload_content_type in ("", "application/json"):
            if document is None:
                try:
                    document = json.loads(text)
                except ValueError:
                    document = None
            if document is not None:
                new, changed = self._json(document, "payload", outcome, found)
                if changed:
                    entry.payload = json.dumps(
                        new, separators=(",", ":"), ensure_ascii=False
                    ).encode()
                return changed
        masked = self._text(text, "payload", outcome, found)
        if masked is None:
            return False
        entry.payload = masked.encode()
        return True

    def _binary_payload(self, entry: pb.LogEntry, outcome: Outcome) -> bool:
        """Best effort on bytes that are not UTF-8 (CBOR, say): what the scanner finds
        in their ASCII text is overwritten with `*`, byte for byte, so framing holds."""
        masked = mask_bytes(entry.payload, self.scanner, self.mask_kinds)
        for match in masked.matches:
            outcome.found(match.kind, "payload", match.kind in self.mask_kinds)
        if masked.data == entry.payload:
            return False
        entry.payload = masked.data
        return True

    def _apply_effects(self, entry: pb.LogEntry, outcome: Outcome, health: int) -> bool:
        if not outcome.detections and not health:  # the common case, kept cheap
            if entry.event_type in _SOC2_EVENTS and "SOC2" not in entry.policy_tags:
                entry.policy_tags.append("SOC2")
                outcome.added_tags.append("SOC2")
                return True
            return False
        level: int = entry.sensitivity
        wanted: list[str] = []
        for kind, _ in outcome.detections:
            minimum, tag = _KIND_EFFECTS.get(kind, _CREDENTIAL)
            level = max(level, minimum)
            if tag:
                wanted.append(tag)
        if entry.event_type in _SOC2_EVENTS:
            wanted.append("SOC2")
        if health and entry.message:
            lowered = entry.message.lower()
            if any(word in lowered for word in detectors.HEALTH_WORDS):
                wanted.append("HIPAA")
        changed = level != entry.sensitivity
        if changed:
            entry.sensitivity = level  # type: ignore[assignment]
        if not wanted:
            return changed
        tags = list(entry.policy_tags)
        for tag in dict.fromkeys(wanted):
            if tag not in tags:
                entry.policy_tags.append(tag)
                tags.append(tag)
                outcome.added_tags.append(tag)
                changed = True
        return changed


def _has_struct(entry: pb.LogEntry) -> bool:
    return entry.HasField("data") or entry.HasField("change") or entry.HasField("mcp")


def _as_masked(match: Match) -> Match:
    return match if match.masked else Match(match.kind, match.start, match.end, match.text, True)


def json_of_struct(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as plain Python values."""
    return MessageToDict(struct)
