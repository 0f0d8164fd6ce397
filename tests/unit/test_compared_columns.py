"""The verifier's column-wise reading of bodies equals the sink's row definition."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auditstream.core.body import decode_body
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.sinks import rows
from tests.archive_kit import sealed_outputs


def as_compared(name: str, value: Any) -> Any:
    if name in ("event_time", "received_time"):
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return delta // dt.timedelta(microseconds=1)
    if name == "retain_until":
        return int(value.timestamp())
    return value


def test_compared_columns_match_the_rows_the_sink_writes() -> None:
    out = sealed_outputs(800, chains=3)
    bodies = [decode_body(sealed.SealedEntry.FromString(v).body) for _, v in out.sealed]
    compared = rows.compared_columns(bodies)
    assert set(compared) == set(rows.VERIFIED)
    assert set(rows.COMPARED_SQL) <= set(rows.VERIFIED)
    for index, body in enumerate(bodies):
        expected = {k: as_compared(k, v) for k, v in rows.verified_columns(body).items()}
        assert {name: values[index] for name, values in compared.items()} == expected
