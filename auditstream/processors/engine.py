"""The sealing engine of one raw partition: validate, classify, deduplicate, seal.

Pure: no Kafka and no clock (times are passed in). The worker's loop feeds it batches
and publishes what it returns; all chains of a partition live here, because a chain's
records always arrive on one partition (the record key is the chain id).

State after a restart or rebalance comes from the last snapshot of each chain plus the
sealed entries after it (`restore`), so the engine never re-seals a seq and never
leaves a gap. Snapshots are not written per batch (with thousands of chains that would
be more state records than events): every `snapshot_every` entries, or
`snapshot_interval_s` after the first change, the engine *flushes* — one snapshot of
every chain changed since the last flush, all with the flush's time. So every entry no
snapshot covers was sealed after the newest flush, and recovery reads the sealed tail
from that time on (`tail_since_ns`); the tail holds at most about `snapshot_every`
entries, and state records are at most one per changed chain per `snapshot_every`
entries.

Checkpoint deadlines wait in a queue ordered by time, so the work of a call grows with
what is due, never with the number of chains; at most `checkpoints_per_call`
checkpoints are signed per call (the rest stay due).
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from auditstream.core.body import (
    DetectionItem,
    body_bytes,
    decode_body,
    encode_classification,
    source_record,
)
from auditstream.core.chain import Chain, ChainHead, Link
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.classify import Classifier
from auditstream.core.completeness import FINDINGS, HEARTBEAT, Streams
from auditstream.core.headers import LOG_ENTRY_V1, MESSAGE_TYPE
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.merkle import CompactRange
from auditstream.core.retention import Policy
from auditstream.core.validate import Accepted, RawRecord, Rejected, Validator
from auditstream.errors import RecoveryError
from auditstream.privacy.protect import SubjectProtection
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

log = logging.getLogger(__name__)
# Findings of completeness are the worker's word: one read from the raw topic could
# claim a gap reported that never was.
# The pipeline's own events (heartbeats, findings) name no data subject.
OWN_EVENTS = FINDINGS | {HEARTBEAT}
# Sealed in clear under per-subject protection: the pipeline's own events, and erasures
# (which name their subject only by digest, and must be readable without any key).
CLEAR_EVENTS = OWN_EVENTS | {pb.EVENT_SUBJECT_ERASED}
WORKER_ONLY = Rejected(
    sealed.DEAD_LETTER_REASON_INVALID_FIELD,
    "event_type: gap and silence findings are sealed by the worker only",
)


@dataclass(frozen=True)
class EngineConfig:
    checkpoint_every: int = 1000  # entries per chain between signed checkpoints
    checkpoint_interval_s: float = 10.0  # and at most this long after an entry
    dedupe_window: int = 100_000  # event ids remembered per partition
    snapshot_every: int = 250_000  # entries sealed on the partition between flushes
    snapshot_interval_s: float = 60.0  # and at most this long after the first change
    checkpoints_per_call: int = 256  # signatures per call, at most (Ed25519 ~40 us each)
    # Recovery reads the sealed tail from this long before the newest flush: for
    # clocks of successive owners of a partition that differ by up to this much.
    recovery_margin_s: float = 10.0
    # A producer sequence number still missing this long after a later one arrived is
    # sealed as a gap finding (a reordering by a spool replay takes seconds, not this).
    gap_after_s: float = 60.0

    def tail_since_ns(self, flushed_ns: int) -> int:
        """The Kafka time from which a partition's sealed tail holds every entry that no
        snapshot covers, given the time of its newest flush (0: no flush, from the start)."""
        return max(0, flushed_ns - int(self.recovery_margin_s * 1e9)) if flushed_ns else 0


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


@dataclass(slots=True)
class _ChainState:
    chain: Chain
    checkpoint_size: int = 0
    checkpoint_time_ns: int = 0
    first_unchecked_ns: int = 0  # receive time of the oldest entry not yet checkpointed
    producers: Streams = field(default_factory=Streams)


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
        protection: SubjectProtection | None = None,
    ) -> None:
        self.partition = partition
        self._protection = protection  # None: personal fields are sealed in clear
        self._keyring = keyring
        self._signer = signer
        self._validator = validator
        self._classifier = classifier
        self._policy = policy
        self._config = config
        self._chains: dict[str, _ChainState] = {}
        # Event ids, oldest first. An OrderedDict drops its oldest in O(1); a dict's first
        # key is found by skipping the slots of deleted ones, which made every event past
        # the window cost about as much as the rest of sealing it.
        self._recent: OrderedDict[str, None] = OrderedDict()
        # (deadline, chain id): a chain may be queued more than once; an entry whose
        # chain no longer needs it is dropped when it comes up.
        self._checkpoint_due: list[tuple[int, str]] = []
        self._unchecked = 0  # entries no signed checkpoint covers, over all chains
        self._changed: set[str] = set()  # chains whose state moved since the last flush
        self._changed_since_ns = 0  # when the first of them changed
        self._sealed_since_flush = 0
        self._gap_after_ns = int(config.gap_after_s * 1e9)
        self._completeness_due_ns: int | None = None  # earliest producer-stream deadline

    # -- recovery ------------------------------------------------------------------
    def restore(
        self,
        snapshots: Iterable[sealed.ChainSnapshot],
        tail: Iterable[Link],
        checkpoints: Iterable[sealed.Checkpoint] = (),
    ) -> None:
        """Rebuild state: chain snapshots, then the sealed entries after them.

        `tail` is the end of this partition's sealed topic, in order; it must reach
        back at least to each chain's snapshot (a snapshot is written with every
        batch, so one batch is enough) and supplies the event ids for deduplication.
        `checkpoints` are those signed since the snapshots (any order): a tree already
        signed is not signed again.
        """
        for snap in snapshots:
            merkle = CompactRange(snap.next_seq, list(snap.compact_range))
            self._chains[snap.chain_id] = _ChainState(
                Chain(ChainHead(snap.chain_id, snap.next_seq, snap.head_hash), merkle),
                snap.checkpoint_size,
                snap.checkpoint_time.ToNanoseconds(),
                producers=Streams.from_proto(snap.producers),
            )
        behind: set[str] = set()
        for link in tail:
            state = self._chains.get(link.chain_id) or self._chain_from_tail(link)
            chain = state.chain
            accepted = link.seq >= chain.next_seq
            if accepted:
                try:
                    chain.accept(link)
                except ValueError as exc:
                    raise RecoveryError(str(exc)) from exc
                behind.add(link.chain_id)
            if link.body:
                body = decode_body(link.body)
                self._remember(body.entry.event_id)
                if accepted:
                    state.producers.observe(body.entry, body.received_time.ToNanoseconds())
        for checkpoint in checkpoints:
            self._restore_checkpoint(checkpoint)
        self._completeness_due_ns = self._next_completeness_deadline()
        for chain_id, state in self._chains.items():
            self._unchecked += state.chain.next_seq - state.checkpoint_size
            if chain_id in behind:  # checkpoint and snapshot at the next opportunity
                if state.chain.next_seq > state.checkpoint_size:
                    state.first_unchecked_ns = 1
                    heapq.heappush(self._checkpoint_due, (1, chain_id))
                self._changed.add(chain_id)
                self._changed_since_ns = 1

    def _restore_checkpoint(self, checkpoint: sealed.Checkpoint) -> None:
        state = self._chains.get(checkpoint.chain_id)
        size = checkpoint.tree_size
        if state is None or size > state.chain.next_seq:
            raise RecoveryError(
                f"chain {checkpoint.chain_id!r}: a checkpoint of tree size {size} is "
                "committed, but the sealed tail does not reach it"
            )
        if size > state.checkpoint_size:
            state.checkpoint_size = size
            state.checkpoint_time_ns = checkpoint.created_time.ToNanoseconds()

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
    def chain_count(self) -> int:
        return len(self._chains)

    @property
    def unchecked_entries(self) -> int:
        """Entries sealed here that no signed checkpoint covers yet."""
        return self._unchecked

    # -- processing ----------------------------------------------------------------
    def process(self, records: Sequence[RawRecord], now_ns: int) -> Outputs:
        out = Outputs()
        pending: dict[str, list[bytes]] = {}
        detected: Counter[str] = Counter()
        self._accept(records, out, pending, detected, now_ns)
        # Producer streams are judged by the data's own clock while records flow, so a
        # backlog after downtime is not mistaken for silence.
        newest_ns = max(r.timestamp_ms for r in records) * 1_000_000 if records else now_ns
        self._completeness(pending, detected, newest_ns, now_ns)
        self._seal(out, pending, detected, now_ns)
        return out

    def due(self, now_ns: int) -> Outputs:
        """What is due by time alone (call periodically, when the partition is idle):
        checkpoints, snapshots, and completeness findings."""
        out = Outputs()
        pending: dict[str, list[bytes]] = {}
        detected: Counter[str] = Counter()
        self._completeness(pending, detected, now_ns, now_ns)
        self._seal(out, pending, detected, now_ns)
        return out

    def _accept(
        self,
        records: Sequence[RawRecord],
        out: Outputs,
        pending: dict[str, list[bytes]],
        detected: Counter[str],
        now_ns: int,
    ) -> None:
        """Validate and deduplicate records; the bodies of accepted ones go to `pending`
        by chain, the refused ones to the dead letters."""
        recent = self._recent
        check = self._validator.check
        duplicates = 0
        for record in records:
            result = check(record)
            if isinstance(result, Accepted) and result.entry.event_type in FINDINGS:
                result = WORKER_ONLY
            if isinstance(result, Rejected):
                out.dead_letters.append((record.key, self._dead_letter(record, result, now_ns)))
                out.counts[f"dead_letter:{sealed.DeadLetterReason.Name(result.reason)}"] += 1
                continue
            event_id = result.entry.event_id
            if event_id in recent:
                duplicates += 1
                log.debug("duplicate event %s on partition %d dropped", event_id, self.partition)
                continue
            self._remember(event_id)
            self._pend(pending, record, result, detected)
        if duplicates:
            out.counts["duplicate"] += duplicates

    def _pend(
        self,
        pending: dict[str, list[bytes]],
        record: RawRecord,
        accepted: Accepted,
        detected: Counter[str],
    ) -> None:
        """The record's body, next in its chain, and what it tells of its producer."""
        chain_id = accepted.chain_id
        bodies = pending.get(chain_id)
        if bodies is None:
            bodies = pending[chain_id] = []
        state = self._state(chain_id)
        stream = state.producers.observe(accepted.entry, record.timestamp_ms * 1_000_000)
        if stream is not None:
            deadline = stream.deadline(self._gap_after_ns)
            due = self._completeness_due_ns
            if deadline is not None and (due is None or deadline < due):
                self._completeness_due_ns = deadline
        bodies.append(self._body(record, accepted, state.chain.next_seq + len(bodies), detected))

    def _completeness(
        self,
        pending: dict[str, list[bytes]],
        detected: Counter[str],
        reference_ns: int,
        now_ns: int,
    ) -> None:
        """Seal the gap and silence findings whose time has come by `reference_ns`."""
        due = self._completeness_due_ns
        if due is None or due > reference_ns:
            return
        for chain_id, state in self._chains.items():
            for finding in state.producers.due(reference_ns, self._gap_after_ns):
                entry = finding.entry(chain_id, now_ns)
                record = RawRecord(
                    "",  # made here, not read: no source position
                    self.partition,
                    0,
                    now_ns // 1_000_000,
                    chain_id.encode(),
                    entry.SerializeToString(deterministic=True),
                    ((MESSAGE_TYPE, LOG_ENTRY_V1.encode()),),
                )
                result = self._validator.check(record)
                if isinstance(result, Rejected):  # only a bug in Finding.entry gets here
                    raise RecoveryError(f"completeness finding refused: {result.detail}")
                self._remember(entry.event_id)
                self._pend(pending, record, result, detected)
                log.warning("chain %s: %s", chain_id, entry.message)
        self._completeness_due_ns = self._next_completeness_deadline()

    def _next_completeness_deadline(self) -> int | None:
        gap_after_ns = self._gap_after_ns
        times = [
            deadline
            for state in self._chains.values()
            if (deadline := state.producers.next_deadline(gap_after_ns)) is not None
        ]
        return min(times, default=None)

    def _seal(
        self,
        out: Outputs,
        pending: dict[str, list[bytes]],
        detected: Counter[str],
        now_ns: int,
    ) -> None:
        """Chain the pending bodies, then sign and snapshot what is due."""
        accepted = 0
        full: list[str] = []  # chains with `checkpoint_every` entries unchecked
        every = self._config.checkpoint_every
        for chain_id, bodies in pending.items():
            state = self._chains[chain_id]
            links = state.chain.append_many_encoded(bodies, self._keyring.active)
            out.sealed.extend((chain_id, link) for link in links)
            accepted += len(bodies)
            self._change(chain_id, now_ns)
            if not state.first_unchecked_ns:
                state.first_unchecked_ns = now_ns
                deadline = now_ns + int(self._config.checkpoint_interval_s * 1e9)
                heapq.heappush(self._checkpoint_due, (deadline, chain_id))
            if state.chain.next_seq - state.checkpoint_size >= every:
                full.append(chain_id)
        self._unchecked += accepted
        self._sealed_since_flush += accepted
        counts = out.counts
        if accepted:
            counts["accepted"] += accepted
            counts["sealed"] += accepted
        for kind, count in detected.items():
            counts[f"detected:{kind}"] += count
        self._checkpoints(out, now_ns, full)
        self._flush_if_due(out, now_ns)

    def _state(self, chain_id: str) -> _ChainState:
        state = self._chains.get(chain_id)
        if state is None:
            state = self._chains[chain_id] = _ChainState(Chain(ChainHead.genesis(chain_id)))
        return state

    def _remember(self, event_id: str) -> None:
        recent = self._recent
        recent[event_id] = None
        if len(recent) > self._config.dedupe_window:
            recent.popitem(last=False)

    def _body(
        self, record: RawRecord, accepted: Accepted, seq: int, detected: Counter[str]
    ) -> bytes:
        entry = accepted.entry
        outcome = self._classifier.classify(
            entry, accepted.payload_json, record.value if accepted.unchanged else None
        )
        detections: list[DetectionItem] = []
        if outcome.detections:
            masked = outcome.masked
            for (kind, where), count in sorted(outcome.detections.items()):
                detections.append((kind, where, count, (kind, where) in masked))
                detected[kind] += count
        received_ns = record.timestamp_ms * 1_000_000
        start_ns = max(accepted.event_time_ns, received_ns)
        decision = self._policy.decide(entry, start_ns)
        classification = encode_classification(
            declared_sensitivity=outcome.declared_sensitivity,
            detections=detections,
            added_policy_tags=outcome.added_tags,
            retention_class=decision.retention_class,
            retain_until_ns=decision.retain_until_ns,
            legal_hold=decision.legal_hold,
            policy_version=self._policy.version,
            notes=accepted.notes,
        )
        if self._protection is not None and entry.event_type not in CLEAR_EVENTS:
            entry_bytes, protected = self._protection.protect(
                entry,
                outcome.detections,
                chain_id=accepted.chain_id,
                seq=seq,
                serialized=None if outcome.changed or not accepted.unchanged else record.value,
            )
        else:
            entry_bytes, protected = entry.SerializeToString(deterministic=True), b""
        return body_bytes(
            entry_bytes,
            classification,
            accepted.chain_id,
            seq,
            received_ns,
            source_record(record.topic, record.partition, record.offset),
            protected,
        )

    def _change(self, chain_id: str, now_ns: int) -> None:
        """The chain's state moved past its snapshot: the next flush writes it."""
        if not self._changed:
            self._changed_since_ns = now_ns
        self._changed.add(chain_id)

    def _checkpoints(self, out: Outputs, now_ns: int, full: Sequence[str]) -> None:
        """Sign the checkpoints of chains that are `full` and of those whose deadline
        passed, at most `checkpoints_per_call` of them; the rest stay queued."""
        budget = self._config.checkpoints_per_call
        due = self._checkpoint_due
        for chain_id in full:
            if budget <= 0:  # still full next time: it comes first then
                heapq.heappush(due, (0, chain_id))
                continue
            budget -= self._checkpoint(out, chain_id, now_ns)
        while due and due[0][0] <= now_ns and budget > 0:
            _, chain_id = heapq.heappop(due)
            budget -= self._checkpoint(out, chain_id, now_ns)

    def _checkpoint(self, out: Outputs, chain_id: str, now_ns: int) -> int:
        """Sign the chain's checkpoint if entries lack one; returns how many were signed."""
        state = self._chains[chain_id]
        chain = state.chain
        if chain.next_seq <= state.checkpoint_size:
            return 0
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
        self._unchecked -= chain.next_seq - state.checkpoint_size
        state.checkpoint_size = chain.next_seq
        state.checkpoint_time_ns = now_ns
        state.first_unchecked_ns = 0
        self._change(chain_id, now_ns)
        out.counts["checkpoints"] += 1
        return 1

    def _flush_if_due(self, out: Outputs, now_ns: int) -> None:
        """Snapshot every changed chain, when `snapshot_every` entries were sealed since
        the last flush or `snapshot_interval_s` passed since the first change."""
        if not self._changed:
            return
        config = self._config
        waited_ns = now_ns - self._changed_since_ns
        if self._sealed_since_flush < config.snapshot_every and waited_ns < int(
            config.snapshot_interval_s * 1e9
        ):
            return
        for chain_id in sorted(self._changed):
            out.snapshots.append((chain_id, self.snapshot(chain_id, now_ns).SerializeToString()))
        out.counts["snapshots"] += len(self._changed)
        self._changed.clear()
        self._sealed_since_flush = 0

    def snapshot(self, chain_id: str, now_ns: int = 0) -> sealed.ChainSnapshot:
        """The chain's state as a snapshot written at `now_ns`."""
        state = self._chains[chain_id]
        chain = state.chain
        snap = sealed.ChainSnapshot(
            chain_id=chain_id,
            next_seq=chain.next_seq,
            head_hash=chain.head_hash,
            compact_range=list(chain.merkle.hashes),
            checkpoint_size=state.checkpoint_size,
            producers=state.producers.to_proto(),
        )
        snap.checkpoint_time.FromNanoseconds(state.checkpoint_time_ns)
        snap.snapshot_time.FromNanoseconds(now_ns)
        return snap

    def _dead_letter(self, record: RawRecord, rejected: Rejected, now_ns: int) -> bytes:
        return self._classifier.dead_letter(record, rejected, now_ns)
