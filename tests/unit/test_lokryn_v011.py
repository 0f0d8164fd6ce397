"""lokryn 0.1.1 bytes are our bytes: checked against the real package from PyPI."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields
from tests.support.lokryn import Lokryn

SHARED_FIELDS = {
    "event_type",
    "outcome",
    "severity",
    "actor_id",
    "component",
    "environment",
    "resource",
    "message",
    "payload",
    "policy_tags",
    "sensitivity",
}


def as_dict(entry: pb.LogEntry) -> dict[str, Any]:
    return MessageToDict(entry, preserving_proto_field_name=True)


def test_descriptors_match_field_for_field(lokryn_v011: Lokryn) -> None:
    theirs = lokryn_v011.run("describe")
    assert theirs["package"] == "lokryn.compliancelog.v1"
    for field, spec in theirs["messages"]["LogEntry"].items():
        ours = pb.LogEntry.DESCRIPTOR.fields_by_name[field]
        assert (ours.number, ours.type) == (spec["number"], spec["type"]), field
    for enum_name, values in theirs["enums"].items():
        ours = pb.DESCRIPTOR.enum_types_by_name[enum_name]
        for name, number in values.items():
            assert ours.values_by_name[name].number == number, name


def test_their_bytes_parse_natively_with_identical_values(lokryn_v011: Lokryn) -> None:
    built = lokryn_v011.run("build-v011")
    names = {item["name"] for item in built}
    assert {example["name"] for example in SEED_EXAMPLES} <= names
    assert "EVENT_GUARDRAIL_CHECK" in names and "SENSITIVITY_HIGHLY_RESTRICTED" in names
    for item in built:
        entry = pb.LogEntry()
        entry.ParseFromString(bytes.fromhex(item["hex"]))
        assert as_dict(entry) == item["dict"], item["name"]
        assert entry.SerializeToString().hex() == item["hex"], item["name"]


def test_our_bytes_parse_in_their_package_and_round_trip(lokryn_v011: Lokryn) -> None:
    ours = []
    for example in SEED_EXAMPLES:
        entry = pb.LogEntry(**entry_fields(example))
        # Fields 12+ are unknown to 0.1.1; it must keep them and ignore them.
        entry.event_id = "0190f7e4-9c2b-7abc-8def-0123456789ab"
        entry.tenant_id = "acme"
        entry.event_time.seconds = 1_760_000_000
        entry.ai.provider = "openai"
        ours.append(entry)
    parsed = lokryn_v011.run("parse-v011", payload=[e.SerializeToString().hex() for e in ours])
    for entry, result in zip(ours, parsed, strict=True):
        shared = {k: v for k, v in as_dict(entry).items() if k in SHARED_FIELDS}
        assert result["dict"] == shared
        back = pb.LogEntry()
        back.ParseFromString(bytes.fromhex(result["reencoded"]))
        assert back == entry
