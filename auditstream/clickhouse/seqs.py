"""Reading which seqs of which chains an `audit_events` table holds."""

from __future__ import annotations

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.core.seqs import StoredSeqs


def stored_seqs(client: ClickHouseClient, database: str) -> StoredSeqs:
    """What an `audit_events` table holds."""
    stored = StoredSeqs()
    table = f"{ident(database)}.audit_events"
    result = client.query(
        f"SELECT chain_id, max(seq), uniqExact(seq) FROM {table} GROUP BY chain_id"  # noqa: S608 - identifier checked
    )
    for chain_id, top, count in result.result_rows:
        if count == top + 1:
            stored.add_through(chain_id, int(top))
        else:  # rare: a hole (an interrupted insert); remember each seq
            seqs = client.query(
                f"SELECT DISTINCT seq FROM {table} WHERE chain_id = {{c:String}}",  # noqa: S608
                parameters={"c": chain_id},
            ).result_rows
            for (seq,) in seqs:
                stored.add(chain_id, int(seq))
    return stored
