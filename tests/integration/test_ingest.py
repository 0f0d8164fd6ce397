"""The sink's insert path on real ClickHouse: the table the ingest view fills equals, row
for row and column for column, the rows the Python mapping derives — on the workload and
on crafted records — and the verifier's reading of it equals what it recomputes."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from auditstream.clickhouse import ingest, migrations, schema
from auditstream.core.body import encode_body
from auditstream.core.chain import Chain, ChainHead
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.resources import schemas_dir
from tests.support.archive_kit import sealed_outputs
from tests.support.chains import KEYRING
from tests.support.infra import unique

pytestmark = pytest.mark.integration

PAYLOADS = [
    b"",
    b'{"ok": true}',
    b"\xff\xfe",
    b"ok\xe2\x82",
    b"\xe2\x82A",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80x",
    b"\xf0\x9f\x98",
    b"\xef\xbf\xbd\xff",
    b"\xf8\x88\x80\x80\x80",
    "caf\u00e9 \U0001f600".encode(),
]


def crafted_entries() -> list[pb.LogEntry]:
    rng = random.Random(13)
    entries = [pb.LogEntry(tenant_id="crafted")]  # every other field empty
    odd = pb.LogEntry(tenant_id="crafted", event_type=77, outcome=-3, severity=300)
    odd.sensitivity = -1
    entries.append(odd)
    entries += [pb.LogEntry(tenant_id="crafted", payload=p) for p in PAYLOADS]
    entries += [
        pb.LogEntry(tenant_id="crafted", payload=bytes(rng.randrange(256) for _ in range(40)))
        for _ in range(300)
    ]
    ai_unset = pb.LogEntry(tenant_id="crafted", event_type=pb.EVENT_MODEL_INFERENCE)
    ai_unset.ai.provider = "p"  # an ai block whose optional fields are all unset
    entries.append(ai_unset)
    negative = pb.LogEntry(tenant_id="crafted")
    negative.ai.input_tokens = -5
    negative.ai.output_tokens = -(2**63)
    negative.ai.safety_passed = False
    negative.ai.response_model = "only-the-response-model"
    entries.append(negative)
    big = pb.LogEntry(tenant_id="crafted")
    big.ai.input_tokens = 2**63 - 1
    big.ai.safety_passed = True
    big.ai.request_model = "request"
    big.ai.response_model = "response"
    big.duration_ms = math.inf
    big.policy_tags.extend(f"tag-{n}" for n in range(40))
    big.validation_issues.extend(["payload: not valid JSON", "\u00e9"])
    big.message = "x" * 100_000
    entries.append(big)
    for seconds, nanos in [
        (0, -1500),
        (-(10**12), 0),
        (10**12, 999_999_999),
        (schema.MIN_SECONDS, 0),
        (schema.MIN_SECONDS, -1),
        (schema.MAX_SECONDS, 999_999_999),
        (schema.MAX_SECONDS + 1, 0),
        (2**63 - 1, 2**31 - 1),
        (-(2**63), -(2**31)),
    ]:
        timed = pb.LogEntry(tenant_id="crafted")
        timed.event_time.seconds, timed.event_time.nanos = seconds, nanos
        entries.append(timed)
    return entries


def classifications() -> list[sealed.Classification]:
    many = sealed.Classification(
        retention_class="default",
        detections=[
            sealed.Detection(kind=kind, field="message", count=n)
            for n, kind in enumerate(["email", "z", "\u00e9", "card_number", "a", "email"] * 9)
        ],
    )
    many.retain_until.seconds = 1_900_000_000
    past = sealed.Classification(legal_hold=True)
    past.retain_until.seconds = -5
    future = sealed.Classification(retention_class="x")
    future.retain_until.seconds = 2**40
    # (A row whose retain_until plus the skeleton days has passed is deleted by the
    # table's TTL on insert, whichever path inserts it.)
    return [many, past, future]


def crafted_records() -> list[bytes]:
    chain = Chain(ChainHead.genesis("crafted"))
    kinds = classifications()
    bodies = [
        encode_body(
            entry,
            chain_id="crafted",
            seq=seq,
            received_time_ns=seq * 1_000_123,
            classification=kinds[seq % len(kinds)],
        )
        for seq, entry in enumerate(crafted_entries())
    ]
    return [link.encode() for link in chain.append_many(bodies, KEYRING.active)]


def store_both(client: Any, values: list[bytes]) -> tuple[list[Any], list[Any]]:
    """The rows of `values` through the ingest view and through `schema.row`."""
    via_view, via_python = unique("view").replace("-", "_"), unique("py").replace("-", "_")
    for database in (via_view, via_python):
        migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database))
    entries = [sealed.SealedEntry.FromString(v) for v in values]
    frames = ingest.frame_all((v, e.body) for v, e in zip(values, entries, strict=True))
    ingest.insert(client, via_view, frames.data)
    rows = [schema.row(e) for e in entries]
    client.insert(f"{via_python}.audit_events", rows, column_names=schema.COLUMNS)
    out = []
    for database in (via_view, via_python):
        result = client.query(
            f"SELECT * FROM {database}.audit_events ORDER BY chain_id, seq",
            column_formats={"body": "bytes"},
        )
        assert tuple(result.column_names) == schema.COLUMNS
        out.append(result.result_rows)
        client.command(f"DROP DATABASE {database}")
    return out[0], out[1]


def differences(left: list[Any], right: list[Any]) -> list[tuple[int, str, Any, Any]]:
    found = []
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        for name, x, y in zip(schema.COLUMNS, a, b, strict=True):
            if x != y:
                found.append((index, name, x, y))
    return found


def test_view_rows_equal_the_python_mapping_on_the_workload(clickhouse: Any) -> None:
    values = [v for _, v in sealed_outputs(1500, chains=4).sealed]
    via_view, via_python = store_both(clickhouse, values)
    assert len(via_view) == len(via_python) == len(values)
    assert differences(via_view, via_python) == []


def test_view_rows_equal_the_python_mapping_on_crafted_records(clickhouse: Any) -> None:
    values = crafted_records()
    via_view, via_python = store_both(clickhouse, values)
    assert len(via_view) == len(via_python) == len(values)
    assert differences(via_view, via_python) == []
    payloads = {row[schema.COLUMNS.index("payload")] for row in via_view}
    assert {"base64://4=", "base64:b2vigg==", "caf\u00e9 \U0001f600"} <= payloads
    unknown = via_view[1]
    column = dict(zip(schema.COLUMNS, unknown, strict=True))
    assert (column["event_type"], column["outcome"], column["severity"]) == ("77", "-3", 255)


def test_the_verifier_reads_back_what_it_recomputes(clickhouse: Any, ch_database: str) -> None:
    values = crafted_records() + [v for _, v in sealed_outputs(300, chains=2).sealed]
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(ch_database))
    entries = [sealed.SealedEntry.FromString(v) for v in values]
    frames = ingest.frame_all((v, e.body) for v, e in zip(values, entries, strict=True))
    ingest.insert(clickhouse, ch_database, frames.data)
    select = ", ".join(schema.compared_sql(schema.VERIFIED))
    stored = clickhouse.query(
        f"SELECT {select} FROM {ch_database}.audit_events ORDER BY chain_id, seq"
    ).result_columns
    order = sorted(range(len(entries)), key=lambda i: (entries[i].chain_id, entries[i].seq))
    bodies = [sealed.SealedBody.FromString(entries[i].body) for i in order]
    expected = schema.compared_columns(bodies)
    for name, column in zip(schema.VERIFIED, stored, strict=True):
        assert list(column) == expected[name], name
    assert expected == {
        name: [schema.compared_row(b)[name] for b in bodies] for name in schema.VERIFIED
    }
