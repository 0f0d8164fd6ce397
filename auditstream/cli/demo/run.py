"""`auditstream demo`: the whole pipeline on this machine, end to end.

One run:
  1. starts Kafka (`auditstream dev up`, unless AUDITSTREAM_KAFKA_BOOTSTRAP names one),
     creates keys under the state folder (once), migrates ClickHouse, initialises the
     archive;
  2. starts the processor (`auditstream worker`, a child process) and both sinks (threads
     of this process: embedded ClickHouse allows one process per path, and this
     process queries it afterwards);
  3. produces the seed usage examples, an AI interaction and a data change, a synthetic
     multi-tenant workload and one unparseable record (which must be dead-lettered);
  4. waits until every sealed entry is in ClickHouse and the archive and covered by a
     signed checkpoint, prints named queries and verifies both stores with the public
     key only;
  5. stops what it started (with `keep`, serves the query API until interrupted first).

Each run uses its own topics and chains (`<tenant>/demo-<run>`), so runs never collide
and the stores keep every run's data for `auditstream verify` and `auditstream query`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, Producer

from auditstream.archive import lifecycle
from auditstream.archive.store import FileArchive, S3Archive, open_archive
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect
from auditstream.core.content import DigestPolicy
from auditstream.core.retention import parse_policy
from auditstream.devstack import kafka, procs
from auditstream.devstack import stack as devstack
from auditstream.errors import AuditStreamError
from auditstream.processors.topics import ensure_topics
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.query.store import AuditQuery, AuditStore
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields
from auditstream.samples.workload import Workload, generate
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings, Topics
from auditstream.settings.resources import default_policy_file, schemas_dir
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Report, verify_sources

log = logging.getLogger(__name__)

SEED_TENANT = "acme"
WORKER_READY = "Worker ready"
PARTITIONS = 2


class DemoError(AuditStreamError):
    """The demo could not complete (a service did not start or fell behind)."""


@dataclass(frozen=True)
class DemoOptions:
    events: int = 5000  # synthetic events on top of the seed examples
    tenants: int = 3
    keep: bool = False  # after the report, keep running and serve the query API
    timeout_s: float = 300.0  # for each wait on the pipeline


@dataclass
class Summary:
    """The machine-readable result (`auditstream demo --json`)."""

    produced: int = 0
    sealed: int = 0
    dead_lettered: int = 0
    in_clickhouse: int = 0
    archived: int = 0
    verify_ok: bool = False
    clickhouse_dsn: str = ""
    archive_url: str = ""
    run: str = ""
    chains: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DemoKeys:
    hmac: Path
    signer: Path
    content: Path
    public: Path

    @classmethod
    def ensure(cls, folder: Path) -> DemoKeys:
        """The demo's keys, created once per state folder (private files are 0600)."""
        keys = cls(
            folder / "hmac.json",
            folder / "checkpoint.key",
            folder / "content.json",
            folder / "checkpoint.pub",
        )
        folder.mkdir(parents=True, exist_ok=True)
        if not keys.hmac.exists():
            keyfiles.write_new_keyring(keys.hmac, "k1")
        if not keys.content.exists():
            keyfiles.write_new_keyring(keys.content, "salt-1")
        if not keys.signer.exists():
            signer = keyfiles.write_new_signer(keys.signer, "auditstream-demo")
            keys.public.write_text(signer.verifier.encode() + "\n")
        return keys


class Demo:
    """One demo run against the services named by `settings`; output goes to `out`."""

    def __init__(self, settings: Settings, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.state = settings.state_dir.resolve()
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + secrets.token_hex(2)
        self.home = self.state / "demo" / self.run_id
        self.topics = Topics(
            raw=f"demo.{self.run_id}.raw",
            sealed=f"demo.{self.run_id}.sealed",
            checkpoints=f"demo.{self.run_id}.checkpoints",
            deadletter=f"demo.{self.run_id}.deadletter",
            state=f"demo.{self.run_id}.state",
            partitions=PARTITIONS,
        )
        self.settings = replace(settings, topics=self.topics)
        self.summary = Summary(
            clickhouse_dsn=settings.effective_clickhouse_dsn,
            archive_url=settings.effective_archive_url,
            run=self.run_id,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cleanup = contextlib.ExitStack()

    def chain(self, tenant: str) -> str:
        return f"{tenant}/demo-{self.run_id}"

    # -- the run -------------------------------------------------------------------
    def run(self) -> Summary:
        started = time.monotonic()
        with self._cleanup:
            bootstrap = self._kafka()
            keys = DemoKeys.ensure(self.state / "keys")
            client, database = self._clickhouse()
            archive = self._archive()
            ensure_topics(bootstrap, self.topics)
            worker = self._start_worker(bootstrap, keys)
            store_sink, archive_sink = self._start_sinks(bootstrap, client, database, archive)
            self._wait(worker.ready, "the processor to start", worker)
            self._produce(bootstrap, keys)
            self._settle(client, database, store_sink, worker)
            self._stop_sinks()
            self.summary.archived = archive_sink.entries_archived
            self.summary.dead_lettered = self._dead_letters(bootstrap)
            self._show_queries(AuditStore(client, database))
            report = self._verify(client, database, archive, keys)
            self.summary.verify_ok = report.ok
            self.summary.seconds = round(time.monotonic() - started, 1)
            if self.options.keep:
                self._keep(bootstrap, client, database, worker)
        return self.summary

    # -- services ------------------------------------------------------------------
    def _kafka(self) -> str:
        given = os.environ.get("AUDITSTREAM_KAFKA_BOOTSTRAP")
        if given:
            self._say(f"Kafka: {given} (AUDITSTREAM_KAFKA_BOOTSTRAP)")
            return given
        running = kafka.running(self.state)
        if running is None:
            self._say("starting Kafka (auditstream dev up; the first run downloads it)...")
            info = devstack.up(self.state, with_minio=False)
            assert info.kafka is not None
            running = info.kafka
            self._cleanup.callback(self._stop_kafka)
        self._say(f"Kafka {running.version} at {running.bootstrap}")
        return running.bootstrap

    def _stop_kafka(self) -> None:
        kafka.stop(self.state)
        (self.state / "stack.json").unlink(missing_ok=True)

    def _clickhouse(self) -> tuple[Any, str]:
        dsn, database = self.summary.clickhouse_dsn, self.settings.clickhouse_database
        client = connect(dsn)
        migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database))
        return client, database

    def _archive(self) -> FileArchive | S3Archive:
        archive = open_archive(self.summary.archive_url, self.settings.s3)
        if isinstance(archive, FileArchive):
            archive.root.mkdir(parents=True, exist_ok=True)
        else:
            text = (self.settings.policy_file or default_policy_file()).read_text("utf-8")
            lifecycle.init_s3(archive, parse_policy(text), ArchiveConfig.skeleton_days)
        self._say(f"ClickHouse {self.summary.clickhouse_dsn}, archive {archive.url}")
        return archive

    def _start_worker(self, bootstrap: str, keys: DemoKeys) -> _Worker:
        worker = _Worker.start(self.home, bootstrap, self.topics, keys, self.run_id)
        self._cleanup.callback(worker.stop)
        return worker

    def _start_sinks(
        self, bootstrap: str, client: Any, database: str, archive: FileArchive | S3Archive
    ) -> tuple[ClickHouseSink, ArchiveSink]:
        store_sink = ClickHouseSink(
            client,
            SinkConfig(bootstrap, self.topics, database, group_id=f"demo-{self.run_id}-ch"),
        )
        archive_sink = ArchiveSink(
            archive,
            ArchiveConfig(bootstrap, self.topics, group_id=f"demo-{self.run_id}-archive"),
        )
        for name, target in (("clickhouse", store_sink.run), ("archive", archive_sink.run)):
            thread = threading.Thread(target=target, args=(self._stop,), name=f"sink-{name}")
            thread.start()
            self._threads.append(thread)
        self._cleanup.callback(self._stop_sinks)
        return store_sink, archive_sink

    def _stop_sinks(self) -> None:
        """Stop both sinks; the archive sink writes its open segments on the way out."""
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        self._threads.clear()

    # -- producing -----------------------------------------------------------------
    def _produce(self, bootstrap: str, keys: DemoKeys) -> None:
        content = DigestPolicy(keyfiles.load_keyring(keys.content).active)
        config = ProducerConfig(
            bootstrap=bootstrap,
            topic=self.topics.raw,
            spool_dir=self.home / "spool",
            tenant_id=SEED_TENANT,
            chain_id=self.chain(SEED_TENANT),
            environment="production",
            strict=True,
        )
        producer = AuditProducer(config, content=content)
        self._cleanup.callback(producer.close)
        self._say("producing the seed usage examples:")
        for example in SEED_EXAMPLES:
            fields = entry_fields(example)
            producer.log(fields.pop("event_type"), fields.pop("actor_id"), **fields)
            self._say(f"  {example['name']:22} {example['message']}")
        producer.ai_interaction(
            "Summarise ticket 4411 for the customer",
            "The refund was approved on 3 March.",
            provider="openai",
            model="gpt-4o",
            conversation_id="conv-4411",
            input_tokens=412,
            output_tokens=58,
            latency_ms=840.0,
            actor_id="support-agent-7",
        )
        producer.record_change(
            "update",
            "admin-42",
            "customer",
            "cust-9001",
            old_values={"plan": "basic"},
            new_values={"plan": "enterprise"},
        )
        seeds = len(SEED_EXAMPLES) + 2
        self._say("  + an AI interaction (content as keyed digests) and a data change")
        self._synthetic(producer)
        if not producer.flush(self.options.timeout_s):
            raise DemoError("Kafka did not acknowledge every demo event")
        self.summary.produced = producer.stats()["acked"]
        expected = seeds + self.options.events
        if self.summary.produced != expected:
            raise DemoError(f"produced {self.summary.produced} of {expected} events")
        self.summary.chains = sorted(
            {self.chain(SEED_TENANT)} | {self.chain(t) for t in self._tenants()}
        )
        self._produce_garbage(bootstrap)

    def _tenants(self) -> list[str]:
        return [Workload().tenant(i) for i in range(self.options.tenants)]

    def _synthetic(self, producer: AuditProducer) -> None:
        total = self.options.events
        now = time.time_ns()
        shape = Workload(
            tenants=self.options.tenants, start_ns=now - 3_600_000_000_000, span_ns=3_600 * 10**9
        )
        progress = _ProgressBar(f"synthetic workload, {self.options.tenants} tenants", total)
        rng = random.Random(7)  # noqa: S311 - sample data, not secrets
        for n, entry in enumerate(generate(rng, total, shape), 1):
            producer.emit(entry, chain_id=self.chain(entry.tenant_id))
            if n % 250 == 0 or n == total:
                progress.show(n)
        progress.done()

    def _produce_garbage(self, bootstrap: str) -> None:
        """One record that is not a LogEntry: the processor must dead-letter it."""
        raw = Producer({"bootstrap.servers": bootstrap, "logger": KAFKA_LOGGER})
        raw.produce(self.topics.raw, key=b"acme", value=b"\xff\xfe not a protobuf LogEntry")
        if raw.flush(30) != 0:
            raise DemoError("Kafka did not acknowledge the dead-letter example")
        self._say("  + one unparseable record (it must end up in the dead-letter topic)")

    # -- waiting -------------------------------------------------------------------
    def _settle(self, client: Any, database: str, sink: ClickHouseSink, worker: _Worker) -> None:
        expected = self.summary.produced

        def counts() -> tuple[int, int, int]:
            rows = client.query(
                f"SELECT count(), sum(seq_plus_one) FROM (SELECT chain_id, count() AS n, "  # noqa: S608 - identifiers from settings
                f"max(seq) + 1 AS seq_plus_one FROM {database}.audit_events "
                "WHERE chain_id IN {chains:Array(String)} GROUP BY chain_id)",
                parameters={"chains": self.summary.chains},
            ).result_rows
            covered = client.query(
                f"SELECT sum(size) FROM (SELECT max(tree_size) AS size "  # noqa: S608
                f"FROM {database}.audit_checkpoints "
                "WHERE chain_id IN {chains:Array(String)} GROUP BY chain_id)",
                parameters={"chains": self.summary.chains},
            ).result_rows
            return int(rows[0][0] or 0), int(rows[0][1] or 0), int(covered[0][0] or 0)

        progress = _ProgressBar("sealed, stored and checkpointed", expected)

        def done() -> bool:
            _, sealed, covered = counts()
            progress.show(min(sealed, covered))
            return sealed >= expected and covered >= sealed

        self._wait(done, "every event to be sealed, stored and checkpointed", worker)
        progress.done()
        _, self.summary.sealed, _ = counts()
        self.summary.in_clickhouse = int(
            client.query(
                f"SELECT count() FROM {database}.audit_events "  # noqa: S608
                "WHERE chain_id IN {chains:Array(String)}",
                parameters={"chains": self.summary.chains},
            ).result_rows[0][0]
        )

    def _wait(self, check: Callable[[], bool], what: str, worker: _Worker) -> None:
        deadline = time.monotonic() + self.options.timeout_s
        while not check():
            worker.ensure_alive()
            if time.monotonic() > deadline:
                tail = worker.log_tail()
                raise DemoError(f"timed out waiting for {what}; processor log:\n{tail}")
            for thread in self._threads:
                if not thread.is_alive():
                    raise DemoError(f"the {thread.name} thread stopped; see the log above")
            time.sleep(0.3)

    def _dead_letters(self, bootstrap: str) -> int:
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"demo-{self.run_id}-deadletters",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "logger": KAFKA_LOGGER,
            }
        )
        consumer.subscribe([self.topics.deadletter])
        count, at_end = 0, set[int]()
        deadline = time.monotonic() + 30
        try:
            while len(at_end) < PARTITIONS and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is None:
                    count += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition() or 0)
        finally:
            consumer.close()
        return count

    # -- showing -------------------------------------------------------------------
    def _show_queries(self, store: AuditStore) -> None:
        from auditstream.cli.query import render  # noqa: PLC0415 - output formatting

        seeds = store.query(AuditQuery(tenant=SEED_TENANT, limit=20)).rows
        shown = [
            {k: row.get(k) for k in ("event_type", "actor_id", "outcome", "resource", "message")}
            for row in seeds
            if row.get("chain_id") == self.chain(SEED_TENANT)
        ]
        self._table(f"tenant {SEED_TENANT}: the seed examples as stored", render(shown, "table"))
        for name, title in (
            ("guardrail_denials", "guardrail checks that blocked something"),
            ("agent_tool_calls", "AI tool calls per agent and tool"),
            ("model_usage", "model calls and tokens per provider and model"),
            ("restricted_exports", "exports of restricted or more sensitive data"),
            ("failed_logins", "failed logins per actor"),
        ):
            rows = [_compact(row) for row in store.named(name, {"limit": 5})]
            self._table(f"{name}: {title} (top 5, every tenant)", render(rows, "table"))

    def _table(self, title: str, body: str) -> None:
        self._say(f"\n== {title}\n{body}")

    def _verify(
        self, client: Any, database: str, archive: FileArchive | S3Archive, keys: DemoKeys
    ) -> Report:
        from auditstream.cli.verify import print_report  # noqa: PLC0415 - output formatting

        self._say("\n== verification (public key only; ClickHouse and archive, cross-checked)")
        report = verify_sources(
            [ClickHouseSource(client, database), ArchiveSource(archive)],
            note_verifiers=keyfiles.load_verifiers(keys.public),
            keyring=keyfiles.load_keyring(keys.hmac),
        )
        print_report(report, self.out)
        return report

    def _keep(self, bootstrap: str, client: Any, database: str, worker: _Worker) -> None:
        from auditstream.query.api import Grant, QueryApi, serve, token_digest  # noqa: PLC0415

        token = secrets.token_urlsafe(24)
        token_file = self.home / "api-token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        lock = threading.Lock()
        api = QueryApi(
            lambda tenants: AuditStore(client, database, tenants=tenants, lock=lock),
            [Grant("demo", token_digest(token), None)],
        )
        server = serve(api, 0)
        port = server.server_address[1]
        self._say(
            "\n== still running (--keep); Ctrl-C stops everything\n"
            f"Kafka            {bootstrap}\n"
            f"raw topic        {self.topics.raw}\n"
            f"processor        pid {worker.pid}, log {worker.log}\n"
            f"query API        http://127.0.0.1:{port}  (token in {token_file})\n"
            f"archive          {self.summary.archive_url}\n"
            "try: auditstream query guardrail_denials "
            f"--api http://127.0.0.1:{port} --token-file {token_file}\n"
            "(embedded ClickHouse is held by this process; `auditstream verify --clickhouse` "
            "works once it stops)"
        )
        self._restart_sinks(bootstrap, client, database)
        try:
            while True:
                time.sleep(1)
        finally:
            server.shutdown()

    def _restart_sinks(self, bootstrap: str, client: Any, database: str) -> None:
        self._stop = threading.Event()
        archive = open_archive(self.summary.archive_url, self.settings.s3)
        self._start_sinks(bootstrap, client, database, archive)

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


EVENT_COLUMNS = ("event_time", "tenant_id", "actor_id", "outcome", "resource", "message")


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """Event rows without the ids and chain positions, so a table fits a terminal."""
    if "event_id" not in row:
        return row
    return {name: row.get(name) for name in EVENT_COLUMNS}


class _Worker:
    """The processor as a child process in its own session, stopped by pid."""

    def __init__(self, pid: int, home: Path, log: Path) -> None:
        self.pid, self.home, self.log = pid, home, log

    @classmethod
    def start(cls, home: Path, bootstrap: str, topics: Topics, keys: DemoKeys, run: str) -> _Worker:
        home.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            AUDITSTREAM_KAFKA_BOOTSTRAP=bootstrap,
            AUDITSTREAM_TOPIC_RAW=topics.raw,
            AUDITSTREAM_TOPIC_SEALED=topics.sealed,
            AUDITSTREAM_TOPIC_CHECKPOINTS=topics.checkpoints,
            AUDITSTREAM_TOPIC_DEADLETTER=topics.deadletter,
            AUDITSTREAM_TOPIC_STATE=topics.state,
            AUDITSTREAM_TOPIC_PARTITIONS=str(topics.partitions),
        )
        argv = [
            sys.executable, "-m", "auditstream", "worker",
            "--state-dir", str(home / "worker"),
            "--app-id", f"demo-{run}",
            "--hmac-keys", str(keys.hmac),
            "--checkpoint-key", str(keys.signer),
            "--content-keys", str(keys.content),
            "--checkpoint-every", "1000",
            "--checkpoint-interval", "2",
        ]  # fmt: skip
        log = home / "worker.log"
        pid = procs.start_detached(argv, log_file=log, pid_file=home / "worker.pid", env=env)
        return cls(pid, home, log)

    def ensure_alive(self) -> None:
        if not procs.alive(self.pid):
            raise DemoError(f"the processor exited; its log:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            return WORKER_READY in self.log.read_text(errors="replace")
        except OSError:
            return False

    def log_tail(self) -> str:
        return procs.tail(self.log, 30)

    def stop(self) -> None:
        procs.stop(self.pid, str(self.home), timeout=20)


class _ProgressBar:
    """A one-line progress bar on stderr when it is a terminal, else a few lines."""

    def __init__(self, what: str, total: int, width: int = 30) -> None:
        self.what, self.total, self.width = what, max(total, 1), width
        self.tty = sys.stderr.isatty()
        self.last_quarter = -1

    def show(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        if self.tty:
            filled = int(share * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            print(f"\r  [{bar}] {done:>7,}/{self.total:,} {self.what}", end="", file=sys.stderr)
            sys.stderr.flush()
        elif int(share * 4) > self.last_quarter:
            self.last_quarter = int(share * 4)
            print(f"  {done:,}/{self.total:,} {self.what}", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr, flush=True)


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so both unwind the same clean-up path."""
    import signal  # noqa: PLC0415

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
