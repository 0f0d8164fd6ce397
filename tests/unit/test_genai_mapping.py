"""The GenAI / MCP span mapping on spans made by the real OpenTelemetry SDK and on
OTLP bytes made by opentelemetry-proto: both roads give the same entry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.trace import SpanKind

from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey
from auditstream.errors import AdapterError
from auditstream.integrations import genai, otlp
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.otel import span_of
from auditstream.integrations.spans import Span
from auditstream.proto.v1 import log_entry_pb2 as pb
from tests.support.otel_kit import finished_spans

POLICY = DigestPolicy(HmacKey("salt-1", b"s" * 32))
CONTENT = ContentWriter(POLICY)


def sdk_span(name: str, attributes: dict[str, Any], kind: SpanKind = SpanKind.CLIENT) -> Span:
    (span,) = finished_spans([(name, attributes, kind)], {"service.name": "bot", "host.name": "h1"})
    return span_of(span)


def entry_of(span: Span) -> pb.LogEntry:
    entry = genai.span_entry(span, CONTENT, tenant_id="acme")
    assert entry is not None
    return entry


@pytest.mark.parametrize(
    ("attributes", "kind", "expected"),
    [
        ({"gen_ai.operation.name": "chat"}, SpanKind.CLIENT, pb.EVENT_MODEL_INFERENCE),
        ({"gen_ai.operation.name": "text_completion"}, SpanKind.CLIENT, pb.EVENT_MODEL_INFERENCE),
        ({"gen_ai.operation.name": "embeddings"}, SpanKind.CLIENT, pb.EVENT_MODEL_INFERENCE),
        ({"gen_ai.operation.name": "execute_tool"}, SpanKind.INTERNAL, pb.EVENT_TOOL_INVOCATION),
        ({"gen_ai.operation.name": "invoke_agent"}, SpanKind.INTERNAL, pb.EVENT_AGENT_DECISION),
        ({"gen_ai.operation.name": "invoke_agent"}, SpanKind.CLIENT, pb.EVENT_DELEGATION),
        ({"gen_ai.operation.name": "create_agent"}, SpanKind.CLIENT, pb.EVENT_AGENT_DECISION),
        ({"gen_ai.operation.name": "retrieval"}, SpanKind.CLIENT, pb.EVENT_CONTEXT_ACCESS),
        ({"mcp.method.name": "initialize"}, SpanKind.CLIENT, pb.EVENT_MCP_INITIALIZE),
        ({"mcp.method.name": "tools/list"}, SpanKind.CLIENT, pb.EVENT_TOOL_LIST),
        ({"mcp.method.name": "resources/read"}, SpanKind.CLIENT, pb.EVENT_RESOURCE_READ),
        ({"mcp.method.name": "prompts/get"}, SpanKind.CLIENT, pb.EVENT_PROMPT_EXECUTION),
        ({"mcp.method.name": "sampling/createMessage"}, SpanKind.SERVER, pb.EVENT_SAMPLING_REQUEST),
        (
            {"mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool"},
            SpanKind.CLIENT,
            pb.EVENT_TOOL_INVOCATION,
        ),
        ({"mcp.method.name": "notifications/progress"}, SpanKind.CLIENT, genai.OTHER_MCP_METHOD),
    ],
)
def test_operations_and_methods_map_to_event_types(
    attributes: dict[str, Any], kind: SpanKind, expected: int
) -> None:
    entry = entry_of(sdk_span("op", attributes, kind))
    assert entry.event_type == expected
    assert not entry.validation_issues


def test_an_unknown_operation_is_recorded_with_a_note_saying_how_it_was_typed() -> None:
    entry = entry_of(sdk_span("x", {"gen_ai.operation.name": "dream", "gen_ai.tool.name": "t"}))
    assert entry.event_type == pb.EVENT_TOOL_INVOCATION
    assert entry.validation_issues == [
        "gen_ai.operation.name: 'dream' is not in mapping v1; recorded as EVENT_TOOL_INVOCATION"
    ]


def test_a_span_without_genai_or_mcp_attributes_is_not_an_audit_event() -> None:
    assert (
        genai.span_entry(sdk_span("GET /", {"http.method": "GET"}), CONTENT, tenant_id="a") is None
    )


def test_chat_fields_content_and_unknown_attributes() -> None:
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "my SSN is 078-05-1120"}]},
    ]
    entry = entry_of(
        sdk_span(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",  # deprecated name, still read
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2025",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 200,
                "gen_ai.usage.input_tokens": 41,
                "gen_ai.usage.output_tokens": 9,
                "gen_ai.response.id": "resp-1",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.time_to_first_chunk": 0.25,
                "gen_ai.conversation.id": "conv-1",
                "gen_ai.input.messages": json.dumps(messages),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
                "enduser.id": "user-5",
                "mcp.session.id": "s-1",
                "vendor.flag": True,
            },
        )
    )
    ai = entry.ai
    assert (entry.actor_id, entry.actor_type, entry.component) == ("user-5", "user", "bot")
    assert (ai.provider, ai.request_model, ai.response_model) == ("openai", "gpt-4o", "gpt-4o-2025")
    assert (ai.temperature, ai.max_tokens, ai.input_tokens, ai.output_tokens) == (0.2, 200, 41, 9)
    assert (ai.response_id, list(ai.finish_reasons), ai.conversation_id) == (
        "resp-1",
        ["stop"],
        "conv-1",
    )
    assert ai.time_to_first_token_ms == 250.0
    assert entry.resource == "models/gpt-4o-2025" and entry.session_id == "s-1"
    assert entry.producer.host_name == "h1"
    roles = [entry.content[i].role for i in ai.input_content]
    assert roles == ["system", "user"] and [entry.content[i].role for i in ai.output_content] == [
        "assistant"
    ]
    user = entry.content[ai.input_content[1]]
    expected_text = json.dumps(
        {"parts": messages[1]["parts"]}, sort_keys=True, separators=(",", ":")
    )
    assert user.digest == POLICY.digest(expected_text, tenant_id="acme")
    assert b"078-05-1120" not in entry.SerializeToString()
    otel = entry.data["otel"]
    assert otel["attributes"] == {"vendor.flag": True}  # kept, not dropped
    assert otel["mapping"] == genai.MAPPING_VERSION and otel["kind"] == "client"
    assert otel["scope"] == {"name": "t", "version": "1.0"}
    assert "gen_ai.input.messages" not in otel["attributes"]


def test_values_of_the_wrong_type_are_kept_and_named() -> None:
    entry = entry_of(
        sdk_span(
            "chat",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": -3,
                "gen_ai.request.temperature": "warm",
                "gen_ai.usage.reasoning.output_tokens": "lots",
            },
        )
    )
    assert not entry.ai.HasField("input_tokens") and not entry.ai.HasField("temperature")
    kept = entry.data["otel"]["attributes"]
    assert kept["gen_ai.usage.input_tokens"] == -3 and kept["gen_ai.request.temperature"] == "warm"
    assert sorted(i.split(":")[0] for i in entry.validation_issues) == [
        "gen_ai.request.temperature",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
    ]


def test_tool_spans_record_arguments_and_results_as_digests_only() -> None:
    entry = entry_of(
        sdk_span(
            "execute_tool transfer",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "transfer",
                "gen_ai.tool.call.id": "call-1",
                "gen_ai.tool.call.arguments": '{"iban": "DE89370400440532013000"}',
                "gen_ai.tool.call.result": "ok",
                "error.type": "TimeoutError",
            },
            SpanKind.INTERNAL,
        )
    )
    assert entry.outcome == pb.OUTCOME_FAILURE_ERROR and entry.severity == pb.SEVERITY_ERROR
    assert entry.message == "execute_tool transfer failed: TimeoutError"
    assert entry.resource == "tools/transfer" and entry.mcp.tool_name == "transfer"
    assert [(c.id, c.name) for c in entry.ai.tool_calls] == [("call-1", "transfer")]
    assert [c.name for c in entry.content] == [
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ]
    assert b"DE89370400440532013000" not in entry.SerializeToString()


def test_the_same_span_always_gets_the_same_event_id() -> None:
    span = sdk_span("chat", {"gen_ai.operation.name": "chat"})
    first, again = entry_of(span), entry_of(span)
    assert first.event_id == again.event_id == genai.span_event_id(span)
    assert first.event_id[14] == "7"  # a UUIDv7
    other = entry_of(sdk_span("chat", {"gen_ai.operation.name": "chat"}))
    assert other.event_id != first.event_id


def test_without_a_content_key_the_entry_says_the_text_was_not_recorded() -> None:
    span = sdk_span("chat", {"gen_ai.operation.name": "chat", "gen_ai.prompt": "hello"})
    entry = genai.span_entry(span, ContentWriter(None), tenant_id="acme")
    assert entry is not None
    assert entry.content[0].length == 5 and not entry.content[0].digest
    assert entry.validation_issues == [
        "gen_ai.prompt: no content key configured; text not recorded"
    ]


def kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def test_otlp_bytes_map_like_sdk_spans() -> None:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", string_value="bot"))
    scope = resource_spans.scope_spans.add()
    scope.scope.name, scope.scope.version = "t", "1.0"
    span = scope.spans.add(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        parent_span_id=b"\x09" * 8,
        name="chat m",
        kind=3,  # client
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_250_000_000,
    )
    span.status.code = 2  # error
    span.attributes.extend(
        [
            kv("gen_ai.operation.name", string_value="chat"),
            kv("gen_ai.usage.input_tokens", int_value=7),
            kv("gen_ai.response.finish_reasons",
               array_value=ArrayValue(values=[AnyValue(string_value="length")])),
            kv("vendor.nested", kvlist_value=KeyValueList(values=[kv("a", double_value=1.5)])),
            kv("vendor.raw", bytes_value=b"\x00\x01"),
        ]
    )  # fmt: skip
    event = span.events.add(name="gen_ai.content.prompt", time_unix_nano=1_700_000_000_100_000_000)
    event.attributes.append(kv("gen_ai.prompt", string_value="secret question"))
    (parsed,) = otlp.spans_of(otlp.parse_request(request.SerializeToString()))
    entry = entry_of(parsed)
    assert entry.trace_id == bytes(range(1, 17)).hex() and entry.span_id == bytes(range(1, 9)).hex()
    assert entry.parent_span_id == "09" * 8 and entry.duration_ms == 250.0
    assert entry.outcome == pb.OUTCOME_FAILURE_ERROR and entry.ai.input_tokens == 7
    assert list(entry.ai.finish_reasons) == ["length"]
    kept = entry.data["otel"]["attributes"]
    assert kept["vendor.nested"] == {"a": 1.5} and kept["vendor.raw"] == "AAE="
    (event_data,) = entry.data["otel"]["events"]
    assert event_data["attributes"]["gen_ai.prompt"] == {"content_index": 0}
    assert entry.content[0].name == "event:gen_ai.content.prompt:gen_ai.prompt"
    assert b"secret question" not in entry.SerializeToString()


def test_malformed_otlp_ids_and_bytes() -> None:
    with pytest.raises(AdapterError) as raised:
        otlp.parse_request(b"\x0a\xff\xff\xff")
    assert raised.value.reason == "unparseable"
    broken = Span(trace_id=b"\x01" * 3, span_id=b"", name="chat", start_ns=5, end_ns=1,
                  attributes={"gen_ai.operation.name": "chat"})  # fmt: skip
    entry = entry_of(broken)
    assert entry.event_id and not entry.trace_id and not entry.span_id
    assert [i.split(":")[0] for i in entry.validation_issues] == [
        "trace_id",
        "span_id",
        "end time before start time; duration not recorded",
    ]


def test_deeply_nested_otlp_values_are_cut() -> None:
    value = AnyValue(string_value="leaf")
    for _ in range(40):
        value = AnyValue(array_value=ArrayValue(values=[value]))
    flattened = otlp.value_of(value)
    depth = 0
    while isinstance(flattened, list):
        flattened, depth = flattened[0], depth + 1
    assert flattened == "[nested too deep]" and depth == otlp.MAX_DEPTH
