"""Which seqs of which chains a store already holds, so a replay adds nothing twice."""

from __future__ import annotations

from typing import Any

from auditstream.clickhouse.sql import ident


class StoredSeqs:
    """Which seqs of which chains the table already holds."""

    def __init__(self) -> None:
        self._contiguous: dict[str, int] = {}  # chain -> every seq up to this is stored
        self._extra: dict[str, set[int]] = {}  # chain -> stored seqs above that

    @classmethod
    def load(cls, client: Any, database: str) -> StoredSeqs:
        """What an `audit_events` table holds."""
        stored = cls()
        table = f"{ident(database)}.audit_events"
        result = client.query(
            f"SELECT chain_id, max(seq), uniqExact(seq) FROM {table} GROUP BY chain_id"  # noqa: S608 - identifier checked
        )
        for chain_id, top, count in result.result_rows:
            if count == top + 1:
                stored._contiguous[chain_id] = int(top)
            else:  # rare: a hole (an interrupted insert); remember each seq
                seqs = client.query(
                    f"SELECT DISTINCT seq FROM {table} WHERE chain_id = {{c:String}}",  # noqa: S608
                    parameters={"c": chain_id},
                ).result_rows
                stored._contiguous[chain_id] = -1
                stored._extra[chain_id] = {int(s) for (s,) in seqs}
        return stored

    def has(self, chain_id: str, seq: int) -> bool:
        return seq <= self._contiguous.get(chain_id, -1) or seq in self._extra.get(chain_id, ())

    def add(self, chain_id: str, seq: int) -> None:
        if seq == self._contiguous.get(chain_id, -1) + 1:
            self._contiguous[chain_id] = seq
            extra = self._extra.get(chain_id)
            while extra and self._contiguous[chain_id] + 1 in extra:
                self._contiguous[chain_id] += 1
                extra.discard(self._contiguous[chain_id])
        else:
            self._extra.setdefault(chain_id, set()).add(seq)
