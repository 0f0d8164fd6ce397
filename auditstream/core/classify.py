"""Classification of an event before it is sealed (pure).

Scans the free-text places of a LogEntry (message, payload, structured data, change
records, tool arguments and results) with `detectors`, then:
- masks secrets and card numbers in place, so they are never stored;
- raises sensitivity to what was found (never lowers it);
- adds policy tags: PCI for card data, HIPAA for health markers, GDPR for personal
  data, SOC2 for authentication, access and configuration events.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from auditstream.core import detectors
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import Detection

MASKED_BY_DEFAULT = frozenset(detectors.CREDENTIAL_KINDS | {detectors.CARD})

# Kind -> (minimum sensitivity, policy tag or "").
_KIND_EFFECTS: dict[str, tuple[int, str]] = {
    **{kind: (pb.SENSITIVITY_HIGHLY_RESTRICTED, "") for kind in detectors.CREDENTIAL_KINDS},
    detectors.CARD: (pb.SENSITIVITY_HIGHLY_RESTRICTED, "PCI"),
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
_HEALTH_WORDS = ("diagnosis", "patient", "prescription", "medical record", "icd-10", "phi")


@dataclass
class Outcome:
    """What classification found and changed; `changed` means the entry was modified."""

    detections: Counter[tuple[str, str]] = field(default_factory=Counter)
    masked: set[tuple[str, str]] = field(default_factory=set)
    added_tags: list[str] = field(default_factory=list)
    declared_sensitivity: int = 0
    changed: bool = False

    def to_proto(self) -> list[Detection]:
        return [
            Detection(kind=kind, field=where, count=count, masked=(kind, where) in self.masked)
            for (kind, where), count in sorted(self.detections.items())
        ]


class Classifier:
    """Applies detectors and policy tagging to LogEntry messages, in place."""

    def __init__(self, mask_kinds: Iterable[str] = MASKED_BY_DEFAULT) -> None:
        self.mask_kinds = frozenset(mask_kinds)

    def _text(self, text: str, where: str, outcome: Outcome) -> str | None:
        """Scan `text`; return its masked form if anything was masked, else None."""
        parts: list[str] = []
        last = 0
        for match in detectors.scan(text):
            outcome.detections[(match.kind, where)] += 1
            if match.kind in self.mask_kinds:
                outcome.masked.add((match.kind, where))
                parts.append(text[last : match.start])
                parts.append(detectors.mask(match))
                last = match.end
        if not parts:
            return None
        parts.append(text[last:])
        return "".join(parts)

    def _json(self, value: object, where: str, outcome: Outcome) -> tuple[object, bool]:
        """Walk a JSON value; masked strings are replaced. Keys are scanned too."""
        if isinstance(value, str):
            masked = self._text(value, where, outcome)
            return (value, False) if masked is None else (masked, True)
        if isinstance(value, list):
            changed = False
            out = []
            for item in value:
                new, did = self._json(item, where, outcome)
                out.append(new)
                changed |= did
            return out, changed
        if isinstance(value, dict):
            changed = False
            result = {}
            for key, item in value.items():
                new_key, key_changed = self._json(key, where, outcome)
                new, did = self._json(item, where, outcome)
                result[str(new_key)] = new
                changed |= did or key_changed
            return result, changed
        return value, False

    def _struct(self, struct: struct_pb2.Struct, where: str, outcome: Outcome) -> bool:
        if not struct.fields:
            return False
        plain = json_of_struct(struct)
        new, changed = self._json(plain, where, outcome)
        if changed:
            struct.Clear()
            struct.update(new)  # type: ignore[arg-type]
        return changed

    def classify(self, entry: pb.LogEntry, payload_json: object = None) -> Outcome:
        """Scan, mask, tag and raise sensitivity of `entry` in place.

        `payload_json` is the payload already parsed by validation, if it was JSON.
        """
        outcome = Outcome(declared_sensitivity=entry.sensitivity)
        changed = False
        masked = self._text(entry.message, "message", outcome)
        if masked is not None:
            entry.message = masked
            changed = True
        if entry.payload:
            changed |= self._payload(entry, payload_json, outcome)
        if entry.HasField("data"):
            changed |= self._struct(entry.data, "data", outcome)
        if entry.HasField("change"):
            changed |= self._struct(entry.change.old_values, "change.old_values", outcome)
            changed |= self._struct(entry.change.new_values, "change.new_values", outcome)
        calls: list[pb.ToolCall] = []
        if entry.HasField("ai"):
            calls.extend(entry.ai.tool_calls)
        if entry.HasField("mcp"):
            changed |= self._struct(entry.mcp.tool_arguments, "mcp.tool_arguments", outcome)
            changed |= self._struct(entry.mcp.tool_result, "mcp.tool_result", outcome)
            calls.extend(entry.mcp.sampling.tool_calls)
        for call in calls:
            for name in ("arguments", "result"):
                masked = self._text(getattr(call, name), f"tool_calls.{name}", outcome)
                if masked is not None:
                    setattr(call, name, masked)
                    changed = True
        changed |= self._apply_effects(entry, outcome)
        outcome.changed = changed
        return outcome

    def _payload(self, entry: pb.LogEntry, document: object, outcome: Outcome) -> bool:
        try:
            text = entry.payload.decode("utf-8")
        except UnicodeDecodeError:
            return False  # binary payloads (e.g. CBOR) are stored as sent
        is_json = entry.payload_content_type in ("", "application/json")
        # Every string of a JSON document appears verbatim in its text unless escaped,
        # so a text without findings and without escapes needs no walk.
        if "\\" not in text and not any(True for _ in detectors.scan(text)):
            return False
        if is_json:
            if document is None:
                try:
                    document = json.loads(text)
                except ValueError:
                    document = None
            if document is not None:
                new, changed = self._json(document, "payload", outcome)
                if changed:
                    entry.payload = json.dumps(new, separators=(",", ":")).encode()
                return changed
        masked = self._text(text, "payload", outcome)
        if masked is None:
            return False
        entry.payload = masked.encode()
        return True

    def _apply_effects(self, entry: pb.LogEntry, outcome: Outcome) -> bool:
        level: int = entry.sensitivity
        wanted: list[str] = []
        for kind, _ in outcome.detections:
            minimum, tag = _KIND_EFFECTS[kind]
            level = max(level, minimum)
            if tag:
                wanted.append(tag)
        if entry.event_type in _SOC2_EVENTS:
            wanted.append("SOC2")
        lowered = entry.message.lower()
        if any(word in lowered for word in _HEALTH_WORDS):
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


def json_of_struct(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as plain Python values."""
    return MessageToDict(struct)
