"""What a store hands the verifier: one chain's entries in seq order, in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from auditstream.core.chain import Link
from auditstream.core.verify import Kind

Flag = Callable[[int | None, Kind, str], None]


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive stored entries of one chain (ascending seq, duplicates included).

    columns      the stored queryable columns, column by column (name -> one value per
                 entry, as `rows.compared_columns` computes them), when the store has them
    removal_due  per entry: whether its content may have expired by now (an empty
                 body is then `content_removed`, otherwise tampering)
    """

    links: Sequence[Link]
    columns: Mapping[str, Sequence[Any]] | None
    removal_due: Sequence[bool]


class Source(Protocol):
    name: str

    def chains(self, chain: str | None) -> list[str]:
        """The chains this store holds entries or checkpoints of (one, if `chain`)."""

    def checkpoints(self, chain_id: str) -> list[bytes]:
        """Every signed checkpoint note the store holds for the chain."""

    def batches(self, chain_id: str, flag: Flag) -> Iterator[Batch]:
        """The chain's entries in seq order; store-level problems go to `flag`."""
