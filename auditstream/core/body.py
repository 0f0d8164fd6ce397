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
    seconds, nanos = divmod(received_time_ns, 1_000_000_000)
    body = SealedBody(
        chain_id=chain_id,
        seq=seq,
        classification=classification,
        received_time={"seconds": seconds, "nanos": nanos},
        source=(
            {"topic": source_topic, "partition": source_partition, "offset": source_offset}
            if source_topic
            else None
        ),
    )
    if isinstance(entry, bytes):
        body.entry.ParseFromString(entry)
    else:
        body.entry.CopyFrom(entry)
    return body.SerializeToString(deterministic=True)


def decode_body(data: bytes) -> SealedBody:
    """Parse stored body bytes; raises google.protobuf.message.DecodeError."""
    body = SealedBody()
    body.ParseFromString(data)
    return body
