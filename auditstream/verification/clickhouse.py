"""ClickHouse as a verification source: `audit_events` rows in (chain, seq) order, read
as column blocks and handed on in large batches.

Rows are streamed chain by chain, ordered by seq (then entry_hash, so two rows for one
seq come out in a stable order and are reported as a duplicate or a fork). Every row
carries its queryable columns, which the verifier compares with the stored body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from auditstream.clickhouse import schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.core.chain import ChainHead, Link
from auditstream.verification.sources import Batch, Flag

SKELETON = ("chain_id", "seq", "prev_hash", "body_digest", "entry_hash", "key_id", "mac", "body")
# Whether an entry's content may have expired by now (both are verified columns too).
EXPIRY = ("legal_hold", "retain_until")
BATCH_ROWS = 65_536  # up to a ClickHouse block: the verifier checks a batch as columns


class ClickHouseSource:
    name = "clickhouse"

    def __init__(
        self,
        client: ClickHouseClient,
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
        self._scan_chains: list[str] | None = None
        self._scan_iter = _peekable(iter(()))
        self._last_asked: str | None = None
        self._notes: dict[str, list[bytes]] | None = None

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
        # All at once: an embedded store runs no query while the row scan is open.
        if self._notes is None:
            scope, params = self._scope()
            result = self.client.query(
                f"SELECT chain_id, note FROM {self.checkpoint_table} WHERE {scope}",  # noqa: S608
                parameters=params,
            )
            notes: dict[str, list[bytes]] = {}
            for chain, note in result.result_rows:
                notes.setdefault(str(chain), []).append(str(note).encode())
            self._notes = notes
        return self._notes.get(chain_id, [])

    def batches(self, chain_id: str, flag: Flag) -> Iterator[Batch]:
        """One chain's rows. Chains asked for in ascending order (as the verifier does)
        come from one ordered scan of the table; others from a query of their own."""
        if self.start is not None or self.end is not None:
            found = self._range(chain_id)
            if found is not None:
                yield from (batch for _, batch in self._scan([chain_id], found))
            return
        if self._scan_chains is None:
            self._scan_chains = self.chains(None)
            self._scan_iter = _peekable(self._scan(self._scan_chains, None))
        scan = self._scan_iter
        if self._last_asked is not None and chain_id <= self._last_asked:
            # Out of order: a query of its own.
            yield from (batch for _, batch in self._scan([chain_id], None))
            return
        self._last_asked = chain_id
        while scan.peek() is not None and scan.peek()[0] < chain_id:  # type: ignore[index]
            next(scan)
        while scan.peek() is not None and scan.peek()[0] == chain_id:  # type: ignore[index]
            yield next(scan)[1]

    def _scan(
        self, chains: list[str], seq_range: tuple[int, int] | None
    ) -> Iterator[tuple[str, Batch]]:
        """(chain, batch) for the chains' rows, ordered by chain, seq and entry hash."""
        names = list(schema.VERIFIED if self.check_columns else EXPIRY)
        select = [*SKELETON, *schema.compared_sql(names)]
        where = "chain_id IN {chains:Array(String)}"
        params: dict[str, Any] = {"chains": chains}
        if seq_range is not None:
            where += " AND seq BETWEEN {low:UInt64} AND {high:UInt64}"
            params |= {"low": seq_range[0], "high": seq_range[1]}
        sql = (
            f"SELECT {', '.join(select)} FROM {self.events} WHERE {where} "  # noqa: S608
            "ORDER BY chain_id, seq, entry_hash"
        )
        now_s = int(self.now.timestamp())
        width = len(SKELETON)
        with self.client.query_column_block_stream(
            sql, parameters=params, column_formats={"body": "bytes"}
        ) as stream:
            for block in stream:
                chain_column = block[0]
                start = 0
                while start < len(chain_column):
                    chain_id = chain_column[start]
                    end = start + 1
                    limit = min(len(chain_column), start + BATCH_ROWS)
                    while end < limit and chain_column[end] == chain_id:
                        end += 1
                    links = list(map(Link, *(column[start:end] for column in block[:width])))
                    stored = {
                        name: list(block[width + i][start:end]) for i, name in enumerate(names)
                    }
                    due = [
                        not hold and until <= now_s
                        for hold, until in zip(
                            stored["legal_hold"], stored["retain_until"], strict=True
                        )
                    ]
                    yield chain_id, Batch(links, stored if self.check_columns else None, due)
                    start = end


class _peekable:  # noqa: N801 - reads like the itertools helper it imitates
    def __init__(self, items: Iterator[tuple[str, Batch]]) -> None:
        self._items = items
        self._next: tuple[str, Batch] | None = next(items, None)

    def peek(self) -> tuple[str, Batch] | None:
        return self._next

    def __iter__(self) -> _peekable:
        return self

    def __next__(self) -> tuple[str, Batch]:
        if self._next is None:
            raise StopIteration
        current = self._next
        self._next = next(self._items, None)
        return current
