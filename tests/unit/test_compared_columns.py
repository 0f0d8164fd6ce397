"""The one column mapping: it names every column of the table, and the rows the sink
inserts read back (as the verifier reads them) to what the verifier recomputes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from auditstream.clickhouse import schema
from auditstream.core.body import decode_body
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.resources import schemas_dir
from tests.support.archive_kit import sealed_outputs


def as_read_back(name: str, value: Any) -> Any:
    """What `compared_sql` selects for an inserted value (ClickHouse's conversions)."""
    if name in ("event_time", "received_time"):
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return delta // dt.timedelta(microseconds=1)
    if name == "retain_until":
        return int(value.timestamp())
    return value


def test_the_mapping_names_every_column_of_the_table_in_order() -> None:
    sql = (schemas_dir() / "clickhouse" / "0001_audit_events.sql").read_text()
    declared = re.findall(
        r"^    ([a-z_]+)\s+(?:LowCardinality|String|UInt|Fixed|Date|Array|Float|Nullable|Bool)",
        sql,
        re.M,
    )
    # Columns later migrations add, where they put them (on the table, not its Distributed
    # copy: the same statement repeats for that).
    for later in sorted((schemas_dir() / "clickhouse").glob("000[2-9]_*.sql")):
        for name, after in re.findall(
            r"ADD COLUMN IF NOT EXISTS ([a-z_]+) .*? AFTER ([a-z_]+)", later.read_text()
        ):
            if name not in declared:
                declared.insert(declared.index(after) + 1, name)
    assert tuple(declared) == schema.COLUMNS


def test_inserted_rows_read_back_to_the_compared_columns() -> None:
    out = sealed_outputs(800, chains=3)
    entries = [sealed.SealedEntry.FromString(v) for _, v in out.sealed]
    bodies = [decode_body(e.body) for e in entries]
    compared = schema.compared_columns(bodies)
    assert set(compared) == set(schema.VERIFIED)
    for index, entry in enumerate(entries):
        inserted = dict(zip(schema.COLUMNS, schema.row(entry), strict=True))
        expected = {name: values[index] for name, values in compared.items()}
        assert {name: as_read_back(name, inserted[name]) for name in schema.VERIFIED} == expected
