"""The producer's direct encoder against upb: the same bytes as
`SerializeToString(deterministic=True)` of the LogEntry the LogEntry path builds, on
the workload and on crafted events, and the LogEntry path for everything else."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditstream.producers import AuditProducer, ProducerConfig, events, validation
from auditstream.producers.producer import SDK_NAME
from auditstream.producers.spool import Spool
from auditstream.producers.wire import EntryEncoder, varint
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.workload import Workload, generate
from auditstream.settings.connection import KafkaConnection

NOW = 1_767_225_600_123_456_789
STRING_FIELDS = sorted(
    name
    for name in events.SCALAR_FIELDS - {"actor_id"}
    if pb.LogEntry.DESCRIPTOR.fields_by_name[name].type == FieldDescriptor.TYPE_STRING
)
EVENT_ID = "019b7a5e-2c4a-7d1e-9f00-1234567890ab"
PRODUCER_ID = "019b7a5e-0000-7000-8000-00000000cafe"
PRODUCER_SEQ = 300  # two varint bytes
LIMITS = validation.EventLimits()


def encoder(tenant: str = "acme", environment: str = "", component: str = "") -> EntryEncoder:
    return EntryEncoder(
        tenant_id=tenant,
        environment=environment,
        component=component,
        sdk_name=SDK_NAME,
        max_event_bytes=LIMITS.max_event_bytes,
        producer_id=PRODUCER_ID,
    )


def through_log_entry(
    event_type: object,
    actor_id: object,
    fields: dict[str, Any],
    *,
    trace: tuple[str, str] | None,
    tenant: str = "acme",
    environment: str = "",
    component: str = "",
    producer_id: str = PRODUCER_ID,
    producer_seq: int = PRODUCER_SEQ,
) -> bytes | None:
    """What the LogEntry path makes of a `log()` call: upb's deterministic bytes, or
    None when it would mark, repair or refuse the event."""
    try:
        entry = events.build_entry(
            event_type,  # type: ignore[arg-type]
            actor_id=actor_id,
            clock=lambda: NOW,
            **{**fields, "event_id": fields.get("event_id") or EVENT_ID},
        )
    except Exception:
        return None
    if trace is not None:
        entry.trace_id, entry.span_id = trace
    entry.tenant_id = entry.tenant_id or tenant
    entry.environment = entry.environment or environment
    entry.component = entry.component or component
    entry.producer.sdk_name = SDK_NAME
    if validation.check(entry, "acme", LIMITS, strict=False):
        return None
    entry.producer_id = producer_id
    entry.producer_seq = producer_seq
    return entry.SerializeToString(deterministic=True)


def direct(
    event_type: object,
    actor_id: object,
    fields: dict[str, Any],
    *,
    trace: tuple[str, str] | None,
    tenant: str = "acme",
    environment: str = "",
    component: str = "",
) -> bytes | None:
    return encoder(tenant, environment, component).encode(
        event_type,
        actor_id,
        fields,
        event_id=fields.get("event_id") or EVENT_ID,
        now_ns=NOW,
        trace=trace,
        producer_seq=PRODUCER_SEQ,
    )


def workload_call(entry: pb.LogEntry) -> tuple[int, str, dict[str, Any]]:
    """The `log()` arguments of a workload event (its AI and MCP blocks have helpers
    of their own and are left out)."""
    fields: dict[str, Any] = {
        name: getattr(entry, name)
        for name in events.SCALAR_FIELDS
        if name != "actor_id" and getattr(entry, name)
    }
    fields |= {
        "outcome": entry.outcome,
        "severity": entry.severity,
        "sensitivity": entry.sensitivity,
        "policy_tags": list(entry.policy_tags),
        "event_id": entry.event_id,
        "event_time_ns": entry.event_time.ToNanoseconds(),
    }
    if entry.payload:
        fields["payload"] = entry.payload
    return entry.event_type, entry.actor_id, fields


def test_the_workload_encodes_to_upbs_bytes() -> None:
    calls = [workload_call(e) for e in generate(random.Random(11), 3000, Workload(tenants=5))]
    for event_type, actor_id, fields in calls:
        expected = through_log_entry(event_type, actor_id, fields, trace=("", ""))
        assert expected is not None
        assert direct(event_type, actor_id, fields, trace=("", "")) == expected, fields


def test_defaults_names_and_every_scalar_kind() -> None:
    fields: dict[str, Any] = {
        "outcome": "FAILURE_DENIED",
        "severity": "warning",
        "sensitivity": pb.SENSITIVITY_RESTRICTED,
        "resource": "r/" + "é" * 200,  # a two-byte length
        "message": "🙂 emoji and \x00 nul",
        "payload": {"b": [1, 2.5, None, True], "a": "x"},
        "policy_tags": ("PCI", "", "SOC2"),
        "data": {"nested": {"list": [1, "two", {"three": 3.0}]}, "flag": False},
        "duration_ms": -0.0,
        "ocsf_class_uid": -(2**31),
        "request_size_bytes": 2**63 - 1,
        "response_size_bytes": -1,
        "environment": "",  # empty: the producer's default applies
        "component": "billing",
        "geo_region": "eu-west-1",
        "action": "user.update",
        "span_id": "ignored: the trace replaces it",
        "event_time_ns": -1,
        "actor_type": None,  # None: not set
    }
    for trace in (None, ("", ""), ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")):
        expected = through_log_entry(
            "LOGIN", "user-1", fields, trace=trace, environment="prod", component="api"
        )
        assert expected is not None
        got = direct("LOGIN", "user-1", fields, trace=trace, environment="prod", component="api")
        assert got == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"colour": "red"},  # unknown field: TypeError on the LogEntry path
        {"resource": 5},
        {"resource": b"bytes"},  # upb takes UTF-8 bytes; the LogEntry path decides
        {"message": "\ud800"},  # a lone surrogate is not UTF-8
        {"outcome": 77},
        {"outcome": None},
        {"severity": True},
        {"policy_tags": "PCI"},  # a string is not a list of tags
        {"policy_tags": ["ok", 5]},
        {"payload": b"{not json"},
        {"payload": "{not json"},
        {"payload": {("tuple",): "key"}},
        {"payload": "x" * 1_000_000},  # over the size limit: shrunk and marked
        {"data": [1, 2]},
        {"duration_ms": True},
        {"duration_ms": 10**400},
        {"ocsf_class_uid": 2**31},
        {"request_size_bytes": 1.5},
        {"event_time_ns": 1.5},
        {"event_id": 5},
    ],
)
def test_what_the_encoder_leaves_to_the_log_entry_path(fields: dict[str, Any]) -> None:
    assert direct(pb.EVENT_LOGIN, "user-1", fields, trace=None) is None


@pytest.mark.parametrize(
    ("event_type", "actor_id"),
    [(0, "u"), (99, "u"), ("NOT_A_TYPE", "u"), (True, "u"), (1, ""), (1, 5), (1, None)],
)
def test_bad_types_and_actors_are_left_to_the_log_entry_path(
    event_type: object, actor_id: object
) -> None:
    assert direct(event_type, actor_id, {}, trace=None) is None


_SPEC_NAMES = {
    *events.SCALAR_FIELDS,
    "outcome",
    "severity",
    "sensitivity",
    "payload",
    "policy_tags",
    "data",
    "event_time_ns",
    "event_id",
} - {"actor_id"}
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
_ints32 = st.integers(-(2**31), 2**31 - 1)
_ints64 = st.integers(-(2**63), 2**63 - 1)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def _enum(enum: Any, prefix: str) -> st.SearchStrategy[int | str]:
    """Every way `events.enum_value` accepts a value: numbers, full and short names."""
    names = list(enum.keys())
    return st.sampled_from(
        [*enum.values(), *names, *(n.removeprefix(prefix).lower() for n in names)]
    )


_valid_fields = st.fixed_dictionaries(
    {},
    optional={
        **{name: _text for name in STRING_FIELDS},
        "duration_ms": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1000, 1000),
        "ocsf_class_uid": _ints32,
        "ocsf_activity_id": _ints32,
        "request_size_bytes": _ints64,
        "response_size_bytes": _ints64,
        "outcome": _enum(pb.Outcome, "OUTCOME_"),
        "severity": _enum(pb.Severity, "SEVERITY_"),
        "sensitivity": _enum(pb.Sensitivity, "SENSITIVITY_"),
        "policy_tags": st.lists(_text, max_size=4),
        # Objects are written as JSON; text and bytes are taken as they are, so valid
        # ones are JSON already.
        "payload": _json.filter(lambda v: not isinstance(v, str))
        | st.builds(json.dumps, _json)
        | st.builds(lambda v: json.dumps(v).encode(), _json),
        "data": st.dictionaries(_text, _json, max_size=4),
        "event_time_ns": _ints64,
        "event_id": _text,
    },
)


@settings(max_examples=400, deadline=None)
@given(
    event_type=_enum(pb.EventType, "EVENT_").filter(
        lambda v: v not in (0, "EVENT_TYPE_UNSPECIFIED", "type_unspecified")
    ),
    actor_id=_text.filter(bool),
    fields=_valid_fields,
    span=st.sampled_from([("", ""), ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")]),
    defaults=st.tuples(_text, _text, _text),
)
@example(
    event_type=1,
    actor_id="u",
    fields={"payload": float("nan"), "duration_ms": math.nan},
    span=("", ""),
    defaults=("t", "", ""),
)
def test_crafted_valid_events_encode_to_upbs_bytes(
    event_type: object,
    actor_id: str,
    fields: dict[str, Any],
    span: tuple[str, str],
    defaults: tuple[str, str, str],
) -> None:
    """Every valid call takes the direct path, and gives upb's bytes."""
    tenant, environment, component = defaults
    trace = None if fields.get("trace_id") else span
    kwargs = {"tenant": tenant or "acme", "environment": environment, "component": component}
    expected = through_log_entry(event_type, actor_id, fields, trace=trace, **kwargs)
    assert expected is not None  # the strategy makes valid calls only
    assert direct(event_type, actor_id, fields, trace=trace, **kwargs) == expected


_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(fields=st.dictionaries(st.sampled_from(sorted(_SPEC_NAMES)), _anything))
@settings(max_examples=300, deadline=None)
def test_any_argument_either_encodes_as_upb_would_or_takes_the_log_entry_path(
    fields: dict[str, Any],
) -> None:
    got = direct(pb.EVENT_LOGIN, "user-1", fields, trace=("", ""))
    if got is not None:
        assert got == through_log_entry(pb.EVENT_LOGIN, "user-1", fields, trace=("", ""))


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**35, 2**63 - 1]
)
def test_varints_match_upbs(value: int) -> None:
    for signed in (value, -value - 1):
        if -(2**63) <= signed < 2**63:
            wire = pb.LogEntry(request_size_bytes=signed).SerializeToString()
            assert wire == (b"\x88\x02" + varint(signed) if signed else b"")


def test_a_producer_spools_the_bytes_of_the_log_entry_path(tmp_path: Path) -> None:
    """End to end: what `login()` spools is what the LogEntry path would have spooled."""
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"),
        spool_dir=tmp_path,
        tenant_id="acme",
        environment="prod",
        client_settings={"log_level": "0"},
        producer_id=PRODUCER_ID,
    )
    producer = AuditProducer(config, clock=lambda: NOW)
    event_id = producer.login("user-1", resource="auth/login", message="hello", payload={"a": 1})
    producer.close(timeout=0)
    record, stopping = Spool.open(tmp_path).pending(0)
    assert pb.LogEntry.FromString(stopping.value).event_type == pb.EVENT_PRODUCER_HEARTBEAT
    assert record.key == b"acme"
    fields = {"event_id": event_id, "resource": "auth/login", "message": "hello"}
    assert record.value == through_log_entry(
        pb.EVENT_LOGIN,
        "user-1",
        {**fields, "payload": {"a": 1}},
        trace=("", ""),
        environment="prod",
        producer_seq=1,
    )
