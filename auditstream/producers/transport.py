"""The transport under `AuditProducer`: a durable spool in front of librdkafka.

Every record is appended to the local spool first, then handed to librdkafka
(acks=all, idempotence, zstd). Kafka's acknowledgements move the spool's ack point
forward. When librdkafka's queue is full or a delivery fails, the transport switches to
"spool only": new records are only spooled, and a replayer thread sends everything not
yet acknowledged, in spool order, until it has caught up. A transport that starts on a
spool with unacknowledged records (after a crash) replays them first. Duplicates that
a replay may create carry the same event id; the processor drops them.

librdkafka's delivery reports run in whichever thread polls, and each one takes the GIL.
A background thread polling while the service logs would take it from the caller for
every record, so the threads that send also poll, after every few records: the reports
that have arrived meanwhile run where the GIL already is. The background thread polls
only when no event has been sent for a while, and otherwise just moves the spool's ack
point and syncs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from auditstream.core import headers
from auditstream.producers.config import ProducerConfig
from auditstream.producers.spool import Spool
from auditstream.runtime import failpoints
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.connection import ConnectionErrors, explain

log = logging.getLogger(__name__)

RECORD_HEADERS = (
    (headers.MESSAGE_TYPE, headers.LOG_ENTRY_V1.encode()),
    (headers.SCHEMA_VERSION, headers.SCHEMA_VERSION_VALUE.encode()),
    (headers.CONTENT_TYPE, headers.PROTOBUF_CONTENT_TYPE.encode()),
)
_HEADER_LIST = list(RECORD_HEADERS)  # confluent-kafka takes a list (or dict), not a tuple
POLL_INTERVAL_S = 0.1
RENEW_EVERY_S = 5.0  # a client that fails fatally is replaced at most this often
POLL_EVERY = 8  # sends between the polls a sender makes (one costs as much as a send)


@dataclass
class Stats:
    sent: int = 0  # handed to Kafka (replays included)
    acked: int = 0  # acknowledged by Kafka
    spooled: int = 0  # written to the spool
    replayed: int = 0  # sent again from the spool
    failed: int = 0  # deliveries Kafka refused or timed out (they are replayed)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class InFlight:
    """The spool seqs of the records librdkafka holds, by record value, and which seqs
    Kafka has acknowledged since the ack point.

    A delivery report carries the record but not its seq. A callback object per record
    could carry it, but a broker outage leaves tens of thousands of them queued, each
    one more object for every full garbage collection of the host process to walk: the
    pauses grew past what a caller may wait. A dict of bytes to ints is not tracked by
    the collector. A value in flight twice (a replay while the first copy is still
    queued, or one entry emitted twice) holds a list of its seqs, oldest first.

    Acknowledged seqs are one byte each in a bytearray, so the new ack point is one
    search in C (`find`), not a Python loop over every acknowledged seq: at 100,000
    events/s that loop held the GIL long enough to delay the callers logging meanwhile.
    One lock covers both, so a delivery report takes it once.
    """

    GROWTH = 4096  # bytes added to the acknowledgement map at a time

    def __init__(self, acked_below: int = 0) -> None:
        self._seqs: dict[bytes, int | list[int]] = {}
        self._base = acked_below  # the seq of _acked[0]
        self._acked = bytearray()
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
            return self._pop(value)

    def delivered(self, value: bytes) -> int | None:
        """`take`, and the seq is acknowledged."""
        with self._lock:
            seq = self._pop(value)
            if seq is not None and seq >= self._base:
                index = seq - self._base
                if index >= len(self._acked):
                    self._acked.extend(bytes(index + 1 - len(self._acked) + self.GROWTH))
                self._acked[index] = 1
            return seq

    def discard(self, value: bytes, seq: int) -> None:
        """Forget one copy that librdkafka refused."""
        with self._lock:
            held = self._seqs.pop(value, None)
            if isinstance(held, list):
                held.remove(seq)
                self._keep(value, held)

    def acknowledged(self, seq: int) -> bool:
        with self._lock:
            index = seq - self._base
            return index < 0 or (index < len(self._acked) and self._acked[index] == 1)

    def advance(self) -> int:
        """The ack point: the lowest seq not acknowledged. What is below it is forgotten."""
        with self._lock:
            done = self._acked.find(0)
            if done < 0:
                done = len(self._acked)
            if done:
                del self._acked[:done]
                self._base += done
            return self._base

    def _pop(self, value: bytes) -> int | None:
        held = self._seqs.pop(value, None)
        if not isinstance(held, list):
            return held
        seq = held.pop(0)
        self._keep(value, held)
        return seq

    def _keep(self, value: bytes, rest: list[int]) -> None:
        # A list only ever holds two or more seqs, so `rest` has at least one.
        self._seqs[value] = rest if len(rest) > 1 else rest[0]


class Transport:
    """Spool, Kafka client and replayer for one producer. Thread-safe."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self._stats = Stats()
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._healthy = True
        self._replay_from: int | None = None
        self._in_flight = InFlight()
        # One bound method for every record: a new one per record would be what the
        # in-flight map exists to avoid (see InFlight).
        self._on_delivery = self._delivered
        self._ack_lock = threading.Lock()
        self._acked_below = 0
        self._sends = 0  # the background thread polls when this stands still
        self._append: Callable[[bytes | None, bytes], int] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._kafka: Producer | None = None
        self._spool: Spool | None = None
        self._errors = ConnectionErrors(config.kafka)
        self._fatal = False  # the client failed for good; the replayer replaces it
        self._renewed_at = 0.0

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Open the spool, connect, and replay what an earlier run left unacknowledged.
        Called by the first event; call it early to replay at service start."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise RuntimeError("producer is closed")
            self._spool = Spool.open(
                self.config.spool_dir,
                max_bytes=self.config.max_spool_bytes,
                fsync=self.config.fsync,
            )
            self._acked_below = self._spool.acked_below
            self._in_flight = InFlight(self._acked_below)
            self._append = self._spool.appender(self.config.topic, RECORD_HEADERS)
            self._kafka = self._new_client()
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

    def _new_client(self) -> Producer:
        return Producer(
            {
                **self.config.kafka.librdkafka(self._errors),
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "zstd",
                "linger.ms": self.config.linger_ms,
                # The same partitioner as Java clients and Faust: a chain's records land
                # on one partition whichever client wrote them.
                "partitioner": "murmur2_random",
                "message.timeout.ms": 300_000,
                "logger": KAFKA_LOGGER,
                **self.config.client_settings,
            }
        )

    def _failed_fatally(self, error: KafkaError) -> None:
        """The client had a fatal error (an idempotent producer that may not get its
        producer id, for one) and can send nothing more: the replayer replaces it."""
        self._errors.note(
            f"{explain(error, self.config.kafka) or error.str()}; the Kafka client is "
            "replaced and the events wait in the spool"
        )
        with self._lock:
            self._fatal = True
        self._degrade(self._acked_below)

    def _renew(self) -> None:
        """A new client in place of a failed one (at most one per RENEW_EVERY_S); what
        the old one held is resent from the spool."""
        self._stop.wait(max(0.0, self._renewed_at + RENEW_EVERY_S - time.monotonic()))
        with self._lock:
            self._kafka = self._new_client()
            self._in_flight = InFlight(self._acked_below)
            self._fatal = False
            self._renewed_at = time.monotonic()
        self._degrade(self._acked_below)

    def _poll(self, timeout: float) -> None:
        assert self._kafka is not None
        try:
            self._kafka.poll(timeout)
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            self._failed_fatally(exc.args[0])

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until Kafka has acknowledged every event so far; False on timeout."""
        if not self._started:
            return True
        assert self._kafka is not None and self._spool is not None
        deadline = time.monotonic() + timeout
        target = self._spool.next_seq
        while time.monotonic() < deadline:
            try:
                self._kafka.flush(min(0.5, max(0.0, deadline - time.monotonic())))
            except KafkaException as exc:
                if not exc.args[0].fatal():
                    raise
                self._failed_fatally(exc.args[0])
            self._advance_acks()
            if self._acked_below >= target:
                return True
            self._wake.set()
        return False

    def close(self, timeout: float | None = None) -> None:
        """Flush (up to `timeout`, default the config's `close_timeout_s`), stop the
        threads and close the spool. Records not yet acknowledged stay in the spool for
        the next start."""
        if not self._started or self._closed:
            self._closed = True
            return
        self.flush(self.config.close_timeout_s if timeout is None else timeout)
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(5)
        self._advance_acks()
        assert self._spool is not None
        self._spool.close()
        self._closed = True

    @property
    def problem(self) -> str | None:
        """Why events are not reaching Kafka, when the connection settings or the
        principal's ACLs are the cause (they wait in the spool meanwhile); else None."""
        return self._errors.latest

    def stats(self) -> dict[str, int]:
        out = self._stats.as_dict()
        out["pending"] = (self._spool.next_seq - self._acked_below) if self._spool else 0
        return out

    # -- sending ------------------------------------------------------------------
    def send(self, key: bytes, value: bytes) -> None:
        """Spool one record and hand it to Kafka; raises `SpoolFullError` at the cap."""
        if not self._started:
            self.start()
        assert self._append is not None and self._kafka is not None
        if failpoints.drop("producer.send"):
            return
        with self._lock:
            seq = self._append(key, value)
            self._stats.spooled += 1
            if self._healthy and not self._produce(
                seq, self.config.topic, key, value, _HEADER_LIST
            ):
                self._degrade(seq)
        self._sends += 1
        if not self._sends % POLL_EVERY:
            self._poll(0)

    def _produce(
        self, seq: int, topic: str, key: bytes | None, value: bytes, hdrs: list[Any]
    ) -> bool:
        """Hand one record to librdkafka; False when its queue is full or it refuses
        the record outright."""
        assert self._kafka is not None
        self._in_flight.add(value, seq)
        try:
            # Positional: confluent-kafka parses keyword arguments at twice the cost of
            # the rest of this call. (topic, value, key, partition: any, callback,
            # on_delivery alias, timestamp: none, headers)
            self._kafka.produce(topic, value, key, -1, self._on_delivery, None, 0, hdrs)
        except BufferError:
            self._in_flight.discard(value, seq)
            return False
        except KafkaException as exc:
            # librdkafka refuses at once what it knows will fail (a topic this user may
            # not write): the record stays in the spool, and the replayer retries it.
            self._in_flight.discard(value, seq)
            error = exc.args[0]
            if error.fatal():
                self._failed_fatally(error)
                return False
            cause = explain(error, self.config.kafka) or f"Kafka refused a record: {error.str()}"
            self._errors.note(f"{cause}; events wait in the spool and are replayed")
            return False
        self._stats.sent += 1
        return True

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            if self._in_flight.delivered(msg.value() or b"") is None:
                log.error("delivery report for a record not in flight")
            else:
                self._stats.acked += 1
                self._errors.clear()
            return
        seq = self._in_flight.take(msg.value() or b"")
        if seq is None:
            log.error("failed delivery of a record not in flight: %s", err)
            return
        self._stats.failed += 1
        cause = explain(err, self.config.kafka)
        if cause is None:
            log.warning("audit event (spool seq %d) not delivered: %s; will replay", seq, err)
        else:  # every queued event fails alike: say it once, keep them in the spool
            self._errors.note(f"{cause}; events wait in the spool and are replayed")
        self._degrade(seq)

    def _degrade(self, seq: int) -> None:
        with self._lock:
            self._healthy = False
            if self._replay_from is None or seq < self._replay_from:
                self._replay_from = seq
        self._wake.set()

    # -- background ----------------------------------------------------------------
    def _advance_acks(self) -> None:
        with self._ack_lock:
            below = self._in_flight.advance()
            if below != self._acked_below:
                self._acked_below = below
                assert self._spool is not None
                self._spool.acknowledge(below)

    def _poll_loop(self) -> None:
        assert self._kafka is not None
        assert self._spool is not None
        seen = -1
        while not self._stop.is_set():
            if self._sends == seen:  # nothing sent since the last round: poll here
                self._poll(POLL_INTERVAL_S)
            else:
                seen = self._sends
                self._stop.wait(POLL_INTERVAL_S)
            self._advance_acks()
            self._spool.sync_if_due()

    def _replay_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._fatal:
                self._renew()
            with self._lock:
                start = self._replay_from
                self._replay_from = None
            if start is not None:
                self._replay(start)

    def _restart(self, position: int) -> bool:
        """A delivery failed while replaying: start over from the failed record or from
        where this replay stands, whichever comes first (a failure further on must not
        skip the records this replay has not reached yet). False when none failed."""
        with self._lock:
            if self._replay_from is None:
                return False
            self._replay_from = min(self._replay_from, position)
            return True

    def _replay(self, start: int) -> None:
        """Send everything from `start` on that Kafka has not acknowledged, in order;
        then, if nothing failed meanwhile, return to sending directly."""
        assert self._spool is not None and self._kafka is not None
        position = start
        while not self._stop.is_set():
            for record in self._spool.pending(position):
                if self._in_flight.acknowledged(record.seq):
                    position = record.seq + 1
                    continue
                headers = list(record.headers)
                while not self._stop.is_set() and not self._produce(
                    record.seq, record.topic, record.key, record.value, headers
                ):
                    if self._fatal:
                        return
                    self._poll(0.2)
                self._stats.replayed += 1
                position = record.seq + 1
                if self._replay_from is not None and self._restart(position):
                    return
            with self._lock:
                if self._restart(position):
                    return
                if position >= self._spool.next_seq:
                    self._healthy = True
                    log.info("spool replay caught up at seq %d", position)
                    return
