"""The SealedBody bytes a chain entry commits to.

Bodies are serialized once, deterministically (map fields sorted), and stored as is.
Nothing ever re-serializes a body to check it: verification hashes the stored bytes.
"""

from __future__ import annotations

from auditstream.proto.v1.log_entry_pb2 import LogEntry
from auditstream.proto.v1.sealed_pb2 import Classification, SealedBody


def encode_body(
    entry: LogEntry | bytes,
    *,
    chain_id: str,
    seq: int,
    received_time_ns: int,
    source_topic: str = "",
    source_partition: int = 0,
    source_offset: int = 0,
    classification: Classification | None = None,
) -> bytes:
    """Serialize a SealedBody.

    `entry` may be a LogEntry or its serialized bytes; bytes are parsed straight into
    the body (no intermediate message), then everything is serialized
    deterministically. `received_time_ns` is the raw record's Kafka timestamp in
    nanoseconds since the epoch.
    """
    body = SealedBody()
    if isinstance(entry, bytes):
        body.entry.ParseFromString(entry)
    else:
        body.entry.CopyFrom(entry)
    if classification is not None:
        body.classification.CopyFrom(classification)
    body.chain_id = chain_id
    body.seq = seq
    received = body.received_time
    received.seconds, received.nanos = divmod(received_time_ns, 1_000_000_000)
    if source_topic:
        source = body.source
        source.topic = source_topic
        source.partition = source_partition
        source.offset = source_offset
    return body.SerializeToString(deterministic=True)


def decode_body(data: bytes) -> SealedBody:
    """Parse stored body bytes; raises google.protobuf.message.DecodeError."""
    body = SealedBody()
    body.ParseFromString(data)
    return body
