"""The generated insert path, without ClickHouse: the format schema is wire-compatible
with the project's messages (compiled by protoc and parsed with it), frames keep each
entry and body, bulk derivations equal the one-by-one ones, and the sink refuses bad
settings and malformed envelopes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc
from hypothesis import given
from hypothesis import strategies as st

from auditstream.clickhouse import ingest, schema
from auditstream.errors import ConfigError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.sinks.clickhouse import SinkConfig, checkpoint_problem, envelope_problem
from tests.support.archive_kit import sealed_outputs


def compiled_row_type(tmp_path: Path) -> type:
    """IngestRow as protoc compiles `ingest.PROTO`."""
    (tmp_path / "ingest.proto").write_text(ingest.PROTO)
    out = tmp_path / "ingest.desc"
    code = protoc.main(
        ["protoc", f"-I{tmp_path}", f"--descriptor_set_out={out}", str(tmp_path / "ingest.proto")]
    )
    assert code == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(ingest.MESSAGE))


def read_frames(data: bytes) -> list[bytes]:
    """Split length-delimited messages (as ClickHouse's FORMAT Protobuf reads them)."""
    out, pos = [], 0
    while pos < len(data):
        size, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        out.append(data[pos : pos + size])
        pos += size
    return out


def test_the_format_schema_reads_the_sealed_bytes_as_the_project_does(tmp_path: Path) -> None:
    row_type = compiled_row_type(tmp_path)
    values = [v for _, v in sealed_outputs(200, chains=2).sealed]
    entries = [sealed.SealedEntry.FromString(v) for v in values]
    frames = ingest.frame_all((v, e.body) for v, e in zip(values, entries, strict=True))
    rows = [row_type.FromString(raw) for raw in read_frames(bytes(frames.data))]
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert (row.chain_id, row.seq, row.body, row.mac) == (
            entry.chain_id,
            entry.seq,
            entry.body,
            entry.mac,
        )
        body = sealed.SealedBody.FromString(entry.body)
        parsed = getattr(row, ingest.BODY_FIELD)
        for path in schema.references(" ".join(c.expression for c in schema.EVENT_COLUMNS)):
            assert at(parsed, path) == at(body, path), path


def at(message: object, path: str) -> object:
    """The value at a dotted path; across a repeated message field, one value per item."""
    values: list[object] = [message]
    repeated = False
    for part in path.split("."):
        found = [getattr(v, part) for v in values]
        if len(found) == 1 and not isinstance(found[0], (str, bytes, int, float, bool)):
            try:
                items = list(found[0])  # type: ignore[call-overload]
            except TypeError:
                items = found
            else:
                repeated = True
            values = items
        else:
            values = found
    return values if repeated else values[0]


def test_every_referenced_field_has_a_null_table_column() -> None:
    paths = {p for c in schema.EVENT_COLUMNS for p in schema.references(c.expression)}
    assert {ingest.column_name(p) for p in paths} <= set(ingest.INGEST_COLUMNS)
    assert ingest.INGEST_COLUMNS["sealed_entry_ai_safety_passed"] == "Nullable(Bool)"
    assert ingest.INGEST_COLUMNS["sealed_classification_detections_kind"] == "Array(String)"
    assert ingest.INGEST_COLUMNS["sealed_entry_event_type"] == "Int32"  # enums as numbers
    assert ingest.TABLE.startswith(ingest.PREFIX) and ingest.VIEW == ingest.TABLE + "_mv"


def test_frames_keep_each_entry_and_body() -> None:
    values = [v for _, v in sealed_outputs(50, chains=1).sealed]
    bodies = [sealed.SealedEntry.FromString(v).body for v in values]
    frames = ingest.frame_all(zip(values, bodies, strict=True))
    assert len(frames) == len(values)
    assert [frames.entry(i) for i in range(len(frames))] == values
    assert [frames.body(i) for i in range(len(frames))] == bodies
    part = frames.subset([3, 7, 49])
    assert [part.entry(i) for i in range(3)] == [values[3], values[7], values[49]]
    assert ingest.unparseable(frames) == {}


timestamps = st.builds(
    lambda s, n: (s, n),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1),
)


@given(st.lists(timestamps, max_size=20), st.booleans())
def test_bulk_time_derivation_equals_one_by_one(
    stamps: list[tuple[int, int]], narrow: bool
) -> None:
    values = []
    for seconds, nanos in stamps:
        ts = sealed.SealedBody().received_time
        ts.seconds = seconds % 10**9 if narrow else seconds
        ts.nanos = nanos
        values.append(ts)
    (column,) = [c for c in schema.EVENT_COLUMNS if c.name == "received_time"]
    assert column.values(values) == [column.derive(v) for v in values]  # type: ignore[misc]
    assert all(schema.MIN_MICROS <= m <= schema.MAX_MICROS for m in column.values(values))


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20))
def test_bulk_clamps_equal_one_by_one(numbers: list[int]) -> None:
    for name in ("severity", "ai_input_tokens"):
        (column,) = [c for c in schema.EVENT_COLUMNS if c.name == name]
        assert column.values(numbers) == [column.derive(n) for n in numbers]  # type: ignore[misc]


def test_payload_text_is_the_text_or_its_base64() -> None:
    (column,) = [c for c in schema.EVENT_COLUMNS if c.name == "payload"]
    assert column.derive is not None
    assert column.derive('{"a": "é"}'.encode()) == '{"a": "é"}'
    assert column.derive(b"\xff\xfe") == "base64://4="
    assert column.derive(b"\xed\xa0\x80") == "base64:7aCA"  # a UTF-8-encoded surrogate


@pytest.mark.parametrize(
    ("rows", "seconds", "size"),
    [(0, 1.0, 2**26), (-5, 1.0, 2**26), (10, math.nan, 2**26), (10, -1.0, 2**26),
     (10, math.inf, 2**26), (10, 1.0, 10)],
)  # fmt: skip
def test_sink_config_refuses_bad_batches(rows: int, seconds: float, size: int) -> None:
    topics = Topics("r", "s", "c", "d", "st", 1)
    with pytest.raises(ConfigError, match="batch_"):
        SinkConfig(
            KafkaConnection("k:9092"),
            topics,
            batch_rows=rows,
            batch_seconds=seconds,
            batch_bytes=size,
        )
    with pytest.raises(ConfigError, match="valid"):
        SinkConfig(KafkaConnection("k:9092"), topics, database="a; DROP TABLE x")


def test_malformed_envelopes_are_named() -> None:
    entry = sealed.SealedEntry.FromString(sealed_outputs(1, chains=1).sealed[0][1])
    assert envelope_problem(entry) == ""
    for change, reason in [
        ({"chain_id": ""}, "chain id '' is not valid"),
        ({"entry_hash": b"x" * 33}, "entry_hash has 33 bytes, not 32"),
        ({"mac": b""}, "mac has 0 bytes, not 32"),
        ({"body": b""}, "sealed entry without a body"),
    ]:
        bad = sealed.SealedEntry()
        bad.CopyFrom(entry)
        for name, value in change.items():
            setattr(bad, name, value)
        assert envelope_problem(bad) == reason
    good = sealed.Checkpoint(chain_id="t", tree_size=1, root_hash=b"r" * 32, note=b"ok")
    assert checkpoint_problem(good) == ""
    assert checkpoint_problem(sealed.Checkpoint(chain_id="t", root_hash=b"r")) == (
        "root_hash has 1 bytes, not 32"
    )
