"""OpenTelemetry GenAI and MCP semantic conventions mapped onto LogEntry (pure).

`span_entry` turns one `Span` into a LogEntry, or None when the span carries no
`gen_ai.*` or `mcp.*` attribute (the exporter and the OTLP ingest count those). The
mapping is versioned (`MAPPING_VERSION`, recorded in every entry under
`data.otel.mapping`); the table is in docs/integrations.md and changes with it.

What the mapping does not place in a LogEntry field is kept, never dropped: span
attributes under `data.otel.attributes`, resource attributes under
`data.otel.resource`, events and links under `data.otel.events` / `data.otel.links`.
Message, prompt and tool content (`CONTENT_ATTRIBUTES`, `CONTENT_PREFIXES`) goes
through the content policy instead: keyed digests, ciphertext with store_content.
A value of the wrong type is kept as it came, and the entry says so in
`validation_issues`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from auditstream.core.ids import uuid7_from
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.spans import Span, SpanEvent
from auditstream.producers.events import uuid7
from auditstream.proto.v1 import log_entry_pb2 as pb

MAPPING_VERSION: Final = "1"
EVENT_ID_DOMAIN: Final = b"auditstream.otel.span\x00"

OPERATIONS: Final[Mapping[str, int]] = {
    "chat": pb.EVENT_MODEL_INFERENCE,
    "text_completion": pb.EVENT_MODEL_INFERENCE,
    "generate_content": pb.EVENT_MODEL_INFERENCE,
    "embeddings": pb.EVENT_MODEL_INFERENCE,
    "execute_tool": pb.EVENT_TOOL_INVOCATION,
    "invoke_agent": pb.EVENT_AGENT_DECISION,  # DELEGATION when the span kind is client
    "create_agent": pb.EVENT_AGENT_DECISION,
    "invoke_workflow": pb.EVENT_AGENT_DECISION,
    "retrieval": pb.EVENT_CONTEXT_ACCESS,
}
MCP_METHODS: Final[Mapping[str, int]] = {
    "initialize": pb.EVENT_MCP_INITIALIZE,
    "notifications/initialized": pb.EVENT_MCP_INITIALIZED,
    "ping": pb.EVENT_MCP_PING,
    "tools/list": pb.EVENT_TOOL_LIST,
    "resources/list": pb.EVENT_RESOURCE_LIST,
    "resources/templates/list": pb.EVENT_RESOURCE_LIST,
    "prompts/list": pb.EVENT_PROMPT_LIST,
    "resources/read": pb.EVENT_RESOURCE_READ,
    "sampling/createMessage": pb.EVENT_SAMPLING_REQUEST,
    "tools/call": pb.EVENT_TOOL_INVOCATION,
    "prompts/get": pb.EVENT_PROMPT_EXECUTION,
}
# Any other MCP method (notifications, subscriptions, logging, completion, roots,
# elicitation) is recorded as this, with its name in `mcp.method`.
OTHER_MCP_METHOD: Final = pb.EVENT_RESOURCE_ACCESS
FALLBACK: Final = pb.EVENT_AGENT_DECISION  # an unknown gen_ai.operation.name

CONTENT_ATTRIBUTES: Final = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.definitions",
        "gen_ai.retrieval.query.text",
        "gen_ai.retrieval.documents",
        "gen_ai.prompt",  # deprecated event attributes
        "gen_ai.completion",
        "input.value",  # OpenInference
        "output.value",
    }
)
# Indexed content attributes of other instrumentations: OpenLLMetry's
# gen_ai.prompt.0.content, OpenInference's llm.input_messages.0.message.content.
CONTENT_PREFIXES: Final = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
)
INPUT_CONTENT: Final = frozenset(
    {"gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.prompt", "input.value"}
)
OUTPUT_CONTENT: Final = frozenset({"gen_ai.output.messages", "gen_ai.completion", "output.value"})
INTEGER_ATTRIBUTES: Final = frozenset(
    {
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.request.seed",
        "gen_ai.request.choice.count",
    }
)


def is_content(key: str) -> bool:
    return key in CONTENT_ATTRIBUTES or key.startswith(CONTENT_PREFIXES)


def is_relevant(span: Span) -> bool:
    """Whether the span follows the GenAI or MCP conventions at all."""
    return any(key.startswith(("gen_ai.", "mcp.")) for key in span.attributes)


def span_event_id(span: Span) -> str:
    """A UUIDv7 from the span's start time whose random bits come from its trace and
    span id: exporting or ingesting the same span again gives the same event id, which
    the processor de-duplicates."""
    digest = hashlib.sha256(EVENT_ID_DOMAIN + span.trace_id + span.span_id).digest()
    return uuid7_from(span.start_ns, digest[:10])


class _Reader:
    """Typed reads of span attributes; every key read is consumed (not copied into
    data.otel.attributes), and a value of the wrong type becomes an issue."""

    def __init__(self, attributes: Mapping[str, Any], issues: list[str]) -> None:
        self.attributes = attributes
        self.issues = issues
        self.used: set[str] = set()

    def _get(self, key: str, kind: str, accept: Callable[[Any], bool]) -> Any:
        if key not in self.attributes:
            return None
        value = self.attributes[key]
        if accept(value):
            self.used.add(key)
            return value
        self.issues.append(f"{key}: not {kind} ({_short(value)}); kept in data.otel.attributes")
        return None

    def text(self, *keys: str) -> str:
        for key in keys:
            value = self._get(key, "a string", lambda v: isinstance(v, str))
            if value:
                for other in keys:  # a deprecated alias beside the current name is read too
                    if other in self.attributes and isinstance(self.attributes[other], str):
                        self.used.add(other)
                return str(value)
        return ""

    def integer(self, *keys: str) -> int | None:
        for key in keys:
            value = self._get(key, "a non-negative integer", _is_count)
            if value is not None:
                return int(value)
        return None

    def number(self, key: str) -> float | None:
        value = self._get(key, "a number", _is_number)
        return None if value is None else float(value)

    def strings(self, key: str) -> list[str]:
        value = self._get(key, "a list of strings", _is_strings)
        if value is None:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def check_integer(self, key: str) -> None:
        """Validate a count that stays in data.otel.attributes (no LogEntry field)."""
        if key in self.attributes and not _is_count(self.attributes[key]):
            self.issues.append(
                f"{key}: not a non-negative integer ({_short(self.attributes[key])})"
            )

    def rest(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.attributes.items() if k not in self.used}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_strings(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, Sequence) and all(isinstance(v, str) for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _plain(value: Any) -> Any:
    """A JSON-able copy: bytes as base64, tuples as lists, mappings with string keys."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _hex_id(value: bytes, size: int, name: str, issues: list[str]) -> str:
    if len(value) == size and any(value):
        return value.hex()
    if value:
        issues.append(
            f"{name}: {len(value)} bytes, not a valid {size}-byte id ({value.hex()[:40]})"
        )
    elif name != "parent_span_id":
        issues.append(f"{name}: missing")
    return ""


def event_type_of(span: Span, op: str, method: str, read: _Reader) -> tuple[int, str]:
    """The event type, and a note when it came from a fallback rather than the table."""
    if method in MCP_METHODS:
        return MCP_METHODS[method], ""
    if op in OPERATIONS:
        kind = OPERATIONS[op]
        if op == "invoke_agent" and span.kind == "client":
            kind = pb.EVENT_DELEGATION
        return kind, ""
    if method and not op:
        return OTHER_MCP_METHOD, ""
    attributes = read.attributes
    if "gen_ai.tool.name" in attributes:
        kind = pb.EVENT_TOOL_INVOCATION
    elif "gen_ai.agent.id" in attributes or "gen_ai.agent.name" in attributes:
        kind = pb.EVENT_AGENT_DECISION
    elif "gen_ai.request.model" in attributes:
        kind = pb.EVENT_MODEL_INFERENCE
    else:
        kind = FALLBACK
    said = f"{op!r}" if op else "missing"
    return kind, (
        f"gen_ai.operation.name: {said} is not in mapping v{MAPPING_VERSION}; "
        f"recorded as {pb.EventType.Name(kind)}"
    )


def span_entry(span: Span, content: ContentWriter, *, tenant_id: str) -> pb.LogEntry | None:
    """The LogEntry of a GenAI or MCP span, or None for any other span."""
    if not is_relevant(span):
        return None
    issues: list[str] = []
    read = _Reader(span.attributes, issues)
    resource = _Reader(span.resource, issues)
    entry = pb.LogEntry(tenant_id=tenant_id)
    trace_id = _hex_id(span.trace_id, 16, "trace_id", issues)
    span_id = _hex_id(span.span_id, 8, "span_id", issues)
    entry.event_id = span_event_id(span) if trace_id and span_id else uuid7(span.start_ns)
    entry.trace_id, entry.span_id = trace_id, span_id
    entry.parent_span_id = _hex_id(span.parent_span_id, 8, "parent_span_id", issues)
    entry.event_time.FromNanoseconds(max(span.start_ns, 0))
    if span.end_ns >= span.start_ns:
        entry.duration_ms = round((span.end_ns - span.start_ns) / 1e6, 3)
    else:
        issues.append("end time before start time; duration not recorded")

    op = read.text("gen_ai.operation.name")
    method = read.text("mcp.method.name")
    entry.event_type, note = event_type_of(span, op, method, read)  # type: ignore[assignment]
    if note:
        issues.append(note)
    entry.otel_operation_name = op or method

    _actor(entry, read, resource)
    _ai_fields(entry, read, op)
    _tool_and_mcp(entry, read, method)
    failed = _outcome(entry, span, read)
    entry.resource = _resource_of(entry, read, span.name)
    entry.message = f"{span.name} failed: {failed}" if failed else span.name

    for key in read.attributes:
        if is_content(key):
            read.used.add(key)
            _add_content(entry, content, key, read.attributes[key])
    for key in INTEGER_ATTRIBUTES:
        read.check_integer(key)
    data = _otel_data(span, read, resource, entry, content)
    entry.data.update({"otel": data})  # values are JSON-able already (`_plain`)
    if span.dropped:
        dropped = ", ".join(f"{n} {what}" for what, n in sorted(span.dropped.items()) if n)
        if dropped:
            issues.append(f"the SDK dropped {dropped} before export")
    entry.validation_issues.extend(issues)
    for block in ("ai", "mcp"):  # assigning empty values marked them present
        if entry.HasField(block) and not getattr(entry, block).ListFields():
            entry.ClearField(block)
    return entry


def _actor(entry: pb.LogEntry, read: _Reader, resource: _Reader) -> None:
    service = resource.text("service.name")
    user = read.text("enduser.id")
    agent_id = read.text("gen_ai.agent.id")
    agent_name = read.text("gen_ai.agent.name")
    entry.ai.agent_id, entry.ai.agent_name = agent_id, agent_name
    if user:
        entry.actor_id, entry.actor_type = user, "user"
    elif agent_id or agent_name:
        entry.actor_id, entry.actor_type = agent_id or agent_name, "agent"
    else:
        entry.actor_id, entry.actor_type = service or "unknown_service", "service"
    entry.component = service
    entry.environment = resource.text("deployment.environment.name", "deployment.environment")
    entry.producer.product_name = service
    entry.producer.product_version = resource.text("service.version")
    entry.producer.host_name = resource.text("host.name")
    entry.session_id = read.text("mcp.session.id", "session.id")


def _ai_fields(entry: pb.LogEntry, read: _Reader, op: str) -> None:
    ai = entry.ai
    ai.operation_name = op
    ai.provider = read.text("gen_ai.provider.name", "gen_ai.system")
    ai.request_model = read.text("gen_ai.request.model")
    ai.response_model = read.text("gen_ai.response.model")
    ai.response_id = read.text("gen_ai.response.id")
    ai.conversation_id = read.text("gen_ai.conversation.id")
    ai.finish_reasons.extend(read.strings("gen_ai.response.finish_reasons"))
    for name, value in (
        ("temperature", read.number("gen_ai.request.temperature")),
        ("top_p", read.number("gen_ai.request.top_p")),
        ("max_tokens", read.integer("gen_ai.request.max_tokens")),
        (
            "input_tokens",
            read.integer("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        ),
        (
            "output_tokens",
            read.integer("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        ),
    ):
        if value is not None:
            setattr(ai, name, value)
    first_chunk = read.number("gen_ai.response.time_to_first_chunk")  # seconds
    if first_chunk is not None:
        ai.time_to_first_token_ms = round(first_chunk * 1000, 3)


def _tool_and_mcp(entry: pb.LogEntry, read: _Reader, method: str) -> None:
    tool = read.text("gen_ai.tool.name")
    call_id = read.text("gen_ai.tool.call.id")
    if tool or call_id:
        entry.ai.tool_calls.add(id=call_id, name=tool)
        entry.mcp.tool_name = tool
    entry.mcp.method = method
    entry.mcp.protocol_version = read.text("mcp.protocol.version")
    entry.mcp.resource_uri = read.text("mcp.resource.uri")
    entry.mcp.request_id = read.text("jsonrpc.request.id", "rpc.jsonrpc.request_id")


def _outcome(entry: pb.LogEntry, span: Span, read: _Reader) -> str:
    """Set outcome and severity; returns the error type of a failed span ("" if none)."""
    error_type = read.text("error.type")
    if span.status == "error" or error_type:
        entry.outcome, entry.severity = pb.OUTCOME_FAILURE_ERROR, pb.SEVERITY_ERROR
        return error_type or "error"
    entry.outcome, entry.severity = pb.OUTCOME_SUCCESS, pb.SEVERITY_INFO
    return ""


def _resource_of(entry: pb.LogEntry, read: _Reader, span_name: str) -> str:
    ai, mcp = entry.ai, entry.mcp
    if mcp.resource_uri:
        return mcp.resource_uri
    if entry.event_type == pb.EVENT_TOOL_INVOCATION and mcp.tool_name:
        return f"tools/{mcp.tool_name}"
    if entry.event_type in (pb.EVENT_AGENT_DECISION, pb.EVENT_DELEGATION) and (
        ai.agent_name or ai.agent_id
    ):
        return f"agents/{ai.agent_name or ai.agent_id}"
    if entry.event_type == pb.EVENT_CONTEXT_ACCESS:
        source = read.text("gen_ai.data_source.id")
        if source:
            return f"data_sources/{source}"
    model = ai.response_model or ai.request_model
    if entry.event_type == pb.EVENT_MODEL_INFERENCE and model:
        return f"models/{model}"
    return mcp.method or span_name


def _add_content(entry: pb.LogEntry, content: ContentWriter, key: str, value: Any) -> None:
    """Content as digests; a JSON list of chat messages becomes one item per message
    with its role, so equal messages correlate across calls."""
    messages = _messages(value) if key.endswith(".messages") else None
    if messages is None:
        indexes = [content.add(entry, key, _plain(value))]
    else:
        indexes = [
            content.add(
                entry,
                key,
                {k: v for k, v in message.items() if k not in ("role", "name")},
                role=str(message.get("role", "")),
                participant=str(message.get("name", "")),
            )
            for message in messages
        ]
    if key in INPUT_CONTENT:
        entry.ai.input_content.extend(indexes)
    elif key in OUTPUT_CONTENT:
        entry.ai.output_content.extend(indexes)


def _messages(value: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list) and value and all(isinstance(m, Mapping) for m in value):
        return value
    return None


def _otel_data(
    span: Span, read: _Reader, resource: _Reader, entry: pb.LogEntry, content: ContentWriter
) -> dict[str, Any]:
    data: dict[str, Any] = {"mapping": MAPPING_VERSION, "kind": span.kind}
    if span.status != "unset" or span.status_message:
        data["status"] = {"code": span.status, "message": span.status_message}
    if span.scope_name or span.scope_version:
        data["scope"] = {"name": span.scope_name, "version": span.scope_version}
    for name, values in (("attributes", read.rest()), ("resource", resource.rest())):
        if values:
            data[name] = values
    if span.events:
        data["events"] = [_event(event, entry, content) for event in span.events]
    if span.links:
        data["links"] = [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                **({"attributes": _plain(dict(link.attributes))} if link.attributes else {}),
            }
            for link in span.links
        ]
    return data


def _event(event: SpanEvent, entry: pb.LogEntry, content: ContentWriter) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in event.attributes.items():
        if is_content(key):
            index = content.add(entry, f"event:{event.name}:{key}", _plain(value))
            kept[key] = {"content_index": index}
        else:
            kept[key] = _plain(value)
    out: dict[str, Any] = {"name": event.name, "time_unix_nano": str(event.time_ns)}
    if kept:
        out["attributes"] = kept
    return out
