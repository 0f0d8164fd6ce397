"""`AuditProducer`: emitting an audit event is one call that never raises and never
blocks on Kafka, and never loses the event.

Every event is appended to the local spool first, then handed to librdkafka
(acks=all, idempotence, zstd). Kafka's acknowledgements move the spool's ack point
forward. When librdkafka's queue is full or a delivery fails, the producer switches to
"spool only": new events are only spooled, and a replayer thread sends everything not
yet acknowledged, in spool order, until it has caught up. A producer that starts on a
spool with unacknowledged records (after a crash) replays them first. Duplicates that
a replay may create carry the same event id; the processor drops them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from auditstream.core import headers
from auditstream.core.chain import is_valid_chain_id
from auditstream.core.content import DigestPolicy
from auditstream.producers import validation
from auditstream.producers.events import Clock
from auditstream.producers.spool import Spool, SpoolFullError
from auditstream.producers.vault import ContentVault
from auditstream.proto.v1 import log_entry_pb2 as pb

log = logging.getLogger(__name__)

RECORD_HEADERS = (
    (headers.MESSAGE_TYPE, headers.LOG_ENTRY_V1.encode()),
    (headers.SCHEMA_VERSION, headers.SCHEMA_VERSION_VALUE.encode()),
    (headers.CONTENT_TYPE, headers.PROTOBUF_CONTENT_TYPE.encode()),
)
SDK_NAME = "auditstream-python"
OVERFLOW_POLICIES = ("drop_newest", "raise")


@dataclass(frozen=True)
class ProducerConfig:
    bootstrap: str
    topic: str = "audit.raw.v1"
    spool_dir: Path = Path(".auditstream-spool")
    tenant_id: str = "default"
    chain_id: str = ""  # default: the tenant id
    environment: str = ""
    component: str = ""
    strict: bool = False  # raise on invalid events and on a full spool
    fsync: str = "interval"  # spool durability: "always", "interval" (1 s) or "never"
    max_spool_bytes: int = 1024**3
    # What happens when the spool is full. "drop_newest" refuses the new event, counts it
    # and logs an error for it; "raise" raises SpoolFullError into the caller.
    overflow: str = "drop_newest"
    linger_ms: int = 5
    store_content: bool = False  # encrypt prompt/response text (needs a vault)
    kafka: Mapping[str, str] = field(default_factory=dict)  # extra librdkafka settings
    limits: validation.EventLimits = field(default_factory=validation.EventLimits)

    def __post_init__(self) -> None:
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}")


@dataclass
class Stats:
    sent: int = 0  # handed to Kafka (replays included)
    acked: int = 0  # acknowledged by Kafka
    spooled: int = 0  # written to the spool
    replayed: int = 0  # sent again from the spool
    failed: int = 0  # deliveries Kafka refused or timed out (they are replayed)
    invalid: int = 0  # events recorded with validation issues
    dropped: int = 0  # refused by the overflow policy

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class InFlight:
    """The spool seqs of the records librdkafka holds, by record value.

    A delivery report carries the record but not its seq. A callback object per record
    could carry it, but a broker outage leaves tens of thousands of them queued, each
    one more object for every full garbage collection of the host process to walk: the
    pauses grew past what a caller may wait. A dict of bytes to ints is not tracked by
    the collector. A value in flight twice (a replay while the first copy is still
    queued, or one entry emitted twice) holds a list of its seqs, oldest first.
    """

    def __init__(self) -> None:
        self._seqs: dict[bytes, int | list[int]] = {}
        self._lock = threading.Lock()

    def add(self, value: bytes, seq: int) -> None:
        with self._lock:
            held = self._seqs.get(value)
            if held is None:
                self._seqs[value] = seq
            elif isinstance(held, list):
                held.append(seq)
            else:
                self._seqs[value] = [held, seq]

    def take(self, value: bytes) -> int | None:
        """The oldest seq in flight with this value, forgotten; None if there is none."""
        with self._lock:
            held = self._seqs.pop(value, None)
            if not isinstance(held, list):
                return held
            seq = held.pop(0)
            self._keep(value, held)
            return seq

    def discard(self, value: bytes, seq: int) -> None:
        """Forget one copy that librdkafka refused."""
        with self._lock:
            held = self._seqs.pop(value, None)
            if isinstance(held, list):
                held.remove(seq)
                self._keep(value, held)

    def _keep(self, value: bytes, rest: list[int]) -> None:
        # A list only ever holds two or more seqs, so `rest` has at least one.
        self._seqs[value] = rest if len(rest) > 1 else rest[0]


class ProducerCore:
    """Spool, Kafka client and replayer. `AuditProducer` adds the event helpers."""

    def __init__(
        self,
        config: ProducerConfig,
        *,
        content: DigestPolicy | None = None,
        vault: ContentVault | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        self.config = config
        self.content = content
        self.vault = vault
        self.clock = clock
        self.chain_id = config.chain_id or config.tenant_id
        self._stats = Stats()
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._healthy = True
        self._replay_from: int | None = None
        self._acked: set[int] = set()
        self._in_flight = InFlight()
        # One bound method for every record: a new one per record would be what the
        # in-flight map exists to avoid (see InFlight).
        self._on_delivery = self._delivered
        self._ack_lock = threading.Lock()
        self._acked_below = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._kafka: Producer | None = None
        self._spool: Spool | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Open the spool, connect, and replay what an earlier run left unacknowledged.
        Called by the first event; call it early to replay at service start."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise RuntimeError("producer is closed")
            self._spool = Spool(
                self.config.spool_dir,
                max_bytes=self.config.max_spool_bytes,
                fsync=self.config.fsync,
            )
            self._acked_below = self._spool.acked_below
            self._kafka = Producer(
                {
                    "bootstrap.servers": self.config.bootstrap,
                    "acks": "all",
                    "enable.idempotence": True,
                    "compression.type": "zstd",
                    "linger.ms": self.config.linger_ms,
                    # The same partitioner as Java clients and Faust: a chain's records land
                    # on one partition whichever client wrote them.
                    "partitioner": "murmur2_random",
                    "message.timeout.ms": 300_000,
                    **self.config.kafka,
                }
            )
            if self._spool.next_seq > self._acked_below:
                log.info(
                    "spool has %d unacknowledged events from an earlier run; replaying",
                    self._spool.next_seq - self._acked_below,
                )
                self._degrade(self._acked_below)
            self._started = True
            for name, target in (
                ("audit-poll", self._poll_loop),
                ("audit-replay", self._replay_loop),
            ):
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until Kafka has acknowledged every event so far; False on timeout."""
        if not self._started:
            return True
        assert self._kafka is not None and self._spool is not None
        deadline = time.monotonic() + timeout
        target = self._spool.next_seq
        while time.monotonic() < deadline:
            self._kafka.flush(min(0.5, max(0.0, deadline - time.monotonic())))
            self._advance_acks()
            if self._acked_below >= target:
                return True
            self._wake.set()
        return False

    def close(self, timeout: float = 30.0) -> None:
        """Flush (up to `timeout`), stop the threads and close the spool. Events not yet
        acknowledged stay in the spool for the next start."""
        if not self._started or self._closed:
            self._closed = True
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(5)
        self._advance_acks()
        assert self._spool is not None
        self._spool.close()
        self._closed = True

    def stats(self) -> dict[str, int]:
        out = self._stats.as_dict()
        out["pending"] = (self._spool.next_seq - self._acked_below) if self._spool else 0
        return out

    def __enter__(self) -> ProducerCore:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- emitting ------------------------------------------------------------------
    def emit(self, entry: pb.LogEntry, *, chain_id: str = "") -> str:
        """Validate, spool and send one LogEntry; returns its event id.

        Never raises unless the producer is strict (then `AuditValidationError` or
        `SpoolFullError`). Failures are counted in `stats()` and logged.
        """
        try:
            return self._emit(entry, chain_id or self.chain_id)
        except (validation.AuditValidationError, SpoolFullError):
            if self.config.strict:
                raise
            log.exception("audit event %s not recorded", entry.event_id)
            return entry.event_id
        except Exception:
            if self.config.strict:
                raise
            log.exception("audit event %s: unexpected producer error", entry.event_id)
            return entry.event_id

    def _emit(self, entry: pb.LogEntry, chain_id: str) -> str:
        if not entry.tenant_id:
            entry.tenant_id = self.config.tenant_id
        if not entry.environment and self.config.environment:
            entry.environment = self.config.environment
        if not entry.component and self.config.component:
            entry.component = self.config.component
        if not entry.producer.sdk_name:
            entry.producer.sdk_name = SDK_NAME
        issues = validation.check(entry, chain_id, self.config.limits, strict=self.config.strict)
        if issues:
            self._stats.invalid += 1
            log.warning(
                "audit event %s recorded with issues: %s", entry.event_id, "; ".join(issues)
            )
            if not is_valid_chain_id(chain_id):
                chain_id = self.config.tenant_id
        value = entry.SerializeToString(deterministic=True)
        key = chain_id.encode()
        if not self._started:
            self.start()
        assert self._spool is not None
        with self._lock:
            try:
                seq = self._spool.append(self.config.topic, key, value, RECORD_HEADERS)
            except SpoolFullError:
                self._stats.dropped += 1
                log.error(
                    "spool full: audit event %s dropped by the %r overflow policy",
                    entry.event_id,
                    self.config.overflow,
                )
                raise
            self._stats.spooled += 1
            if self._healthy:
                self._send(seq, key, value, RECORD_HEADERS)
        return entry.event_id

    def _send(self, seq: int, key: bytes | None, value: bytes, hdrs: Any) -> bool:
        """Hand one record to librdkafka; on a full queue switch to spool-only."""
        if self._produce(seq, self.config.topic, key, value, hdrs):
            return True
        self._degrade(seq)
        return False

    def _produce(self, seq: int, topic: str, key: bytes | None, value: bytes, hdrs: Any) -> bool:
        """Hand one record to librdkafka; False when its queue is full."""
        assert self._kafka is not None
        self._in_flight.add(value, seq)
        try:
            self._kafka.produce(
                topic, key=key, value=value, headers=list(hdrs), on_delivery=self._on_delivery
            )
        except BufferError:
            self._in_flight.discard(value, seq)
            return False
        self._stats.sent += 1
        return True

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        seq = self._in_flight.take(msg.value() or b"")
        if seq is None:
            log.error("delivery report for a record not in flight (error: %s)", err)
            return
        if err is None:
            self._acked.add(seq)
            self._stats.acked += 1
            return
        self._stats.failed += 1
        log.warning("audit event (spool seq %d) not delivered: %s; will replay", seq, err)
        self._degrade(seq)

    def _degrade(self, seq: int) -> None:
        with self._lock:
            self._healthy = False
            if self._replay_from is None or seq < self._replay_from:
                self._replay_from = seq
        self._wake.set()

    # -- background ----------------------------------------------------------------
    def _advance_acks(self) -> None:
        # Delivery callbacks run in whichever thread polls: the poll thread or flush().
        with self._ack_lock:
            acked, below = self._acked, self._acked_below
            while below in acked:
                acked.discard(below)
                below += 1
            if below != self._acked_below:
                self._acked_below = below
                assert self._spool is not None
                self._spool.acknowledge(below)

    def _poll_loop(self) -> None:
        assert self._kafka is not None
        assert self._spool is not None
        while not self._stop.is_set():
            self._kafka.poll(0.1)
            self._advance_acks()
            self._spool.sync_if_due()

    def _replay_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:
                start = self._replay_from
                self._replay_from = None
            if start is not None:
                self._replay(start)

    def _replay(self, start: int) -> None:
        """Send everything from `start` on that Kafka has not acknowledged, in order;
        then, if nothing failed meanwhile, return to sending directly."""
        assert self._spool is not None and self._kafka is not None
        position = start
        while not self._stop.is_set():
            for record in self._spool.pending(position):
                if record.seq < self._acked_below or record.seq in self._acked:
                    position = record.seq + 1
                    continue
                while not self._stop.is_set() and not self._produce(
                    record.seq, record.topic, record.key, record.value, record.headers
                ):
                    self._kafka.poll(0.2)
                self._stats.replayed += 1
                position = record.seq + 1
                if self._replay_from is not None:  # a new failure: start over from there
                    return
            with self._lock:
                if self._replay_from is not None:
                    return
                if position >= self._spool.next_seq:
                    self._healthy = True
                    log.info("spool replay caught up at seq %d", position)
                    return
