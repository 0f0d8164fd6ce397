"""The pure parts of the lokryn-mcp-log receiver and the rotalabs-comply backend, with
the real packages' own message builders."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from lokryn_mcp_log import LogConfig
from lokryn_mcp_log.builder import build_log_record
from lokryn_mcp_log.schema import EVENT_TOOL_INVOCATION, OUTCOME_FAILURE_ERROR
from rotalabs_comply.audit.encryption import hash_content
from rotalabs_comply.audit.storage import AuditEntry

from auditstream.core.body import encode_body
from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey
from auditstream.core.lokryn import from_lokryn_v020, map_log_request
from auditstream.integrations.comply import audit_entry, log_entry
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.lokryn_http import (
    LokrynReceiver,
    RefusedError,
    request_from_json,
    tool_content,
)
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.secret import Secret

POLICY = DigestPolicy(HmacKey("salt-1", b"s" * 32))
SECRET = Secret("sink-secret")


def lokryn_record() -> Any:
    config = LogConfig(environment="prod", actor_id="agent-1", policy_tags=["PCI"])
    return build_log_record(
        config, EVENT_TOOL_INVOCATION, OUTCOME_FAILURE_ERROR, "tools/pay", "Tool 'pay' failed",
        tool_name="pay", tool_arguments={"card": "4111 1111 1111 1111"}, duration_ms=40,
    )  # fmt: skip


def test_lokryn_json_and_protobuf_bodies_map_to_the_same_entry() -> None:
    record = lokryn_record()
    as_json = json.dumps(MessageToDict(record, preserving_proto_field_name=True)).encode()
    from_json = map_log_request(request_from_json(as_json), POLICY, tenant_id="acme")
    from_bytes = from_lokryn_v020(record.SerializeToString(), POLICY, tenant_id="acme")
    assert from_json == from_bytes
    assert from_json.event_type == pb.EVENT_TOOL_INVOCATION  # 0.2.0's 20, translated
    assert from_json.outcome == pb.OUTCOME_FAILURE_ERROR and from_json.duration_ms == 40.0
    tool_content(from_json, ContentWriter(POLICY))
    assert not from_json.mcp.HasField("tool_arguments")
    assert [c.name for c in from_json.content] == ["mcp.tool.arguments"]
    assert b"4111 1111" not in from_json.SerializeToString()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b'"a string"', "must be a JSON object"),
        (b'{"event_type": "EVENT_WHATEVER"}', "event_type: unknown value"),
        (b'{"no_such_field": 1}', "not a lokryn LogRequest"),
        (b'{"duration_ms": "soon"}', "not a lokryn LogRequest"),
    ],
)
def test_malformed_json_bodies_are_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason) as refused:
        request_from_json(body)
    assert refused.value.status == 400


def call(
    app: LokrynReceiver, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "/ingest",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], json.loads(sent[1]["body"])


def signed(body: bytes, secret: str = "sink-secret") -> dict[str, str]:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


@pytest.fixture
def app(tmp_path: Path) -> LokrynReceiver:
    # A real producer; none of these requests gets as far as producing.
    config = ProducerConfig(kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path / "spool")
    return LokrynReceiver(AuditProducer(config, content=POLICY), SECRET, max_body=64)


def test_the_receiver_refuses_what_it_cannot_trust_or_read(app: LokrynReceiver) -> None:
    body = b'{"actor_id": "a"}'
    assert call(app, "POST", "/ingest/v1/log", body, {}) == (
        401, {"error": "missing X-Signature header (HMAC-SHA256 of the body, hex)"},
    )  # fmt: skip
    assert call(app, "POST", "/ingest/v1/log", body, signed(body, "guess"))[0] == 401
    assert call(app, "POST", "/ingest/v1/log", body, {"X-Signature": "é" * 64})[0] == 401
    assert call(app, "POST", "/ingest/v1/log", b"{oops", signed(b"{oops")) == (
        400, {"error": "body is not JSON: Expecting property name enclosed in double quotes: "
                       "line 1 column 2 (char 1)"},
    )  # fmt: skip
    bad = b"\x0a\xff\xff"
    status, answer = call(app, "POST", "/ingest/v1/log/protobuf", bad, signed(bad))
    assert status == 400 and answer["error"].startswith("unparseable:")
    big = b"x" * 65
    assert call(app, "POST", "/ingest/v1/log", big, signed(big))[0] == 413
    assert call(app, "GET", "/ingest/v1/log", b"", {})[0] == 405
    assert call(app, "POST", "/ingest/elsewhere", b"", {})[0] == 404
    assert call(app, "GET", "/ingest/health", b"", {}) == (
        200,
        {"ok": True, "accepted": 0, "refused": 8},
    )
    assert "sink-secret" not in repr(app.__dict__)


def test_the_receiver_needs_a_secret_and_a_content_key(tmp_path: Path) -> None:
    config = ProducerConfig(kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path)
    with pytest.raises(ValueError, match="HMAC secret"):
        LokrynReceiver(AuditProducer(config, content=POLICY), Secret(""))
    with pytest.raises(ValueError, match="content digest key"):
        LokrynReceiver(AuditProducer(config), SECRET)


def rotalabs_entry(**fields: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "id": "6d1b7c7e-9a3f-4f38-9d55-0e0d2b4a9b10",
        "timestamp": "2026-11-30T10:15:00.123456",
        "input_hash": hash_content("question"),
        "output_hash": hash_content("answer"),
        "input_content": "question",
        "output_content": "answer",
        "provider": "anthropic",
        "model": "claude",
        "conversation_id": "c-1",
        "safety_passed": False,
        "detectors_triggered": ["pii"],
        "block_reason": "pii",
        "alerts": ["a1"],
        "latency_ms": 12.5,
        "input_tokens": 3,
        "output_tokens": 0,
        "metadata": {"team": "support"},
    }
    return AuditEntry(**(values | fields))


def stored_row(entry: pb.LogEntry) -> list[Any]:
    """The row the backend reads, made as the sink stores it (the body is a SealedBody)."""
    body = encode_body(
        entry, chain_id="acme", seq=0, received_time_ns=entry.event_time.ToNanoseconds()
    )
    return [entry.event_id, entry.event_time.ToDatetime(), "", "", "", None, "", 0.0, 0, 0, body]


def test_a_rotalabs_entry_comes_back_as_written_without_its_text() -> None:
    original = rotalabs_entry()
    entry = log_entry(original, ContentWriter(POLICY), tenant_id="acme")
    assert entry.event_id == original.id and entry.outcome == pb.OUTCOME_FAILURE_DENIED
    assert b"question" not in entry.SerializeToString()
    back = audit_entry(stored_row(entry))
    assert back == rotalabs_entry(input_content=None, output_content=None)


def test_a_rotalabs_entry_with_an_unreadable_timestamp_is_kept_and_marked() -> None:
    entry = log_entry(rotalabs_entry(timestamp="yesterday"), ContentWriter(POLICY), tenant_id="a")
    assert entry.validation_issues == ["timestamp: 'yesterday' is not ISO 8601"]
    assert entry.event_time.ToDatetime(tzinfo=dt.UTC) > dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_an_expired_body_comes_back_from_the_columns() -> None:
    row = [
        "e1",
        dt.datetime(2026, 1, 2, 3, 4, 5),
        "openai",
        "gpt-4o",
        "c",
        False,
        "no",
        9.0,
        4,
        2,
        b"",
    ]
    back = audit_entry(row)
    assert (back.provider, back.model, back.safety_passed, back.input_tokens) == (
        "openai",
        "gpt-4o",
        False,
        4,
    )
    assert back.timestamp == "2026-01-02T03:04:05" and back.metadata == {
        "auditstream.content_removed": True
    }
