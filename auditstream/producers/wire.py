"""LogEntry wire bytes straight from a producer call, without a LogEntry object (pure).

Building a LogEntry and serializing it was most of a logging call: the message
constructor, enum lookups, a validation pass over the object, `SerializeToString`. For
the common call — an event helper with scalar fields — `EntryEncoder` writes the bytes
directly: one piece per field, put in the slot of its field number, joined once. The
result is byte for byte what upb's deterministic serialization of the same LogEntry
gives (tests/unit/test_producer_wire.py compares the two on the workload and on crafted
events), so nothing downstream can tell the two paths apart.

The encoder only takes calls that are valid as they stand. Anything else — an unknown
or mistyped field, an enum value or payload that validation would refuse, an event over
the size limit — returns None, and the producer builds a LogEntry instead, which
repairs, marks or raises exactly as before.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, Final

from google.protobuf.descriptor import FieldDescriptor

from auditstream.core.wire import varint as unsigned_varint
from auditstream.producers.events import SCALAR_FIELDS, payload_bytes, struct_of
from auditstream.proto.v1 import log_entry_pb2 as pb

_FIELDS = pb.LogEntry.DESCRIPTOR.fields_by_name
_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))  # lengths of short strings
_SLOTS: Final = max(f.number for f in pb.LogEntry.DESCRIPTOR.fields) + 1
_DOUBLE = struct.Struct("<d").pack
_ZERO_DOUBLE: Final = _DOUBLE(0.0)
_JSON_TYPES: Final = ("", "application/json")
_RANGES: Final = {
    FieldDescriptor.TYPE_INT32: range(-(2**31), 2**31),
    FieldDescriptor.TYPE_INT64: range(-(2**63), 2**63),
}


def varint(value: int) -> bytes:
    """Protobuf varint of an int; a negative one is written as its 64-bit two's
    complement, as int32 and int64 fields hold it."""
    return unsigned_varint(value & 0xFFFF_FFFF_FFFF_FFFF if value < 0 else value)


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _string(tag: bytes, text: str) -> bytes:
    data = text.encode()
    size = len(data)
    return tag + (_ONE_BYTE[size] if size < 0x80 else varint(size)) + data


# What each keyword of a call is, and where it goes.
_STRING, _DOUBLE_FIELD, _INT, _ENUM, _PAYLOAD, _TAGS, _DATA, _TIME, _ID = range(9)


def _scalar_kind(name: str) -> int:
    field_type = _FIELDS[name].type
    if field_type == FieldDescriptor.TYPE_STRING:
        return _STRING
    if field_type == FieldDescriptor.TYPE_DOUBLE:
        return _DOUBLE_FIELD
    if field_type in _RANGES:
        return _INT
    raise TypeError(f"LogEntry.{name}: no direct encoding for field type {field_type}")


def _wire_type(kind: int) -> int:
    return {_DOUBLE_FIELD: 1, _INT: 0, _ENUM: 0}.get(kind, 2)


def _spec(name: str, kind: int) -> tuple[int, int, bytes]:
    number = _FIELDS[name].number
    return kind, number, _tag(number, _wire_type(kind))


_SPECS: Final = {
    **{name: _spec(name, _scalar_kind(name)) for name in SCALAR_FIELDS},
    **{name: _spec(name, _ENUM) for name in ("outcome", "severity", "sensitivity")},
    "payload": _spec("payload", _PAYLOAD),
    "policy_tags": _spec("policy_tags", _TAGS),
    "data": _spec("data", _DATA),
    "event_time_ns": _spec("event_time", _TIME),
    "event_id": _spec("event_id", _ID),
}
_ENUM_TYPES: Final = {
    "event_type": (pb.EventType, "EVENT_"),
    "outcome": (pb.Outcome, "OUTCOME_"),
    "severity": (pb.Severity, "SEVERITY_"),
    "sensitivity": (pb.Sensitivity, "SENSITIVITY_"),
}
# Per enum field: the encoded field of every value validation accepts (0 is not written;
# an unspecified event type is refused, so it has no entry), and every name
# `events.enum_value` turns into that value: full names, and short ones in upper case.
_ENUM_FIELDS: Final = {
    name: {
        number: _tag(_FIELDS[name].number, 0) + varint(number) if number else b""
        for number in enum.values()
        if number or name != "event_type"
    }
    for name, (enum, _) in _ENUM_TYPES.items()
}
_ENUM_NAMES: Final = {name: dict(enum.items()) for name, (enum, _) in _ENUM_TYPES.items()}
_EVENT_TYPES: Final = _ENUM_FIELDS["event_type"]
_DEFAULT_ENUMS: Final = (
    ("outcome", _ENUM_FIELDS["outcome"][pb.OUTCOME_SUCCESS]),
    ("severity", _ENUM_FIELDS["severity"][pb.SEVERITY_INFO]),
)
_NUMBER = {name: _FIELDS[name].number for name in _FIELDS}
# The slots (field numbers) every call writes, and their tags.
_EVENT_TYPE, _ACTOR, _PAYLOAD_SLOT, _EVENT_ID, _EVENT_TIME, _TRACE, _SPAN, _PRODUCER_SEQ = (
    _NUMBER[name]
    for name in (
        "event_type",
        "actor_id",
        "payload",
        "event_id",
        "event_time",
        "trace_id",
        "span_id",
        "producer_seq",
    )
)
_ACTOR_TAG: Final = _tag(_ACTOR, 2)
_PAYLOAD_TAG: Final = _tag(_PAYLOAD_SLOT, 2)
_EVENT_ID_TAG: Final = _tag(_EVENT_ID, 2)
_EVENT_TIME_TAG: Final = _tag(_EVENT_TIME, 2)
_TRACE_TAG: Final = _tag(_TRACE, 2)
_SPAN_TAG: Final = _tag(_SPAN, 2)
_PRODUCER_SEQ_TAG: Final = _tag(_PRODUCER_SEQ, 0)
_INT64: Final = _RANGES[FieldDescriptor.TYPE_INT64]
_SECONDS_TAG: Final = b"\x08"  # google.protobuf.Timestamp: seconds = 1, nanos = 2
_NANOS_TAG: Final = b"\x10"


def _enum_number(field: str, value: object) -> int | None:
    """What `events.enum_value` makes of `value` (a number, a full name, or a short
    name in any case), if validation accepts it as it is; None otherwise."""
    if type(value) is str:
        names = _ENUM_NAMES[field]
        number = names.get(value)
        if number is None:
            number = names.get(_ENUM_TYPES[field][1] + value.upper())
        value = number
    if type(value) is int and value in _ENUM_FIELDS[field]:
        return value
    return None


def _field(kind: int, name: str, tag: bytes, value: object) -> bytes | None:
    """An enum, tags, double, integer or data field as the LogEntry path writes it; None
    when that path would refuse or mark the value."""
    if kind == _ENUM:
        number = _enum_number(name, value)
        return None if number is None else _ENUM_FIELDS[name][number]
    if kind == _TAGS:
        if type(value) is not list and type(value) is not tuple:
            return None
        if any(type(text) is not str for text in value):
            return None
        return b"".join([_string(tag, text) for text in value])
    if value is None:
        return b""  # not set
    if kind == _DOUBLE_FIELD:
        if type(value) is not float and type(value) is not int:
            return None
        packed = _DOUBLE(value)
        return b"" if packed == _ZERO_DOUBLE else tag + packed  # upb compares bits: -0.0 is set
    if kind == _INT:
        if type(value) is not int or value not in _RANGES[_FIELDS[name].type]:
            return None
        return tag + varint(value) if value else b""
    if not value:
        return b""  # empty data is not set
    if not isinstance(value, Mapping):
        return None
    data = struct_of(value).SerializeToString(deterministic=True)
    return tag + varint(len(data)) + data


class EntryEncoder:
    """Encodes the events of one producer. What every event of it carries — tenant,
    environment, component, SDK name, the default outcome and severity — is encoded
    once, into a template of field slots."""

    def __init__(
        self,
        *,
        tenant_id: str,
        environment: str,
        component: str,
        sdk_name: str,
        max_event_bytes: int,
        producer_id: str = "",
    ) -> None:
        template = [b""] * _SLOTS
        for name, encoded in _DEFAULT_ENUMS:
            template[_NUMBER[name]] = encoded
        for name, text in (
            ("tenant_id", tenant_id),
            ("environment", environment),
            ("component", component),
            ("producer_id", producer_id),
        ):
            if text:
                template[_NUMBER[name]] = _string(_tag(_NUMBER[name], 2), text)
        info = pb.ProducerInfo(sdk_name=sdk_name).SerializeToString(deterministic=True)
        template[_NUMBER["producer"]] = _tag(_NUMBER["producer"], 2) + varint(len(info)) + info
        self._template = template
        self._max_bytes = max_event_bytes
        self._second: tuple[int | None, bytes] = (None, b"")

    def encode(
        self,
        event_type: object,
        actor_id: object,
        fields: Mapping[str, Any],
        *,
        event_id: object,
        now_ns: int,
        trace: tuple[str, str] | None,
        producer_seq: int = 0,
    ) -> bytes | None:
        """The LogEntry bytes of `log(event_type, actor_id, **fields)`, with `event_id`,
        `producer_seq` and, unless `fields` has `event_time_ns`, the time `now_ns`;
        `trace` (trace id, span id) replaces the span fields when given. None when this
        call needs the LogEntry path."""
        try:
            return self._encode(event_type, actor_id, fields, event_id, now_ns, trace, producer_seq)
        except Exception:
            # Text that is not UTF-8, a payload json cannot write, data Struct cannot
            # hold, a duration too large for a double: the LogEntry path tries again and
            # reports what is wrong, as it does for every event it builds.
            return None

    def _encode(
        self,
        event_type: object,
        actor_id: object,
        fields: Mapping[str, Any],
        event_id: object,
        time_ns: int,
        trace: tuple[str, str] | None,
        producer_seq: int,
    ) -> bytes | None:
        if type(event_type) is int:  # what the typed helpers pass
            event_number: int | None = event_type if event_type in _EVENT_TYPES else None
        else:
            event_number = _enum_number("event_type", event_type)
        if event_number is None or type(actor_id) is not str or not actor_id:
            return None
        if type(event_id) is not str or not event_id:
            return None
        slots = self._template.copy()
        slots[_EVENT_TYPE] = _EVENT_TYPES[event_number]
        slots[_ACTOR] = _string(_ACTOR_TAG, actor_id)
        payload: object = None
        for name, value in fields.items():
            spec = _SPECS.get(name)
            if spec is None:
                return None
            kind, number, tag = spec
            if kind == _STRING:  # most fields of most calls: first, and inline
                if type(value) is str:
                    if value:
                        slots[number] = _string(tag, value)
                elif value is not None:
                    return None
            elif kind == _PAYLOAD:
                payload = value
            elif kind == _TIME:
                if value is not None:
                    if type(value) is not int or value not in _INT64:
                        return None
                    time_ns = value
            elif kind != _ID:  # the event id is the caller's `event_id`
                encoded = _field(kind, name, tag, value)
                if encoded is None:
                    return None
                slots[number] = encoded
        if payload is not None:
            data = payload_bytes(payload)  # type: ignore[arg-type]
            if data:
                content_type = fields.get("payload_content_type") or ""
                if type(payload) in (bytes, str) and content_type in _JSON_TYPES:
                    json.loads(data)  # what validation checks; json's own output always loads
                slots[_PAYLOAD_SLOT] = _PAYLOAD_TAG + varint(len(data)) + data
        slots[_EVENT_ID] = _string(_EVENT_ID_TAG, event_id)
        slots[_EVENT_TIME] = self._event_time(time_ns)
        if trace is not None:
            trace_id, span_id = trace
            slots[_TRACE] = _string(_TRACE_TAG, trace_id) if trace_id else b""
            slots[_SPAN] = _string(_SPAN_TAG, span_id) if span_id else b""
        if producer_seq:
            slots[_PRODUCER_SEQ] = _PRODUCER_SEQ_TAG + varint(producer_seq)
        out = b"".join(slots)
        return out if len(out) <= self._max_bytes else None

    def _event_time(self, time_ns: int) -> bytes:
        seconds, nanos = divmod(time_ns, 1_000_000_000)
        cached_second, seconds_part = self._second
        if seconds != cached_second:
            seconds_part = _SECONDS_TAG + varint(seconds) if seconds else b""
            self._second = (seconds, seconds_part)  # the next call is most likely the same second
        if nanos:
            seconds_part += _NANOS_TAG + unsigned_varint(nanos)
        return _EVENT_TIME_TAG + _ONE_BYTE[len(seconds_part)] + seconds_part
