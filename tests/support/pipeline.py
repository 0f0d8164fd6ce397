"""Running the real processor as separate processes, feeding it, and checking the result.

Workers are `python -m auditstream worker` subprocesses, killed with SIGKILL or
stopped with SIGTERM (then SIGKILL after a timeout: Faust sometimes hangs on shutdown
after a restart, see docs/decisions/0006-processor-exactly-once.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from auditstream.core.body import decode_body
from auditstream.core.verify import ChainReport, ChainVerifier
from auditstream.devstack.procs import free_port
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1.log_entry_pb2 import LogEntry
from auditstream.proto.v1.sealed_pb2 import Checkpoint, SealedEntry
from auditstream.samples.workload import Workload, generate
from auditstream.settings import keyfiles
from auditstream.settings.config import Topics as TopicSettings
from auditstream.settings.config import kafka_environment
from auditstream.settings.connection import KafkaConnection

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Keys:
    hmac: Path
    signer: Path
    content: Path
    dead_letter: Path  # the operator's private key; the worker gets its .pub

    @property
    def dead_letter_public(self) -> Path:
        return self.dead_letter.with_name(self.dead_letter.name + ".pub")

    @classmethod
    def create(cls, folder: Path) -> Keys:
        keys = cls(
            folder / "hmac.json",
            folder / "checkpoint.key",
            folder / "content.json",
            folder / "deadletter.key",
        )
        keyfiles.write_new_keyring(keys.hmac, "k1")
        keyfiles.write_new_signer(keys.signer, "test-checkpoints")
        keyfiles.write_new_keyring(keys.content, "salt-1")
        keyfiles.write_new_dead_letter_key(keys.dead_letter, "test-dlq")
        return keys


@dataclass
class Topics:
    prefix: str
    partitions: int

    def env(self) -> dict[str, str]:
        return {
            "AUDITSTREAM_TOPIC_RAW": f"{self.prefix}.raw",
            "AUDITSTREAM_TOPIC_SEALED": f"{self.prefix}.sealed",
            "AUDITSTREAM_TOPIC_CHECKPOINTS": f"{self.prefix}.checkpoints",
            "AUDITSTREAM_TOPIC_DEADLETTER": f"{self.prefix}.deadletter",
            "AUDITSTREAM_TOPIC_STATE": f"{self.prefix}.state",
            "AUDITSTREAM_TOPIC_PARTITIONS": str(self.partitions),
        }

    @property
    def raw(self) -> str:
        return f"{self.prefix}.raw"

    def settings(self) -> TopicSettings:
        """The same names as the settings object the sinks and the worker take."""
        return TopicSettings(
            raw=f"{self.prefix}.raw",
            sealed=f"{self.prefix}.sealed",
            checkpoints=f"{self.prefix}.checkpoints",
            deadletter=f"{self.prefix}.deadletter",
            state=f"{self.prefix}.state",
            partitions=self.partitions,
        )


def connection(kafka: str | KafkaConnection) -> KafkaConnection:
    """A bootstrap string (the plain test broker) or a whole connection."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


class Worker:
    """One `auditstream worker` process. Every worker started is in `Worker.started`,
    so a fixture can stop them all even when a test fails half way."""

    started: list[Worker] = []  # noqa: RUF012 - deliberately shared

    def __init__(
        self,
        bootstrap: str | KafkaConnection,
        keys: Keys,
        topics: Topics,
        home: Path,
        name: str,
        app_id: str,
        checkpoint_every: int = 500,
        extra: tuple[str, ...] = (),
        instance_id: str = "",
    ) -> None:
        self.log = home / f"{name}.log"
        self.metrics_port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **kafka_environment(connection(bootstrap)), **topics.env())
        argv = [
            sys.executable, "-m", "auditstream", "worker",
            "--hmac-keys", str(keys.hmac),
            "--checkpoint-key", str(keys.signer),
            "--content-keys", str(keys.content),
            "--dead-letter-key", str(keys.dead_letter_public),
            "--state-dir", str(home / name),
            "--app-id", app_id,
            "--checkpoint-every", str(checkpoint_every),
            "--checkpoint-interval", "3",
            "--metrics-port", str(self.metrics_port),
            *(["--instance-id", instance_id] if instance_id else []),
            *extra,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        Worker.started.append(self)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.log}")
            if "Worker ready" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready; see {self.log}")

    def is_ready(self) -> bool:
        return "Worker ready" in self.log.read_text(errors="replace")

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/health", timeout=2
            ) as r:
                return dict(json.loads(r.read()))
        except OSError:
            return {}

    def metric(self, name: str) -> dict[str, float]:
        """The samples of one metric from /metrics, by their label text."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode()
        samples = {}
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                labels, _, value = line[len(name) :].rpartition(" ")
                samples[labels] = float(value)
        return samples

    def wait_batches(self, count: int, timeout: float = 120, what: str = "batches") -> None:
        """Wait until this worker's health shows `count` of `what`: rounds of its loop
        ("batches", so a kill hits it busy) or committed "transactions"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.health().get(what, 0)
            if isinstance(done, int) and done >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker has not got {count} {what}; see {self.log}")

    def wait_sealed(self, count: int, timeout: float = 120) -> None:
        """Wait until this worker has sealed `count` entries (its own, since it started):
        a kill then hits it while it seals, not while it waits for its partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.metric("auditstream_processor_sealed_total").get("", 0) >= count:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"worker has not sealed {count} entries; see {self.log}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def errors(self) -> list[str]:
        """Lines that show a bug: a traceback or a refused recovery. (A fail-stop
        after an error during a broker outage is expected behaviour, not a bug.)"""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "RecoveryError:" in line]


class Supervisor:
    """Keeps one worker running, as systemd or a Kubernetes StatefulSet would: a worker
    that exits (killed by a test, or stopping itself on an error) is replaced by a new
    one. `start(name, slot)` starts one; every worker of a supervisor gets the same slot
    (its stable `--instance-id`, as a pod name is), so a replacement's transactional id
    fences its predecessor and aborts that one's open transaction at once."""

    def __init__(self, start: Callable[[str, str], Worker], prefix: str = "w") -> None:
        self._start = start
        self._prefix = prefix
        self.workers = [start(f"{prefix}0", prefix)]
        self.workers[0].wait_ready()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    @property
    def current(self) -> Worker:
        return self.workers[-1]

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            if self.current.proc.poll() is not None:
                worker = self._start(f"{self._prefix}{len(self.workers)}", self._prefix)
                self.workers.append(worker)
                # One that exits while starting (Kafka still down) is replaced next round.
                with contextlib.suppress(RuntimeError, TimeoutError):
                    worker.wait_ready()

    def kill_and_wait_replacement(self) -> None:
        count = len(self.workers)
        self.current.kill()
        deadline = time.monotonic() + 180
        while len(self.workers) == count or not self.current.is_ready():
            if time.monotonic() > deadline:
                raise TimeoutError("no replacement worker became ready")
            time.sleep(0.2)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        for worker in self.workers:
            worker.stop()


@dataclass
class Feed:
    """Produces `count` events over `chains` tenants at about `rate` per second: skewed
    as the workload skews tenants, or spread evenly (`even`: event n goes to chain
    n mod `chains`, so every chain gets events). With `spool`, through the producer
    library and its spool in that folder (each event keyed by its tenant's chain), and
    then every spooled event must be acknowledged by Kafka at the end."""

    bootstrap: str
    topic: str
    count: int
    chains: int
    rate: float
    seed: int = 7
    even: bool = False
    spool: Path | None = None
    event_ids: list[str] = field(default_factory=list)
    chain_ids: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Feed:
        target = self._run if self.spool is None else self._run_spooled
        self.thread = threading.Thread(target=target, name="feed", daemon=True)
        self.thread.start()
        return self

    def _entries(self) -> Iterator[LogEntry]:
        """The events, at the feed's rate."""
        shape = Workload(tenants=self.chains)
        started = time.monotonic()
        for n, entry in enumerate(generate(random.Random(self.seed), self.count, shape)):
            entry.event_time.FromNanoseconds(time.time_ns())
            if self.even:
                entry.tenant_id = shape.tenant(n % self.chains)
            self.event_ids.append(entry.event_id)
            self.chain_ids.add(entry.tenant_id)
            yield entry
            ahead = n / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "partitioner": "murmur2_random",
                "message.timeout.ms": 300_000,
            }
        )
        for entry in self._entries():
            while True:
                try:
                    producer.produce(
                        self.topic,
                        key=entry.tenant_id.encode(),
                        value=entry.SerializeToString(),
                        on_delivery=self._delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(300)
        if remaining:
            self.errors.append(f"{remaining} events not delivered")

    def _run_spooled(self) -> None:
        assert self.spool is not None
        config = ProducerConfig(
            kafka=KafkaConnection(self.bootstrap),
            topic=self.topic,
            spool_dir=self.spool,
            heartbeat_interval_s=0,
        )
        producer = AuditProducer(config)
        try:
            for entry in self._entries():
                producer.emit(entry, chain_id=entry.tenant_id)
            if not producer.flush(300):
                self.errors.append(f"spool: not acknowledged after 300 s: {producer.stats()}")
            stats = producer.stats()
            if stats["pending"] or stats["dropped"] or stats["spooled"] != self.count:
                self.errors.append(f"spool: {stats}")
        finally:
            producer.close()

    def _delivered(self, err: object, msg: object) -> None:
        if err is not None:
            self.errors.append(str(err))

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join()
        assert not self.errors, self.errors[:5]


def read_topic(
    bootstrap: str | KafkaConnection,
    topic: str,
    expected: int,
    timeout: float = 300,
    quiet: float = 5,
) -> list[SealedEntry | bytes]:
    """Committed records of `topic` in partition order, until `expected` are in and
    nothing more arrives for `quiet` seconds."""
    consumer = Consumer(
        {
            **connection(bootstrap).librdkafka(),
            "group.id": f"check-{topic}-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
            got = [m.value() for m in batch if m.error() is None and m.value() is not None]
            if got:
                values.extend(got)
                last = time.monotonic()
            elif len(values) >= expected and time.monotonic() - last > quiet:
                break
    finally:
        consumer.close()
    return values  # type: ignore[return-value]


@dataclass
class Result:
    reports: dict[str, ChainReport]
    event_counts: Counter[str]
    sealed: int
    signed_again: list[tuple[str, int]] = field(default_factory=list)  # (chain, tree size)

    def problems(self, produced: list[str]) -> list[str]:
        out = []
        if self.signed_again:
            out.append(f"trees signed more than once: {self.signed_again[:5]}")
        for chain_id, report in self.reports.items():
            if not report.ok:
                out.append(f"{chain_id}: {[(f.kind, f.seq) for f in report.findings[:5]]}")
            if report.first_seq != 0:
                out.append(f"{chain_id}: starts at seq {report.first_seq}")
        duplicated = [e for e, n in self.event_counts.items() if n > 1]
        missing = set(produced) - set(self.event_counts)
        extra = set(self.event_counts) - set(produced)
        if duplicated:
            out.append(f"{len(duplicated)} events sealed more than once, e.g. {duplicated[:3]}")
        if missing:
            out.append(f"{len(missing)} events never sealed, e.g. {sorted(missing)[:3]}")
        if extra:
            out.append(f"{len(extra)} unexpected events sealed")
        return out


def check_sealed(bootstrap: str, topics: Topics, keys: Keys, expected: int) -> Result:
    """Verify every chain in topic order, with MACs and every signed checkpoint."""
    entries = [
        SealedEntry.FromString(v)
        for v in read_topic(bootstrap, f"{topics.prefix}.sealed", expected)
    ]  # type: ignore[arg-type]
    notes: dict[str, list[bytes]] = defaultdict(list)
    signed: Counter[tuple[str, int]] = Counter()
    for value in read_topic(bootstrap, f"{topics.prefix}.checkpoints", 1, timeout=30, quiet=3):
        checkpoint = Checkpoint.FromString(value)  # type: ignore[arg-type]
        notes[checkpoint.chain_id].append(checkpoint.note)
        signed[checkpoint.chain_id, checkpoint.tree_size] += 1
    by_chain: dict[str, list[SealedEntry]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for entry in entries:
        by_chain[entry.chain_id].append(entry)
        counts[decode_body(entry.body).entry.event_id] += 1
    keyring = keyfiles.load_keyring(keys.hmac)
    verifier_key = keyfiles.load_signer(keys.signer).verifier
    reports = {}
    for chain_id, chain_entries in by_chain.items():
        verifier = ChainVerifier(
            chain_id, keyring=keyring, note_verifiers=[verifier_key], checkpoints=notes[chain_id]
        )
        verifier.feed_many(chain_entries)
        reports[chain_id] = verifier.finish()
    again = sorted(tree for tree, n in signed.items() if n > 1)
    return Result(reports, counts, len(entries), again)


def create_pipeline(
    bootstrap: str | KafkaConnection, partitions: int, folder: Path
) -> tuple[Topics, Keys]:
    """Fresh, uniquely named pipeline topics and fresh keys."""
    from auditstream.processors.topics import ensure_topics  # noqa: PLC0415
    from tests.support.infra import unique  # noqa: PLC0415

    topics = Topics(unique("pipe"), partitions)
    ensure_topics(connection(bootstrap), topics.settings())
    return topics, Keys.create(folder / "keys")


def produce(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Produce (key, value, headers) records in order and wait for every ack."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
            "message.max.bytes": 2_000_000,
        }
    )
    failures: list[str] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value, headers in records:
        while True:
            try:
                producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=delivered
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0 and not failures, failures[:3]


def sink_into_clickhouse(
    client: Any, bootstrap: str, topics: Topics, database: str, rows: int, timeout: float = 120
) -> None:
    """Migrate `database`, then run the ClickHouse sink on the pipeline's sealed topic until
    it has inserted `rows` rows."""
    from auditstream.clickhouse import migrations  # noqa: PLC0415
    from auditstream.settings.resources import schemas_dir  # noqa: PLC0415
    from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig  # noqa: PLC0415

    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database=database))
    sink = ClickHouseSink(client, SinkConfig(connection(bootstrap), topics.settings(), database))
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while sink.rows_inserted < rows:
            assert time.monotonic() < deadline, f"{sink.rows_inserted} of {rows} rows inserted"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(60)
