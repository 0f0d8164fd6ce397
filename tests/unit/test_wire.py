"""The hand-written encoders of the sealed formats write exactly what upb's deterministic
serialization writes for the same messages: on the workload, and on crafted values at
every boundary (defaults left out, empty submessages kept, ten-byte negative varints)."""

from __future__ import annotations

import random

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from auditstream.core import wire
from auditstream.core.body import DetectionItem, body_bytes, encode_classification, source_record
from auditstream.core.chain import encode_link
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.samples.workload import Workload, generate

U64 = st.integers(min_value=0, max_value=2**64 - 1)
I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
I32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
TIMES = st.integers(
    min_value=wire.MIN_SECONDS * wire.NANOS, max_value=wire.MAX_SECONDS * wire.NANOS
)
TEXT = st.text(max_size=40)
HASH = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))
DETECTION = st.tuples(TEXT, TEXT, st.integers(min_value=0, max_value=2**32 - 1), st.booleans())


def upb_timestamp(nanoseconds: int) -> bytes:
    ts = Timestamp()
    ts.FromNanoseconds(nanoseconds)
    return ts.SerializeToString(deterministic=True)


@given(U64)
def test_varints_of_unsigned_fields(value: int) -> None:
    assert wire.optional_varint(2, value) == sealed.SealedEntry(seq=value).SerializeToString()


@given(I64, I32)
def test_varints_of_signed_fields(offset: int, partition: int) -> None:
    expected = sealed.SourceRecord(partition=partition, offset=offset).SerializeToString()
    assert wire.optional_varint(2, partition) + wire.optional_varint(3, offset) == expected


@pytest.mark.parametrize(
    "value",
    [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**28, 2**35 - 1, 2**35, 2**63, 2**64 - 1],
)
def test_varint_boundaries(value: int) -> None:
    assert wire.read_varint(wire.varint(value), 0) == (value, len(wire.varint(value)))
    if value:
        assert b"\x10" + wire.varint(value) == sealed.SealedEntry(seq=value).SerializeToString()


@given(TIMES)
def test_timestamps(nanoseconds: int) -> None:
    assert wire.timestamp(nanoseconds) == upb_timestamp(nanoseconds)


def test_timestamps_outside_the_range_are_refused_as_upb_refuses_them() -> None:
    for nanoseconds in ((wire.MAX_SECONDS + 1) * wire.NANOS, (wire.MIN_SECONDS - 1) * wire.NANOS):
        with pytest.raises(ValueError):
            upb_timestamp(nanoseconds)
        with pytest.raises(ValueError):
            wire.timestamp(nanoseconds)


def upb_classification(
    declared: int,
    detections: list[DetectionItem],
    tags: list[str],
    retention_class: str,
    until_ns: int,
    hold: bool,
    version: str,
    notes: list[str],
) -> bytes:
    message = sealed.Classification(
        declared_sensitivity=declared,  # type: ignore[arg-type]
        detections=[
            sealed.Detection(kind=k, field=f, count=c, masked=m) for k, f, c, m in detections
        ],
        added_policy_tags=tags,
        retention_class=retention_class,
        legal_hold=hold,
        policy_version=version,
        notes=notes,
    )
    message.retain_until.FromNanoseconds(until_ns)
    return message.SerializeToString(deterministic=True)


@given(
    st.integers(min_value=0, max_value=5),
    st.lists(DETECTION, max_size=4),
    st.lists(TEXT, max_size=3),
    TEXT,
    TIMES,
    st.booleans(),
    TEXT,
    st.lists(TEXT, max_size=3),
)
def test_classifications(
    declared: int,
    detections: list[DetectionItem],
    tags: list[str],
    retention_class: str,
    until_ns: int,
    hold: bool,
    version: str,
    notes: list[str],
) -> None:
    ours = encode_classification(
        declared_sensitivity=declared,
        detections=detections,
        added_policy_tags=tags,
        retention_class=retention_class,
        retain_until_ns=until_ns,
        legal_hold=hold,
        policy_version=version,
        notes=notes,
    )
    expected = upb_classification(
        declared, detections, tags, retention_class, until_ns, hold, version, notes
    )
    assert ours == expected


def upb_body(
    entry: pb.LogEntry,
    classification: bytes | None,
    chain_id: str,
    seq: int,
    received_ns: int,
    topic: str,
    partition: int,
    offset: int,
    protected: bytes = b"",
) -> bytes:
    body = sealed.SealedBody()
    body.entry.CopyFrom(entry)
    if classification is not None:
        body.classification.CopyFrom(sealed.Classification.FromString(classification))
    body.chain_id = chain_id
    body.seq = seq
    body.received_time.FromNanoseconds(received_ns)
    if topic:
        body.source.topic = topic
        body.source.partition = partition
        body.source.offset = offset
    if protected:
        body.protected.CopyFrom(sealed.ProtectedFields.FromString(protected))
    return body.SerializeToString(deterministic=True)


def entries() -> list[pb.LogEntry]:
    """The workload's events, plus the emptiest and the fullest entries we can make."""
    found = list(generate(random.Random(5), 120, Workload(tenants=4)))
    found.append(pb.LogEntry())
    unicode = pb.LogEntry(actor_id="ä-\u2603-\U0001f600", message="x\x00y", tenant_id="t")
    unicode.data.update({"b": 1, "a": {"z": [1, "x", None, True]}})  # a Struct: map order
    unicode.ai.SetInParent()
    found.append(unicode)
    return found


@pytest.mark.parametrize(
    ("chain_id", "seq", "received_ns", "topic", "partition", "offset"),
    [
        ("tenant-001", 0, 0, "", 0, 0),
        ("acme/shard1", 1, 1_767_225_600_123_000_000, "audit.raw.v1", 0, 0),
        ("a", 2**64 - 1, -1, "raw", 2**31 - 1, 2**63 - 1),
        ("", 12345, 999, "t", -1, -5),
    ],
)
def test_bodies_of_every_entry(
    chain_id: str, seq: int, received_ns: int, topic: str, partition: int, offset: int
) -> None:
    classification = upb_classification(
        3, [("email", "message", 2, False)], ["GDPR"], "gdpr", 10**18, False, "v1", []
    )
    protected = sealed.ProtectedFields(
        algorithm="AES-256-GCM",
        subjects=[sealed.SubjectKey(subject_digest=b"\x01" * 16, key_id="ab" * 16 + ".0a0b0c0d")],
        nonce=b"\x00" * 12,
        ciphertext=b"\xff" * 40,
        fields=["actor_id", "message"],
        indexes=[sealed.BlindIndex(field="actor_id", digest=b"\x02" * 16)],
    ).SerializeToString(deterministic=True)
    for entry in entries():
        for cls, sealed_fields in ((classification, b""), (b"", protected), (None, protected)):
            ours = body_bytes(
                entry.SerializeToString(deterministic=True),
                cls,
                chain_id,
                seq,
                received_ns,
                source_record(topic, partition, offset),
                sealed_fields,
            )
            assert ours == upb_body(
                entry, cls, chain_id, seq, received_ns, topic, partition, offset, sealed_fields
            )


@given(TEXT, U64, HASH, HASH, HASH, TEXT, HASH, st.binary(max_size=300))
def test_links(
    chain_id: str,
    seq: int,
    prev: bytes,
    digest: bytes,
    ehash: bytes,
    key_id: str,
    mac: bytes,
    body: bytes,
) -> None:
    expected = sealed.SealedEntry(
        chain_id=chain_id,
        seq=seq,
        prev_hash=prev,
        body_digest=digest,
        entry_hash=ehash,
        key_id=key_id,
        mac=mac,
        body=body,
    ).SerializeToString(deterministic=True)
    chain_field = wire.optional_bytes(1, chain_id.encode())
    key_field = wire.optional_bytes(6, key_id.encode())
    assert encode_link(chain_field, seq, prev, digest, ehash, key_field, mac, body) == expected
