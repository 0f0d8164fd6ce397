"""lokryn-compliance-log compatibility.

0.1.1 (`lokryn.compliancelog.v1.LogEntry`) needs no adapter: our LogEntry is
wire-identical for its fields 1-11 and enums.

0.2.0 (`lokryn.compliance.v1.LogRequest`) is a different layout with renumbered enums;
`from_lokryn_v020` maps it into our LogEntry without loss. The mapping table is in
docs/lokryn-compatibility.md. Message text inside its genai payloads is content: it
passes through the content policy (a keyed digest by default), never stored in clear.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import DecodeError

from auditstream.core import headers
from auditstream.core.content import ContentPolicy
from auditstream.errors import AdapterError
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb

# Largest integer a double holds exactly; 0.2.0's int64 milliseconds map to doubles.
MAX_EXACT_MS = 2**53

EVENT_TYPE_FROM_V020: Mapping[int, int] = {
    0: pb.EVENT_TYPE_UNSPECIFIED,
    **{n: n for n in range(1, 13)},  # classic events keep their numbers
    **{n: n - 7 for n in range(20, 27)},  # AI events 20-26 become 13-19
    **{n: n for n in range(30, 43)},  # MCP events keep their numbers
}
OUTCOME_FROM_V020: Mapping[int, int] = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 99: pb.OUTCOME_OTHER}
SEVERITY_FROM_V020: Mapping[int, int] = {n: n for n in range(0, 9)}
# 0.2.0 orders PUBLIC < PUBLIC_INTERNAL < CONFIDENTIAL < SECRET < TOP_SECRET; the map
# keeps that order on our five levels.
SENSITIVITY_FROM_V020: Mapping[int, int] = {
    0: pb.SENSITIVITY_UNSPECIFIED,
    1: pb.SENSITIVITY_PUBLIC,  # PUBLIC
    10: pb.SENSITIVITY_INTERNAL,  # PUBLIC_INTERNAL
    2: pb.SENSITIVITY_CONFIDENTIAL,  # CONFIDENTIAL
    3: pb.SENSITIVITY_RESTRICTED,  # SECRET
    4: pb.SENSITIVITY_HIGHLY_RESTRICTED,  # TOP_SECRET
}

_ENUMS: tuple[tuple[str, Mapping[int, int]], ...] = (
    ("event_type", EVENT_TYPE_FROM_V020),
    ("outcome", OUTCOME_FROM_V020),
    ("severity", SEVERITY_FROM_V020),
    ("sensitivity", SENSITIVITY_FROM_V020),
)
_STRINGS = (
    "otel_operation_name",
    "actor_id",
    "actor_type",
    "component",
    "environment",
    "resource",
    "message",
    "trace_id",
    "span_id",
    "parent_span_id",
    "session_id",
    "client_id",
    "client_version",
    "server_id",
    "server_version",
    "geo_region",
)
_INTEGERS = ("ocsf_class_uid", "ocsf_activity_id", "request_size_bytes", "response_size_bytes")


def _exact_ms(value: int, field: str) -> float:
    if abs(value) > MAX_EXACT_MS:
        raise AdapterError("out_of_range", field, f"{value} ms is not a plausible duration")
    return float(value)


def from_lokryn_v020(data: bytes, content: ContentPolicy, *, tenant_id: str = "") -> pb.LogEntry:
    """Map serialized 0.2.0 LogRequest bytes into a LogEntry.

    `tenant_id` selects the content salt and is set on the entry. Raises
    `AdapterError` (reason ``unparseable``, ``unknown_enum`` or ``out_of_range``).
    """
    request = v020.LogRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise AdapterError("unparseable", "LogRequest", str(exc) or "invalid protobuf") from exc
    return map_log_request(request, content, tenant_id=tenant_id)


def map_log_request(
    request: v020.LogRequest, content: ContentPolicy, *, tenant_id: str = ""
) -> pb.LogEntry:
    entry = pb.LogEntry(tenant_id=tenant_id)
    for name, table in _ENUMS:
        value = getattr(request, name)
        if value not in table:
            raise AdapterError("unknown_enum", name, f"value {value} is not defined in 0.2.0")
        setattr(entry, name, table[value])
    for name in _STRINGS:
        setattr(entry, name, getattr(request, name))
    for name in _INTEGERS:
        setattr(entry, name, getattr(request, name))
    entry.policy_tags.extend(request.policy_tags)
    if request.HasField("time"):
        entry.event_time.CopyFrom(request.time)
    entry.duration_ms = _exact_ms(request.duration_ms, "duration_ms")
    if request.HasField("metadata"):
        meta = request.metadata
        entry.producer.schema_version = meta.schema_version
        entry.producer.product_name = meta.product_name
        entry.producer.product_version = meta.product_version
        entry.producer.vendor_name = meta.vendor_name
    entry.producer.source_message_type = headers.LOKRYN_V020
    payload = request.WhichOneof("payload")
    if payload == "genai":
        entry.ai.SetInParent()
        _map_genai(request.genai, entry.ai, entry, content, "gen_ai")
    elif payload == "mcp":
        _map_mcp(request.mcp, entry, content)
    elif payload == "data":
        entry.data.CopyFrom(request.data)
    return entry


def _map_genai(
    genai: v020.GenAIPayload,
    ai: pb.AiInteraction,
    entry: pb.LogEntry,
    content: ContentPolicy,
    prefix: str,
) -> None:
    ai.request_model = genai.model
    ai.provider = genai.provider
    # 0.2.0 cannot tell zero from unset; zero stays unset here too. A double is "set"
    # when it is not +0.0 (so -0.0, which the wire carries, is kept).
    present = {field.name for field, _ in genai.ListFields()}
    if genai.input_tokens:
        ai.input_tokens = genai.input_tokens
    if genai.output_tokens:
        ai.output_tokens = genai.output_tokens
    if genai.total_tokens:
        ai.total_tokens = genai.total_tokens
    if "temperature" in present:
        ai.temperature = genai.temperature
    if genai.max_tokens:
        ai.max_tokens = genai.max_tokens
    if "top_p" in present:
        ai.top_p = genai.top_p
    if genai.finish_reason:
        ai.finish_reasons.append(genai.finish_reason)
    if genai.time_to_first_token_ms:
        ai.time_to_first_token_ms = _exact_ms(
            genai.time_to_first_token_ms, f"{prefix}.time_to_first_token_ms"
        )
    ai.response_id = genai.response_id
    for direction, messages, indexes in (
        ("input", genai.input_messages, ai.input_content),
        ("output", genai.output_messages, ai.output_content),
    ):
        for message in messages:
            indexes.append(len(entry.content))
            entry.content.append(
                content.content_ref(
                    f"{prefix}.{direction}.messages",
                    message.content,
                    tenant_id=entry.tenant_id,
                    role=message.role,
                    participant=message.name,
                )
            )
    for call in genai.tool_calls:
        ai.tool_calls.add(id=call.id, name=call.name, arguments=call.arguments, result=call.result)


def _map_mcp(mcp: v020.MCPPayload, entry: pb.LogEntry, content: ContentPolicy) -> None:
    out = entry.mcp
    out.SetInParent()
    out.protocol_version = mcp.protocol_version
    out.request_id = mcp.request_id
    out.tool_name = mcp.tool_name
    if mcp.HasField("tool_arguments"):
        out.tool_arguments.CopyFrom(mcp.tool_arguments)
    if mcp.HasField("tool_result"):
        out.tool_result.CopyFrom(mcp.tool_result)
    out.resource_uri = mcp.resource_uri
    out.resource_mime_type = mcp.resource_mime_type
    if mcp.HasField("sampling"):
        out.sampling.SetInParent()
        _map_genai(mcp.sampling, out.sampling, entry, content, "mcp.sampling")
    out.client_capabilities.extend(mcp.client_capabilities)
    out.server_capabilities.extend(mcp.server_capabilities)
