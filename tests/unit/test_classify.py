"""Classification masks secrets and cards, raises sensitivity, adds policy tags."""

from __future__ import annotations

import json

from auditstream.core.classify import Classifier
from auditstream.proto.v1 import log_entry_pb2 as pb

CARD = "4111 1111 1111 1111"
AWS = "AKIAIOSFODNN7EXAMPLE"


def test_secrets_and_cards_are_masked_everywhere() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_DATA_EXPORT,
        actor_id="u1",
        message=f"charged card {CARD} using key {AWS}",
        payload=json.dumps({"card": CARD, "nested": [{"token": f"Bearer {'x' * 32}"}]}).encode(),
        sensitivity=pb.SENSITIVITY_INTERNAL,
    )
    entry.data.update({"key": AWS, "note": "fine"})
    entry.change.new_values.update({"pan": CARD})
    entry.mcp.tool_arguments.update({"query": f"password={'y' * 12}"})
    entry.ai.tool_calls.add(name="pay", arguments=f'{{"card": "{CARD}"}}')
    outcome = Classifier().classify(entry)
    stored = entry.SerializeToString()
    assert CARD.encode() not in stored and CARD.replace(" ", "").encode() not in stored
    assert AWS.encode() not in stored and b"x" * 32 not in stored and b"y" * 12 not in stored
    assert "[card_number:****1111]" in entry.message
    assert json.loads(entry.payload)["card"] == "[card_number:****1111]"
    assert entry.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED
    assert "PCI" in entry.policy_tags and "SOC2" in entry.policy_tags
    assert outcome.changed
    fields = {(d.kind, d.field) for d in outcome.to_proto() if d.masked}
    assert ("card_number", "payload") in fields and ("aws_access_key", "data") in fields


def test_personal_data_is_tagged_not_masked() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_RESOURCE_ACCESS,
        actor_id="u1",
        message="sent report to jane@example.com from 203.0.113.9",
        sensitivity=pb.SENSITIVITY_PUBLIC,
    )
    outcome = Classifier().classify(entry)
    assert entry.message == "sent report to jane@example.com from 203.0.113.9"
    assert entry.sensitivity == pb.SENSITIVITY_CONFIDENTIAL
    assert outcome.added_tags == ["GDPR", "SOC2"]


def test_sensitivity_is_never_lowered() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_AGENT_DECISION,
        actor_id="a",
        message="ip 10.0.0.1",
        sensitivity=pb.SENSITIVITY_HIGHLY_RESTRICTED,
    )
    Classifier().classify(entry)
    assert entry.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED


def test_health_markers_add_hipaa() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_RESOURCE_ACCESS, actor_id="a", message="opened MRN: 0012345678"
    )
    Classifier().classify(entry)
    assert "HIPAA" in entry.policy_tags


def test_clean_events_are_untouched() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_AGENT_DECISION,
        actor_id="agent-001",
        message="Agent chose to escalate to human",
        payload=b'{"options": ["respond", "escalate"], "confidence": 0.92}',
        policy_tags=["audit-trail"],
    )
    before = entry.SerializeToString()
    outcome = Classifier().classify(entry)
    assert not outcome.changed and entry.SerializeToString() == before


def test_non_json_payloads_are_scanned_as_text_and_binary_left_alone() -> None:
    text = pb.LogEntry(
        actor_id="a", payload_content_type="text/plain", payload=f"key {AWS}".encode()
    )
    Classifier().classify(text)
    assert text.payload == b"key [REDACTED:aws_access_key]"
    binary = pb.LogEntry(
        actor_id="a", payload_content_type="application/cbor", payload=b"\xa1\xff" + AWS.encode()
    )
    Classifier().classify(binary)
    assert binary.payload.endswith(AWS.encode())
