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
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TextIO

from auditstream.archive import lifecycle
from auditstream.archive.store import FileArchive, S3Archive, open_archive
from auditstream.cli.demo import counts, events, evidence, integrations, show
from auditstream.cli.demo.keys import DemoKeys
from auditstream.cli.demo.progress import ProgressBar
from auditstream.cli.demo.worker import DemoWorker
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import ClickHouseClient, connect
from auditstream.core.content import DigestPolicy
from auditstream.core.retention import parse_policy
from auditstream.devstack import kafka
from auditstream.devstack import stack as devstack
from auditstream.errors import DemoError
from auditstream.processors.topics import ensure_topics
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.query.store import AuditStore
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings, Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import default_policy_file, schemas_dir
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig

SEED_TENANT = "acme"
PARTITIONS = 2


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
    evidence_pack: str = ""  # the SOC 2 pack of the seed tenant
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Demo:
    """One demo run against the services named by `settings`; output goes to `out`."""

    def __init__(self, settings: Settings, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.state = settings.state_dir.resolve()
        self.started = dt.datetime.now(dt.UTC)
        self.run_id = self.started.strftime("%Y%m%dT%H%M%S") + secrets.token_hex(2)
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
        self._lock = threading.Lock()  # one embedded engine: the sink and the API take turns
        self._threads: list[threading.Thread] = []
        self._cleanup = contextlib.ExitStack()

    def chain(self, tenant: str) -> str:
        return f"{tenant}/demo-{self.run_id}"

    # -- the run -------------------------------------------------------------------
    def run(self) -> Summary:
        started = time.monotonic()
        with self._cleanup:
            kafka = self._kafka()
            keys = DemoKeys.ensure(self.state / "keys")
            client, database = self._clickhouse()
            archive = self._archive()
            ensure_topics(kafka, self.topics)
            worker = self._start_worker(kafka, keys)
            archive_sink = self._start_sinks(kafka, client, database, archive)
            self._wait(worker.ready, "the processor to start", worker)
            self._produce(kafka, keys, client, database)
            self._settle(client, database, worker)
            self._stop_sinks()
            self.summary.archived = archive_sink.entries_archived
            self.summary.dead_lettered = counts.dead_letters(
                kafka, self.topics.deadletter, PARTITIONS, f"demo-{self.run_id}-deadletters"
            )
            store = AuditStore(client, database)
            show.show_queries(store, SEED_TENANT, self.chain(SEED_TENANT), self._say)
            report = show.verify_stores(client, database, archive, keys, self.out)
            self.summary.verify_ok = report.ok
            pack = evidence.write_pack(
                self.state / "reports" / f"{evidence.FRAMEWORK}-{SEED_TENANT}-{self.run_id}",
                client,
                database,
                archive,
                keys,
                (kafka, self.topics.deadletter),
                (self.started - dt.timedelta(hours=2), dt.datetime.now(dt.UTC)),
                SEED_TENANT,
                self._say,
            )
            self.summary.evidence_pack = str(pack)
            self.summary.seconds = round(time.monotonic() - started, 1)
            if self.options.keep:
                self._keep(kafka, client, database, worker)
        return self.summary

    # -- services ------------------------------------------------------------------
    def _kafka(self) -> KafkaConnection:
        if os.environ.get("AUDITSTREAM_KAFKA_BOOTSTRAP"):
            given = self.settings.kafka
            self._say(f"Kafka: {given.bootstrap} (AUDITSTREAM_KAFKA_*)")
            return given
        running = kafka.running(self.state)
        if running is None:
            self._say("starting Kafka (auditstream dev up; the first run downloads it)...")
            info = devstack.up(self.state, with_minio=False)
            assert info.kafka is not None
            running = info.kafka
            self._cleanup.callback(self._stop_kafka)
        self._say(f"Kafka {running.version} at {running.bootstrap}")
        return kafka.connection(self.state, running)

    def _stop_kafka(self) -> None:
        kafka.stop(self.state)
        (self.state / "stack.json").unlink(missing_ok=True)

    def _clickhouse(self) -> tuple[ClickHouseClient, str]:
        dsn, database = self.summary.clickhouse_dsn, self.settings.clickhouse_database
        client = connect(dsn, auth=self.settings.clickhouse)
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

    def _start_worker(self, kafka: KafkaConnection, keys: DemoKeys) -> DemoWorker:
        worker = DemoWorker.start(self.home, kafka, self.topics, keys, self.run_id)
        self._cleanup.callback(worker.stop)
        return worker

    def _start_sinks(
        self,
        kafka: KafkaConnection,
        client: ClickHouseClient,
        database: str,
        archive: FileArchive | S3Archive,
    ) -> ArchiveSink:
        store_sink = ClickHouseSink(
            client,
            SinkConfig(kafka, self.topics, database, group_id=f"demo-{self.run_id}-ch"),
            lock=self._lock,
        )
        archive_sink = ArchiveSink(
            archive,
            ArchiveConfig(kafka, self.topics, group_id=f"demo-{self.run_id}-archive"),
        )
        for name, target in (("clickhouse", store_sink.run), ("archive", archive_sink.run)):
            thread = threading.Thread(target=target, args=(self._stop,), name=f"sink-{name}")
            thread.start()
            self._threads.append(thread)
        self._cleanup.callback(self._stop_sinks)
        return archive_sink

    def _stop_sinks(self) -> None:
        """Stop both sinks; the archive sink writes its open segments on the way out."""
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        self._threads.clear()

    # -- producing and waiting -------------------------------------------------------
    def _produce(
        self, kafka: KafkaConnection, keys: DemoKeys, client: ClickHouseClient, database: str
    ) -> None:
        content = DigestPolicy(keyfiles.load_keyring(keys.content).active)
        config = ProducerConfig(
            kafka=kafka,
            topic=self.topics.raw,
            spool_dir=self.home / "spool",
            tenant_id=SEED_TENANT,
            chain_id=self.chain(SEED_TENANT),
            environment="production",
            strict=True,
            heartbeat_interval_s=0,  # numbered all the same; the counts below stay exact
        )
        producer = AuditProducer(config, content=content)
        self._cleanup.callback(producer.close)
        events.produce_seeds(producer, self._say)
        doors = integrations.produce(producer, self._say)
        reviews = evidence.review_through_api(
            producer, client, database, self._lock, SEED_TENANT, self.chain, self._say
        )
        events.produce_synthetic(producer, self.options.events, self.options.tenants, self.chain)
        if not producer.flush(self.options.timeout_s):
            raise DemoError("Kafka did not acknowledge every demo event")
        self.summary.produced = producer.stats()["acked"]
        expected = events.SEEDS + doors + reviews + self.options.events
        if self.summary.produced != expected:
            raise DemoError(f"produced {self.summary.produced} of {expected} events")
        tenants = events.synthetic_tenants(self.options.tenants)
        self.summary.chains = sorted({self.chain(SEED_TENANT)} | {self.chain(t) for t in tenants})
        events.produce_garbage(kafka, self.topics.raw, self._say)

    def _settle(self, client: ClickHouseClient, database: str, worker: DemoWorker) -> None:
        expected = self.summary.produced
        progress = ProgressBar("sealed, stored and checkpointed", expected)

        def done() -> bool:
            now = counts.stored(client, database, self.summary.chains)
            progress.show(min(now.sealed, now.covered))
            return now.sealed >= expected and now.covered >= now.sealed

        self._wait(done, "every event to be sealed, stored and checkpointed", worker)
        progress.done()
        final = counts.stored(client, database, self.summary.chains)
        self.summary.sealed, self.summary.in_clickhouse = final.sealed, final.rows

    def _wait(self, check: Callable[[], bool], what: str, worker: DemoWorker) -> None:
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

    # -- keep running ------------------------------------------------------------------
    def _keep(
        self, kafka: KafkaConnection, client: ClickHouseClient, database: str, worker: DemoWorker
    ) -> None:
        from auditstream.query.api import Grant, token_digest  # noqa: PLC0415
        from auditstream.web import app, server  # noqa: PLC0415

        token = secrets.token_urlsafe(24)
        token_file = self.home / "api-token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        web = app.Settings(
            client=client,
            database=database,
            grants=[Grant("demo", token_digest(token), None)],
            verifiers=keyfiles.load_verifiers(DemoKeys.ensure(self.state / "keys").public),
            policy=parse_policy(default_policy_file().read_text(encoding="utf-8")),
            lock=self._lock,
        )
        running = server.start(app.create_app(web), server.Listen(port=0))
        port = running.port
        self._say(
            "\n== still running (--keep); Ctrl-C stops everything\n"
            f"Kafka            {kafka.bootstrap}\n"
            f"raw topic        {self.topics.raw}\n"
            f"processor        pid {worker.pid}, log {worker.log}\n"
            f"query API        http://127.0.0.1:{port}  (token in {token_file})\n"
            f"console          http://127.0.0.1:{port}/ (sign in with that token)\n"
            f"archive          {self.summary.archive_url}\n"
            "try: auditstream query guardrail_denials "
            f"--api http://127.0.0.1:{port} --token-file {token_file}\n"
            "(embedded ClickHouse is held by this process; `auditstream verify --clickhouse` "
            "works once it stops)"
        )
        self._stop = threading.Event()
        self._start_sinks(
            kafka, client, database, open_archive(self.summary.archive_url, self.settings.s3)
        )
        try:
            while True:
                time.sleep(1)
        finally:
            running.stop()

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)
