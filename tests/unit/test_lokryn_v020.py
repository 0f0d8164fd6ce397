"""lokryn 0.2.0 LogRequests map into LogEntry without loss (real package + properties)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey
from auditstream.core.lokryn import (
    EVENT_TYPE_FROM_V020,
    OUTCOME_FROM_V020,
    SENSITIVITY_FROM_V020,
    SEVERITY_FROM_V020,
    from_lokryn_v020,
)
from auditstream.errors import AdapterError
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb
from tests.support.lokryn import Lokryn
from tests.support.lokryn_mapping import check_request, content_texts

POLICY = DigestPolicy(HmacKey("salt-1", bytes(range(40))))
TENANT = "acme"
COMPAT_MESSAGES = {
    "LogRequest": v020.LogRequest,
    "Metadata": v020.Metadata,
    "GenAIPayload": v020.GenAIPayload,
    "Message": v020.Message,
    "ToolCall": v020.ToolCall,
    "MCPPayload": v020.MCPPayload,
}
ENUM_TABLES = {
    "EventType": EVENT_TYPE_FROM_V020,
    "Outcome": OUTCOME_FROM_V020,
    "Severity": SEVERITY_FROM_V020,
    "Sensitivity": SENSITIVITY_FROM_V020,
}


def test_compat_schema_is_wire_identical_to_the_real_package(lokryn_v020: Lokryn) -> None:
    theirs = lokryn_v020.run("describe")
    assert theirs["package"] == "lokryn.compliance.v1"
    assert set(theirs["messages"]) == set(COMPAT_MESSAGES)
    for message, fields in theirs["messages"].items():
        ours = COMPAT_MESSAGES[message].DESCRIPTOR
        assert set(ours.fields_by_name) == set(fields), message
        for name, spec in fields.items():
            field = ours.fields_by_name[name]
            their_type = spec["type"]
            if their_type == field.TYPE_ENUM:
                their_type = field.TYPE_INT32  # same varint on the wire
            repeated = spec["label"] == 3  # LABEL_REPEATED
            assert (field.number, field.type, field.is_repeated) == (
                spec["number"],
                their_type,
                repeated,
            )
            oneof = field.containing_oneof.name if field.containing_oneof else ""
            assert oneof == spec["oneof"], name
    for enum, values in theirs["enums"].items():
        assert set(values.values()) == set(ENUM_TABLES[enum]), enum


def test_real_package_messages_map_without_loss(lokryn_v020: Lokryn) -> None:
    built = lokryn_v020.run("build-v020", "20261122", "500")
    checked = 0
    for item in built:
        data = bytes.fromhex(item["hex"])
        entry = from_lokryn_v020(data, POLICY, tenant_id=TENANT)
        request = v020.LogRequest.FromString(data)
        checked += check_request(request, entry, POLICY, TENANT)
        assert entry.producer.source_message_type == "lokryn.compliance.v1.LogRequest"
        stored = entry.SerializeToString()
        for text in content_texts(request):
            assert text.encode() not in stored
    assert checked > 5_000  # the random messages really populate fields


def test_seed_examples_in_0_2_0_form(lokryn_v020: Lokryn) -> None:
    built = {item["name"]: item for item in lokryn_v020.run("build-v020", "0", "0")}
    guardrail = from_lokryn_v020(bytes.fromhex(built["guardrail_block"]["hex"]), POLICY)
    assert guardrail.event_type == pb.EVENT_GUARDRAIL_CHECK
    assert guardrail.outcome == pb.OUTCOME_FAILURE_DENIED
    assert guardrail.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED
    assert guardrail.data["rule"] == "ssn-pattern"
    export = from_lokryn_v020(bytes.fromhex(built["customer_data_export"]["hex"]), POLICY)
    assert (export.event_type, export.sensitivity) == (
        pb.EVENT_DATA_EXPORT,
        pb.SENSITIVITY_RESTRICTED,
    )
    assert list(export.policy_tags) == ["SOC2", "data-export", "PII"]


TEXT = st.text(max_size=30)
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)


@st.composite
def genai_payloads(draw: st.DrawFn) -> v020.GenAIPayload:
    genai = v020.GenAIPayload(
        model=draw(TEXT),
        provider=draw(TEXT),
        input_tokens=draw(INT32),
        output_tokens=draw(INT32),
        total_tokens=draw(INT32),
        temperature=draw(st.floats(allow_nan=False)),
        max_tokens=draw(INT32),
        top_p=draw(st.floats(allow_nan=False)),
        finish_reason=draw(TEXT),
        time_to_first_token_ms=draw(st.integers(-(2**53), 2**53)),
        response_id=draw(TEXT),
    )
    for bucket in (genai.input_messages, genai.output_messages):
        for _ in range(draw(st.integers(0, 3))):
            bucket.add(role=draw(TEXT), content=draw(TEXT), name=draw(TEXT))
    for _ in range(draw(st.integers(0, 2))):
        genai.tool_calls.add(
            id=draw(TEXT), name=draw(TEXT), arguments=draw(TEXT), result=draw(TEXT)
        )
    return genai


def struct_of(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


@st.composite
def log_requests(draw: st.DrawFn) -> v020.LogRequest:
    request = v020.LogRequest(
        event_type=draw(st.sampled_from(sorted(EVENT_TYPE_FROM_V020))),
        outcome=draw(st.sampled_from(sorted(OUTCOME_FROM_V020))),
        severity=draw(st.sampled_from(sorted(SEVERITY_FROM_V020))),
        sensitivity=draw(st.sampled_from(sorted(SENSITIVITY_FROM_V020))),
        ocsf_class_uid=draw(INT32),
        ocsf_activity_id=draw(INT32),
        otel_operation_name=draw(TEXT),
        duration_ms=draw(st.integers(-(2**53), 2**53)),
        actor_id=draw(TEXT),
        actor_type=draw(TEXT),
        component=draw(TEXT),
        environment=draw(TEXT),
        resource=draw(TEXT),
        message=draw(TEXT),
        trace_id=draw(TEXT),
        span_id=draw(TEXT),
        parent_span_id=draw(TEXT),
        session_id=draw(TEXT),
        policy_tags=draw(st.lists(TEXT, max_size=3)),
        client_id=draw(TEXT),
        client_version=draw(TEXT),
        server_id=draw(TEXT),
        server_version=draw(TEXT),
        request_size_bytes=draw(INT64),
        response_size_bytes=draw(INT64),
        geo_region=draw(TEXT),
    )
    if draw(st.booleans()):
        request.time.seconds = draw(st.integers(0, 253402300799))
        request.time.nanos = draw(st.integers(0, 999_999_999))
    if draw(st.booleans()):
        request.metadata.CopyFrom(
            v020.Metadata(
                schema_version=draw(TEXT),
                product_name=draw(TEXT),
                product_version=draw(TEXT),
                vendor_name=draw(TEXT),
            )
        )
    payload = draw(st.sampled_from(["none", "genai", "mcp", "data"]))
    if payload == "genai":
        request.genai.CopyFrom(draw(genai_payloads()))
    elif payload == "mcp":
        mcp = request.mcp
        mcp.SetInParent()
        mcp.protocol_version, mcp.request_id, mcp.tool_name = draw(TEXT), draw(TEXT), draw(TEXT)
        if draw(st.booleans()):
            mcp.tool_arguments.CopyFrom(struct_of(draw(st.dictionaries(TEXT, JSON, max_size=3))))
        if draw(st.booleans()):
            mcp.tool_result.CopyFrom(struct_of(draw(st.dictionaries(TEXT, JSON, max_size=3))))
        mcp.resource_uri, mcp.resource_mime_type = draw(TEXT), draw(TEXT)
        if draw(st.booleans()):
            mcp.sampling.CopyFrom(draw(genai_payloads()))
        mcp.client_capabilities.extend(draw(st.lists(TEXT, max_size=3)))
        mcp.server_capabilities.extend(draw(st.lists(TEXT, max_size=3)))
    elif payload == "data":
        request.data.CopyFrom(struct_of(draw(st.dictionaries(TEXT, JSON, max_size=4))))
    return request


@settings(max_examples=300, deadline=None)
@given(request=log_requests(), tenant=st.sampled_from(["", "acme", "globex"]))
@example(request=v020.LogRequest(genai=v020.GenAIPayload(top_p=-0.0)), tenant="")  # was dropped
def test_random_requests_map_and_preserve_every_field(
    request: v020.LogRequest, tenant: str
) -> None:
    entry = from_lokryn_v020(request.SerializeToString(), POLICY, tenant_id=tenant)
    check_request(request, entry, POLICY, tenant)
    assert entry.tenant_id == tenant


@pytest.mark.parametrize(
    ("field", "value"),
    [("event_type", 13), ("event_type", 27), ("outcome", 5), ("severity", 9), ("sensitivity", 5)],
)
def test_values_outside_0_2_0_are_refused_with_the_field_named(field: str, value: int) -> None:
    request = v020.LogRequest(**{field: value})
    with pytest.raises(AdapterError) as caught:
        from_lokryn_v020(request.SerializeToString(), POLICY)
    assert (caught.value.reason, caught.value.field) == ("unknown_enum", field)


def test_garbage_and_absurd_durations_are_refused() -> None:
    with pytest.raises(AdapterError) as caught:
        from_lokryn_v020(b"\x0a\xff\xff", POLICY)
    assert caught.value.reason == "unparseable"
    with pytest.raises(AdapterError) as caught:
        from_lokryn_v020(v020.LogRequest(duration_ms=2**60).SerializeToString(), POLICY)
    assert (caught.value.reason, caught.value.field) == ("out_of_range", "duration_ms")


def test_equal_prompts_correlate_within_a_tenant_only() -> None:
    request = v020.LogRequest()
    request.genai.input_messages.add(role="user", content="what is my balance?")
    a1 = from_lokryn_v020(request.SerializeToString(), POLICY, tenant_id="a")
    a2 = from_lokryn_v020(request.SerializeToString(), POLICY, tenant_id="a")
    b = from_lokryn_v020(request.SerializeToString(), POLICY, tenant_id="b")
    assert a1.content[0].digest == a2.content[0].digest != b.content[0].digest
    assert b"balance" not in a1.SerializeToString()
