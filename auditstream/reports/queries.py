"""Evidence queries as SQL, and running them read-only on ClickHouse.

Each query of the catalog gives up to three statements: its result (`statement`), a
seeded pseudo-random sample of the events it counts (`sample_statement`, ordered by
SipHash of the event id and the seed, so the same seed picks the same events), and its
events over time for the charts (`over_time_statement`). The text recorded in the pack
is the text sent; the values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.reports.evidence import Item, plain
from auditstream.reports.frameworks import Query

DEFAULT_SELECT: Final = (
    "count() AS events, uniqExact(actor_id) AS actors, "
    "countIf(outcome != 'OUTCOME_SUCCESS') AS failed, "
    "min(event_time) AS first, max(event_time) AS last"
)
SCOPE: Final = "tenant_id = {tenant:String}"
PERIOD: Final = "event_time >= {start:DateTime64(6)} AND event_time < {end:DateTime64(6)}"


@dataclass(frozen=True)
class Scope:
    """Whose events, in which period, in which database."""

    tenant: str
    start: dt.datetime
    end: dt.datetime
    database: str = "auditstream"

    def parameters(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "start": self.start, "end": self.end}

    def bucket(self) -> str:
        """The charts' time step: hours for up to two days, else days."""
        return "1 HOUR" if self.end - self.start <= dt.timedelta(days=2) else "1 DAY"


def _fill(text: str, scope: Scope) -> str:
    db = ident(scope.database)
    return (
        text.replace("{table}", f"{db}.audit_events")
        .replace("{checkpoints}", f"{db}.audit_checkpoints")
        .replace("{scope}", SCOPE)
        .replace("{period}", PERIOD)
    )


def _events(query: Query) -> str:
    return f"FROM {{table}} WHERE {{scope}} AND {{period}} AND ({query.where})"


def statement(query: Query, scope: Scope) -> str:
    if query.sql:
        return _fill(query.sql, scope)
    text = f"SELECT {query.select or DEFAULT_SELECT} {_events(query)}"
    if query.group_by:
        text += f" GROUP BY {query.group_by}"
    if query.order_by:
        text += f" ORDER BY {query.order_by}"
    return _fill(text, scope)


def sample_statement(query: Query, scope: Scope, limit: int) -> str:
    return _fill(
        f"SELECT event_id, chain_id, seq {_events(query)} "
        f"ORDER BY sipHash64(event_id, {{seed:UInt64}}), chain_id, seq LIMIT {int(limit)}",
        scope,
    )


def over_time_statement(query: Query, scope: Scope) -> str:
    return _fill(
        f"SELECT toStartOfInterval(event_time, INTERVAL {scope.bucket()}) AS bucket, "
        f"count() AS events {_events(query)} GROUP BY bucket ORDER BY bucket",
        scope,
    )


class Runner:
    """Runs evidence statements on one client, read-only, and records them as items."""

    def __init__(self, client: ClickHouseClient, scope: Scope) -> None:
        self.client = client
        self.scope = scope

    def _item(self, name: str, title: str, sql: str, parameters: dict[str, Any]) -> Item:
        result = self.client.query(sql, parameters=parameters, settings={"readonly": 1})
        names = result.column_names
        rows = [
            {n: plain(v) for n, v in zip(names, row, strict=True)} for row in result.result_rows
        ]
        recorded = {k: plain(v) for k, v in parameters.items()}
        return Item(name, title, "sql", sql, rows, recorded)

    def result(self, query: Query) -> Item:
        return self._item(
            query.name, query.title, statement(query, self.scope), self.scope.parameters()
        )

    def sample(self, query: Query, seed: int, limit: int) -> Item:
        return self._item(
            f"{query.name}.sample",
            f"Sample of: {query.title}",
            sample_statement(query, self.scope, limit),
            self.scope.parameters() | {"seed": seed},
        )

    def over_time(self, query: Query) -> Item:
        return self._item(
            f"{query.name}.over_time",
            f"Over time: {query.title}",
            over_time_statement(query, self.scope),
            self.scope.parameters(),
        )
