"""Runs inside a subprocess with one real lokryn-compliance-log version on sys.path.

Both published versions import as `lokryn_compliance_log` and register the same
descriptor file name, so they cannot share a process with each other; each test
talks to one through this script over JSON on stdin/stdout.

    python lokryn_helper.py describe            message and enum descriptors
    python lokryn_helper.py build-v011          seed examples and every enum value
    python lokryn_helper.py parse-v011          hex LogEntry bytes in -> dicts and re-encoding out
    python lokryn_helper.py build-v020 SEED N   seed examples and N random LogRequests
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from lokryn_compliance_log.v1 import logentry_pb2 as lokryn

from auditstream.samples.examples import SEED_EXAMPLES, entry_fields


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def describe() -> dict[str, Any]:
    proto = descriptor_pb2.FileDescriptorProto()
    lokryn.DESCRIPTOR.CopyToProto(proto)
    enums = {e.name: {v.name: v.number for v in e.value} for e in proto.enum_type}
    messages = {}
    for msg in proto.message_type:
        messages[msg.name] = {
            f.name: {
                "number": f.number,
                "type": f.type,
                "label": f.label,
                "type_name": f.type_name.rsplit(".", 1)[-1],
                "oneof": msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else "",
            }
            for f in msg.field
        }
    return {"package": proto.package, "enums": enums, "messages": messages}


def build_v011() -> list[dict[str, Any]]:
    out = []
    for example in SEED_EXAMPLES:
        entry = lokryn.LogEntry(**entry_fields(example))
        out.append(
            {
                "name": example["name"],
                "hex": entry.SerializeToString().hex(),
                "dict": as_dict(entry),
            }
        )
    for field, enum in (
        ("event_type", lokryn.EventType),
        ("outcome", lokryn.Outcome),
        ("severity", lokryn.Severity),
        ("sensitivity", lokryn.Sensitivity),
    ):
        for name, number in enum.items():
            entry = lokryn.LogEntry(actor_id="enum-probe", **{field: number})
            out.append(
                {"name": name, "hex": entry.SerializeToString().hex(), "dict": as_dict(entry)}
            )
    return out


def parse_v011(items: list[str]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        entry = lokryn.LogEntry()
        entry.ParseFromString(bytes.fromhex(item))
        out.append({"dict": as_dict(entry), "reencoded": entry.SerializeToString().hex()})
    return out


V020_SENSITIVITY = {
    "SENSITIVITY_INTERNAL": "SENSITIVITY_PUBLIC_INTERNAL",
    "SENSITIVITY_CONFIDENTIAL": "SENSITIVITY_CONFIDENTIAL",
    "SENSITIVITY_RESTRICTED": "SENSITIVITY_SECRET",
    "SENSITIVITY_HIGHLY_RESTRICTED": "SENSITIVITY_TOP_SECRET",
}


def seed_v020() -> list[Any]:
    """The seed examples as a 0.2.0 producer writes them: JSON payload in `data`."""
    out = []
    for example in SEED_EXAMPLES:
        fields = entry_fields(example)
        payload = json.loads(fields.pop("payload"))
        fields["sensitivity"] = V020_SENSITIVITY[fields["sensitivity"]]
        request = lokryn.LogRequest(**fields)
        request.data.update(payload)
        out.append((example["name"], request))
    return out


def _text(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzé漢字🙂 -_./:@0123456789"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def _struct_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 5 if depth < 2 else 3)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return round(rng.uniform(-1e6, 1e6), 3)
    if kind == 3:
        return _text(rng)
    if kind == 4:
        return [_struct_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng) or "k": _struct_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _genai(rng: random.Random, genai: Any) -> None:
    maybe = rng.random
    if maybe() < 0.8:
        genai.model = _text(rng)
    if maybe() < 0.8:
        genai.provider = _text(rng)
    for name in ("input_tokens", "output_tokens", "total_tokens", "max_tokens"):
        if maybe() < 0.7:
            setattr(genai, name, rng.randint(-(2**31), 2**31 - 1))
    for name in ("temperature", "top_p"):
        if maybe() < 0.7:
            setattr(genai, name, rng.uniform(0, 2))
    if maybe() < 0.7:
        genai.finish_reason = _text(rng)
    if maybe() < 0.7:
        genai.time_to_first_token_ms = rng.randint(0, 2**40)
    if maybe() < 0.7:
        genai.response_id = _text(rng)
    for bucket in (genai.input_messages, genai.output_messages):
        for _ in range(rng.randint(0, 3)):
            bucket.add(
                role=rng.choice(["system", "user", "assistant", ""]),
                content=_text(rng),
                name=_text(rng),
            )
    for _ in range(rng.randint(0, 2)):
        genai.tool_calls.add(
            id=_text(rng), name=_text(rng), arguments=_text(rng), result=_text(rng)
        )


def random_v020(rng: random.Random) -> Any:
    request = lokryn.LogRequest()
    maybe = rng.random
    request.event_type = rng.choice(list(lokryn.EventType.values()))
    request.outcome = rng.choice(list(lokryn.Outcome.values()))
    request.severity = rng.choice(list(lokryn.Severity.values()))
    request.sensitivity = rng.choice(list(lokryn.Sensitivity.values()))
    for name in ("ocsf_class_uid", "ocsf_activity_id"):
        if maybe() < 0.7:
            setattr(request, name, rng.randint(-(2**31), 2**31 - 1))
    for name in ("request_size_bytes", "response_size_bytes"):
        if maybe() < 0.7:
            setattr(request, name, rng.randint(-(2**63), 2**63 - 1))
    if maybe() < 0.7:
        request.duration_ms = rng.randint(-(2**53), 2**53)
    if maybe() < 0.7:
        request.time.seconds = rng.randint(0, 2**34)
        request.time.nanos = rng.randint(0, 999_999_999)
    for name in (
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
    ):
        if maybe() < 0.7:
            setattr(request, name, _text(rng))
    request.policy_tags.extend(_text(rng) for _ in range(rng.randint(0, 3)))
    if maybe() < 0.6:
        meta = request.metadata
        meta.schema_version, meta.product_name = _text(rng), _text(rng)
        meta.product_version, meta.vendor_name = _text(rng), _text(rng)
    choice = rng.randint(0, 3)
    if choice == 1:
        request.genai.SetInParent()
        _genai(rng, request.genai)
    elif choice == 2:
        mcp = request.mcp
        mcp.SetInParent()
        mcp.protocol_version, mcp.request_id, mcp.tool_name = _text(rng), _text(rng), _text(rng)
        if maybe() < 0.6:
            mcp.tool_arguments.update({"q": _struct_value(rng), "n": _struct_value(rng)})
        if maybe() < 0.6:
            mcp.tool_result.update({"rows": _struct_value(rng)})
        mcp.resource_uri, mcp.resource_mime_type = _text(rng), _text(rng)
        if maybe() < 0.5:
            mcp.sampling.SetInParent()
            _genai(rng, mcp.sampling)
        mcp.client_capabilities.extend(_text(rng) for _ in range(rng.randint(0, 3)))
        mcp.server_capabilities.extend(_text(rng) for _ in range(rng.randint(0, 3)))
    elif choice == 3:
        request.data.update(
            {_text(rng) or "k": _struct_value(rng) for _ in range(rng.randint(0, 4))}
        )
    return request


def build_v020(seed: int, count: int) -> list[dict[str, Any]]:
    out = [
        {"name": name, "hex": request.SerializeToString().hex(), "dict": as_dict(request)}
        for name, request in seed_v020()
    ]
    rng = random.Random(seed)
    for n in range(count):
        request = random_v020(rng)
        out.append(
            {
                "name": f"random-{n}",
                "hex": request.SerializeToString().hex(),
                "dict": as_dict(request),
            }
        )
    return out


def main() -> None:
    command = sys.argv[1]
    if command == "describe":
        result: Any = describe()
    elif command == "build-v011":
        result = build_v011()
    elif command == "parse-v011":
        result = parse_v011(json.load(sys.stdin))
    elif command == "build-v020":
        result = build_v020(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
