"""Which seqs of which chains a store already holds, so a replay adds nothing twice (pure)."""

from __future__ import annotations


class StoredSeqs:
    """Which seqs of which chains a store holds: per chain, every seq up to a contiguous
    high-water mark, plus any stored above it."""

    def __init__(self) -> None:
        self._contiguous: dict[str, int] = {}  # chain -> every seq up to this is stored
        self._extra: dict[str, set[int]] = {}  # chain -> stored seqs above that

    def has(self, chain_id: str, seq: int) -> bool:
        return seq <= self._contiguous.get(chain_id, -1) or seq in self._extra.get(chain_id, ())

    def add_through(self, chain_id: str, last: int) -> None:
        """Every seq of the chain from 0 to `last` is stored."""
        if last <= self._contiguous.get(chain_id, -1):
            return
        self._contiguous[chain_id] = last
        extra = self._extra.get(chain_id)
        if extra:
            extra.difference_update([seq for seq in extra if seq <= last])
            self._advance(chain_id)

    def add(self, chain_id: str, seq: int) -> None:
        top = self._contiguous.get(chain_id, -1)
        if seq == top + 1:
            self._contiguous[chain_id] = seq
            self._advance(chain_id)
        elif seq > top:
            self._extra.setdefault(chain_id, set()).add(seq)

    def _advance(self, chain_id: str) -> None:
        extra = self._extra.get(chain_id)
        while extra and self._contiguous[chain_id] + 1 in extra:
            self._contiguous[chain_id] += 1
            extra.discard(self._contiguous[chain_id])
