"""ClickHouse as a verification source: `audit_events` rows in (chain, seq) order.

Rows are streamed chain by chain, ordered by seq (then entry_hash, so two rows for one
seq come out in a stable order and are reported as a duplicate or a fork). Every row
carries its queryable columns, which the verifier compares with the stored body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from auditstream.core.chain import ChainHead
from auditstream.sinks import rows
from auditstream.sinks.sql import ident
from auditstream.verification.sources import Batch, Flag, Link

SKELETON = ("chain_id", "seq", "prev_hash", "body_digest", "entry_hash", "key_id", "mac", "body")
# Whether an entry's content may have expired by now (both are verified columns too).
EXPIRY = ("legal_hold", "retain_until")
BATCH_ROWS = 4096


class ClickHouseSource:
    name = "clickhouse"

    def __init__(
        self,
        client: Any,
        database: str = "auditstream",
        *,
        tenant: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: bool = True,
        now: dt.datetime | None = None,
    ) -> None:
        self.client = client
        self.events = f"{ident(database)}.audit_events"
        self.checkpoint_table = f"{ident(database)}.audit_checkpoints"
        self.tenant = tenant
        self.start = start
        self.end = end
        self.check_columns = columns
        self.now = now or dt.datetime.now(dt.UTC)
        self._ranges: dict[str, tuple[int, int]] = {}

    def _scope(self) -> tuple[str, dict[str, Any]]:
        if self.tenant is None:
            return "1", {}
        return "tenant_id = {tenant:String}", {"tenant": self.tenant}

    def chains(self, chain: str | None) -> list[str]:
        scope, params = self._scope()
        if chain is not None:
            scope += " AND chain_id = {chain:String}"
            params["chain"] = chain
        sql = (
            f"SELECT DISTINCT chain_id FROM {self.events} WHERE {scope} "  # noqa: S608 - identifiers checked
            f"UNION DISTINCT SELECT DISTINCT chain_id FROM {self.checkpoint_table} WHERE {scope}"
        )
        found = sorted(str(c) for (c,) in self.client.query(sql, parameters=params).result_rows)
        if self.start is None and self.end is None:
            return found
        return [c for c in found if self._range(c) is not None]

    def _range(self, chain_id: str) -> tuple[int, int] | None:
        """The seqs whose received time falls in [start, end)."""
        if chain_id not in self._ranges:
            result = self.client.query(
                f"SELECT min(seq), max(seq), count() FROM {self.events} "  # noqa: S608
                "WHERE chain_id = {chain:String} AND received_time >= {start:DateTime64(6)} "
                "AND received_time < {end:DateTime64(6)}",
                parameters={
                    "chain": chain_id,
                    "start": self.start or dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                    "end": self.end or dt.datetime(2200, 1, 1, tzinfo=dt.UTC),
                },
            ).result_rows
            low, high, count = result[0]
            if not count:
                return None
            self._ranges[chain_id] = (int(low), int(high))
        return self._ranges[chain_id]

    def start_head(self, chain_id: str) -> ChainHead | None:
        """For a time range: the head to continue from (the entry before the range, as
        stored). None when verifying from genesis."""
        if self.start is None and self.end is None:
            return None
        found = self._range(chain_id)
        if found is None or found[0] == 0:
            return None
        first = found[0]
        result = self.client.query(
            f"SELECT entry_hash FROM {self.events} "  # noqa: S608
            "WHERE chain_id = {chain:String} AND seq = {seq:UInt64} ORDER BY entry_hash LIMIT 1",
            parameters={"chain": chain_id, "seq": first - 1},
        ).result_rows
        head = bytes(result[0][0]) if result else b"\x00" * 32
        return ChainHead(chain_id, first, head)

    def checkpoints(self, chain_id: str) -> list[bytes]:
        result = self.client.query(
            f"SELECT note FROM {self.checkpoint_table} WHERE chain_id = {{chain:String}}",  # noqa: S608
            parameters={"chain": chain_id},
        )
        return [str(note).encode() for (note,) in result.result_rows]

    def batches(self, chain_id: str, flag: Flag) -> Iterator[Batch]:
        wanted = [*SKELETON, *(rows.VERIFIED if self.check_columns else EXPIRY)]
        where = "chain_id = {chain:String}"
        params: dict[str, Any] = {"chain": chain_id}
        seq_range = self._range(chain_id) if (self.start or self.end) else None
        if seq_range is not None:
            where += " AND seq BETWEEN {low:UInt64} AND {high:UInt64}"
            params |= {"low": seq_range[0], "high": seq_range[1]}
        sql = (
            f"SELECT {', '.join(wanted)} FROM {self.events} WHERE {where} "  # noqa: S608
            "ORDER BY seq, entry_hash"
        )
        names = wanted[len(SKELETON) :]
        now = self.now
        with self.client.query_row_block_stream(
            sql, parameters=params, column_formats={"body": "bytes"}
        ) as stream:
            for block in stream:
                for start in range(0, len(block), BATCH_ROWS):
                    yield _batch(block[start : start + BATCH_ROWS], names, now, self.check_columns)


def _batch(block: Any, names: list[str], now: dt.datetime, with_columns: bool) -> Batch:
    links = []
    columns = []
    due = []
    width = len(SKELETON)
    for row in block:
        links.append(Link(*row[:width]))
        stored = rows.normalise(dict(zip(names, row[width:], strict=True)))
        due.append(not stored["legal_hold"] and stored["retain_until"] <= now)
        if with_columns:
            columns.append(stored)
    return Batch(links, columns if with_columns else None, due)
