"""An independent statement of where each lokryn 0.2.0 field lands in our LogEntry.

Used to check the adapter: every populated field of a LogRequest must be found at its
destination with the translated value. Written from the mapping table in
docs/lokryn-compatibility.md, not from the adapter's code.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from auditstream.core.content import DigestPolicy
from auditstream.proto.v1 import log_entry_pb2 as pb

EVENT_TYPE = {
    **{n: n for n in range(0, 13)},
    **{n: n - 7 for n in range(20, 27)},
    **{n: n for n in range(30, 43)},
}
OUTCOME = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 99: 99}
SENSITIVITY = {0: 0, 1: 1, 2: 3, 3: 4, 4: 5, 10: 2}

SAME_NAME = {
    "ocsf_class_uid",
    "ocsf_activity_id",
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
    "request_size_bytes",
    "response_size_bytes",
    "geo_region",
    "severity",
}
GENAI_SAME = {
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "temperature",
    "max_tokens",
    "top_p",
    "response_id",
}


def check_request(request: Message, entry: pb.LogEntry, policy: DigestPolicy, tenant: str) -> int:
    """Assert every populated field of `request` landed; returns how many were checked."""
    checked = 0
    for field, value in request.ListFields():
        name = field.name
        checked += 1
        if name in SAME_NAME:
            assert getattr(entry, name) == value, name
        elif name == "event_type":
            assert entry.event_type == EVENT_TYPE[value]
        elif name == "outcome":
            assert entry.outcome == OUTCOME[value]
        elif name == "sensitivity":
            assert entry.sensitivity == SENSITIVITY[value]
        elif name == "time":
            assert entry.event_time == value
        elif name == "duration_ms":
            assert entry.duration_ms == float(value) and int(entry.duration_ms) == value
        elif name == "policy_tags":
            assert list(entry.policy_tags) == list(value)
        elif name == "metadata":
            for sub, sub_value in value.ListFields():
                assert getattr(entry.producer, sub.name) == sub_value, sub.name
        elif name == "data":
            assert entry.data == value
        elif name == "genai":
            assert entry.HasField("ai")
            checked += check_genai(value, entry.ai, entry, policy, tenant)
        elif name == "mcp":
            checked += check_mcp(value, entry, policy, tenant)
        else:
            raise AssertionError(f"field {name} has no destination")
    return checked


def check_genai(
    genai: Message, ai: pb.AiInteraction, entry: pb.LogEntry, policy: DigestPolicy, tenant: str
) -> int:
    checked = 0
    for field, value in genai.ListFields():
        name = field.name
        checked += 1
        if name in GENAI_SAME:
            if not isinstance(value, str):
                assert ai.HasField(name), name  # optional in ours: set, not defaulted
            assert getattr(ai, name) == value, name
        elif name == "model":
            assert ai.request_model == value
        elif name == "finish_reason":
            assert list(ai.finish_reasons) == [value]
        elif name == "time_to_first_token_ms":
            assert ai.time_to_first_token_ms == float(value)
        elif name in ("input_messages", "output_messages"):
            indexes = ai.input_content if name == "input_messages" else ai.output_content
            assert len(indexes) == len(value)
            for index, message in zip(indexes, value, strict=True):
                ref = entry.content[index]
                assert ref.role == message.role and ref.participant == message.name
                assert ref.digest == policy.digest(message.content, tenant_id=tenant)
                assert ref.length == len(message.content.encode())
                assert not ref.HasField("encrypted")
        elif name == "tool_calls":
            assert [(c.id, c.name, c.arguments, c.result) for c in ai.tool_calls] == [
                (c.id, c.name, c.arguments, c.result) for c in value
            ]
        else:
            raise AssertionError(f"genai field {name} has no destination")
    return checked


def check_mcp(mcp: Message, entry: pb.LogEntry, policy: DigestPolicy, tenant: str) -> int:
    assert entry.HasField("mcp")
    checked = 0
    for field, value in mcp.ListFields():
        checked += 1
        if field.name == "sampling":
            assert entry.mcp.HasField("sampling")
            checked += check_genai(value, entry.mcp.sampling, entry, policy, tenant)
        elif field.is_repeated:
            assert list(getattr(entry.mcp, field.name)) == list(value), field.name
        else:
            assert getattr(entry.mcp, field.name) == value, field.name
    return checked


def content_texts(request: Any) -> list[str]:
    """Every message text in a request, to prove none is stored in clear."""
    out = []
    for genai in (request.genai, request.mcp.sampling):
        for message in [*genai.input_messages, *genai.output_messages]:
            if len(message.content) >= 4:
                out.append(message.content)
    return out
