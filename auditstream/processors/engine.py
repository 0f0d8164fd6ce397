"""The sealing engine of one raw partition: validate, classify, deduplicate, seal.

Pure: no Kafka and no clock (times are passed in). The Faust app feeds it batches and
publishes what it returns; all chains of a partition live here, because a chain's
records always arrive on one partition (the record key is the chain id).

State after a restart or rebalance comes from the last snapshot of each chain plus the
sealed entries after it (`restore`), so the engine never re-seals a seq and never
leaves a gap.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from auditstream.core.body import decode_body, encode_body
from auditstream.core.chain import Chain, ChainHead, Link
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.classify import Classifier
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.merkle import CompactRange
from auditstream.core.retention import Policy
from auditstream.core.validate import Accepted, RawRecord, Rejected, Validator
from auditstream.errors import RecoveryError
from auditstream.proto.v1 import sealed_pb2 as sealed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    checkpoint_every: int = 1000  # entries per chain between signed checkpoints
    checkpoint_interval_s: float = 10.0  # and at most this long after an entry
    dedupe_window: int = 100_000  # event ids remembered per partition


@dataclass
class Outputs:
    """What one call produced, keyed by chain id (the Kafka key of every output)."""

    sealed: list[tuple[str, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    checkpoints: list[tuple[str, bytes]] = field(default_factory=list)
    snapshots: list[tuple[str, bytes]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.sealed or self.dead_letters or self.checkpoints or self.snapshots)


@dataclass
class _ChainState:
    chain: Chain
    checkpoint_size: int = 0
    checkpoint_time_ns: int = 0
    first_unchecked_ns: int = 0  # receive time of the oldest entry not yet checkpointed


class PartitionSealer:
    def __init__(
        self,
        partition: int,
        *,
        keyring: Keyring,
        signer: NoteSigner,
        validator: Validator,
        classifier: Classifier,
        policy: Policy,
        config: EngineConfig,
    ) -> None:
        self.partition = partition
        self._keyring = keyring
        self._signer = signer
        self._validator = validator
        self._classifier = classifier
        self._policy = policy
        self._config = config
        self._chains: dict[str, _ChainState] = {}
        self._recent: dict[str, None] = {}  # insertion-ordered set of event ids

    # -- recovery ------------------------------------------------------------------
    def restore(self, snapshots: Iterable[sealed.ChainSnapshot], tail: Iterable[Link]) -> None:
        """Rebuild state: chain snapshots, then the sealed entries after them.

        `tail` is the end of this partition's sealed topic, in order; it must reach
        back at least to each chain's snapshot (a snapshot is written with every
        batch, so one batch is enough) and supplies the event ids for deduplication.
        """
        for snap in snapshots:
            merkle = CompactRange(snap.next_seq, list(snap.compact_range))
            self._chains[snap.chain_id] = _ChainState(
                Chain(ChainHead(snap.chain_id, snap.next_seq, snap.head_hash), merkle),
                snap.checkpoint_size,
                snap.checkpoint_time.ToNanoseconds(),
            )
        for link in tail:
            state = self._chains.get(link.chain_id) or self._chain_from_tail(link)
            chain = state.chain
            if link.seq >= chain.next_seq:
                try:
                    chain.accept(link)
                except ValueError as exc:
                    raise RecoveryError(str(exc)) from exc
                if not state.first_unchecked_ns:
                    state.first_unchecked_ns = 1  # checkpoint at the next opportunity
            if link.body:
                self._remember(decode_body(link.body).entry.event_id)

    def _chain_from_tail(self, link: Link) -> _ChainState:
        """A chain first seen in the tail must start there, at seq 0."""
        if link.seq != 0:
            raise RecoveryError(
                f"chain {link.chain_id!r}: no snapshot and the sealed tail starts at "
                f"seq {link.seq}; read further back"
            )
        state = self._chains[link.chain_id] = _ChainState(Chain(ChainHead.genesis(link.chain_id)))
        return state

    @property
    def chain_heads(self) -> dict[str, ChainHead]:
        return {chain_id: state.chain.head for chain_id, state in self._chains.items()}

    @property
    def unchecked_entries(self) -> int:
        """Entries sealed here that no signed checkpoint covers yet."""
        return sum(s.chain.next_seq - s.checkpoint_size for s in self._chains.values())

    # -- processing ----------------------------------------------------------------
    def process(self, records: Sequence[RawRecord], now_ns: int) -> Outputs:
        out = Outputs()
        pending: dict[str, list[bytes]] = {}
        for record in records:
            result = self._validator.check(record)
            if isinstance(result, Rejected):
                out.dead_letters.append((record.key, self._dead_letter(record, result, now_ns)))
                out.counts[f"dead_letter:{sealed.DeadLetterReason.Name(result.reason)}"] += 1
                continue
            event_id = result.entry.event_id
            if event_id in self._recent:
                out.counts["duplicate"] += 1
                log.debug("duplicate event %s on partition %d dropped", event_id, self.partition)
                continue
            self._remember(event_id)
            state = self._state(result.chain_id)
            seq = state.chain.next_seq + len(pending.get(result.chain_id, ()))
            pending.setdefault(result.chain_id, []).append(
                self._body(record, result, seq, out.counts)
            )
            out.counts["accepted"] += 1
        for chain_id, bodies in pending.items():
            state = self._chains[chain_id]
            links = state.chain.append_many(bodies, self._keyring.active)
            out.sealed.extend((chain_id, link.encode()) for link in links)
            if not state.first_unchecked_ns:
                state.first_unchecked_ns = now_ns
            out.counts["sealed"] += len(links)
        self._checkpoints(out, now_ns, touched=pending.keys())
        return out

    def due(self, now_ns: int) -> Outputs:
        """Checkpoints that are due by time alone (call periodically)."""
        out = Outputs()
        self._checkpoints(out, now_ns, touched=())
        return out

    def _state(self, chain_id: str) -> _ChainState:
        state = self._chains.get(chain_id)
        if state is None:
            state = self._chains[chain_id] = _ChainState(Chain(ChainHead.genesis(chain_id)))
        return state

    def _remember(self, event_id: str) -> None:
        recent = self._recent
        recent[event_id] = None
        if len(recent) > self._config.dedupe_window:
            del recent[next(iter(recent))]

    def _body(self, record: RawRecord, accepted: Accepted, seq: int, counts: Counter[str]) -> bytes:
        entry = accepted.entry
        outcome = self._classifier.classify(entry, accepted.payload_json)
        for (kind, _), count in outcome.detections.items():
            counts[f"detected:{kind}"] += count
        event_time = entry.event_time
        start_ns = max(
            event_time.seconds * 1_000_000_000 + event_time.nanos, record.timestamp_ms * 1_000_000
        )
        decision = self._policy.decide(entry, start_ns)
        classification = sealed.Classification(
            declared_sensitivity=outcome.declared_sensitivity,  # type: ignore[arg-type]
            detections=outcome.to_proto(),
            added_policy_tags=outcome.added_tags,
            retention_class=decision.retention_class,
            legal_hold=decision.legal_hold,
            policy_version=self._policy.version,
            notes=accepted.notes,
        )
        classification.retain_until.FromNanoseconds(decision.retain_until_ns)
        unchanged = accepted.unchanged and not outcome.changed
        return encode_body(
            record.value if unchanged else entry,
            chain_id=accepted.chain_id,
            seq=seq,
            received_time_ns=record.timestamp_ms * 1_000_000,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            classification=classification,
        )

    def _checkpoints(self, out: Outputs, now_ns: int, touched: Iterable[str]) -> None:
        every = self._config.checkpoint_every
        interval_ns = int(self._config.checkpoint_interval_s * 1e9)
        snapshot = set(touched)
        for chain_id, state in self._chains.items():
            chain = state.chain
            unchecked = chain.next_seq - state.checkpoint_size
            if unchecked <= 0:
                continue
            if unchecked >= every or now_ns - state.first_unchecked_ns >= interval_ns:
                signed = sign_checkpoint(chain_id, chain.next_seq, chain.root(), self._signer)
                checkpoint = sealed.Checkpoint(
                    chain_id=chain_id,
                    tree_size=signed.tree_size,
                    root_hash=signed.root_hash,
                    note=signed.note,
                    key_name=self._signer.name,
                )
                checkpoint.created_time.FromNanoseconds(now_ns)
                out.checkpoints.append((chain_id, checkpoint.SerializeToString()))
                state.checkpoint_size = chain.next_seq
                state.checkpoint_time_ns = now_ns
                state.first_unchecked_ns = 0
                snapshot.add(chain_id)
                out.counts["checkpoints"] += 1
        for chain_id in snapshot:
            out.snapshots.append((chain_id, self.snapshot(chain_id).SerializeToString()))

    def snapshot(self, chain_id: str) -> sealed.ChainSnapshot:
        state = self._chains[chain_id]
        chain = state.chain
        snap = sealed.ChainSnapshot(
            chain_id=chain_id,
            next_seq=chain.next_seq,
            head_hash=chain.head_hash,
            compact_range=list(chain.merkle.hashes),
            checkpoint_size=state.checkpoint_size,
        )
        snap.checkpoint_time.FromNanoseconds(state.checkpoint_time_ns)
        return snap

    def _dead_letter(self, record: RawRecord, rejected: Rejected, now_ns: int) -> bytes:
        return self._classifier.dead_letter(record, rejected, now_ns)
