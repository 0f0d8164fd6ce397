"""Classification masks secrets and cards, raises sensitivity, adds policy tags."""

from __future__ import annotations

import json

import pytest

from auditstream.core.classify import Classifier, json_of_struct
from auditstream.proto.v1 import log_entry_pb2 as pb
from tests.support.secrets_corpus import POSITIVE, Secret, fill_every_text_field

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


def test_non_json_payloads_are_scanned_as_text_and_binary_masked_in_place() -> None:
    text = pb.LogEntry(
        actor_id="a", payload_content_type="text/plain", payload=f"key {AWS}".encode()
    )
    Classifier().classify(text)
    assert text.payload == b"key [REDACTED:aws_access_key]"
    data = b"\xa1\xff\x00" + AWS.encode() + b"\xff"
    binary = pb.LogEntry(actor_id="a", payload_content_type="application/x-bin", payload=data)
    outcome = Classifier().classify(binary)
    # Byte for byte, so binary framing (lengths) still holds.
    assert binary.payload == b"\xa1\xff\x00" + b"*" * len(AWS) + b"\xff"
    assert ("aws_access_key", "payload") in outcome.masked


@pytest.mark.parametrize("item", [s for s in POSITIVE if s.family in ("aws", "named", "card")][:6])
def test_a_secret_in_every_text_field_is_masked(item: Secret) -> None:
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, event_id="e1", tenant_id="acme")
    filled = fill_every_text_field(entry, item.text)
    entry.payload = json.dumps({"deep": [{"er": item.text}]}).encode()
    entry.payload_content_type = ""
    assert len(filled) > 40  # the walk above found the schema's text fields
    Classifier().classify(entry)
    stored = entry.SerializeToString()
    assert item.secret.encode() not in stored, item


@pytest.mark.parametrize("item", POSITIVE)
def test_the_records_bytes_stand_in_for_the_entrys_with_the_same_result(item: Secret) -> None:
    """The engine hands the classifier the record an unchanged entry was parsed from
    instead of serializing the entry again: the outcome must be the same."""
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, event_id="e1", tenant_id="acme")
    fill_every_text_field(entry, item.text)
    entry.data.update({"note": item.text})
    record = entry.SerializeToString()
    again = pb.LogEntry.FromString(record)
    expected = Classifier().classify(entry)
    outcome = Classifier().classify(again, None, record)
    assert again == entry
    assert outcome.to_proto() == expected.to_proto() and outcome.masked == expected.masked
    assert outcome.changed and outcome.added_tags == expected.added_tags


def test_values_under_secret_named_keys_are_masked_whatever_they_look_like() -> None:
    entry = pb.LogEntry(
        event_type=pb.EVENT_CONFIG_CHANGE,
        actor_id="u1",
        payload=json.dumps(
            {"db": {"Password": "a", "port": 5432, "apiKey": 12345, "empty_token": ""}}
        ).encode(),
    )
    entry.data.update({"client_secret": "plain words", "credentials": {"user": "x"}})
    entry.change.old_values.update({"SecretAccessKey": "b"})
    outcome = Classifier().classify(entry)
    assert json.loads(entry.payload) == {
        "db": {
            "Password": "[REDACTED:secret_field]",
            "port": 5432,
            "apiKey": "[REDACTED:secret_field]",
            "empty_token": "",
        }
    }
    assert json_of_struct(entry.data) == {
        "client_secret": "[REDACTED:secret_field]",
        "credentials": {"user": "[REDACTED:secret_field]"},
    }
    assert json_of_struct(entry.change.old_values) == {"SecretAccessKey": "[REDACTED:secret_field]"}
    assert ("secret_field", "data") in outcome.masked
    assert entry.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED


def test_json_escapes_do_not_hide_a_secret() -> None:
    escaped = '{"note": "\\u0041KIAGPRQSE4T5ZZHQOUW"}'
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u1", payload=escaped.encode())
    Classifier().classify(entry)
    assert json.loads(entry.payload) == {"note": "[REDACTED:aws_access_key]"}


def test_identity_fields_are_not_rewritten() -> None:
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u", event_id="password=x")
    entry.tenant_id = "token=y"
    Classifier().classify(entry)
    assert (entry.event_id, entry.tenant_id) == ("password=x", "token=y")
