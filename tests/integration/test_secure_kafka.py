"""The pipeline on a secured broker: SASL_SSL (SCRAM-SHA-512) with certificates from the
project's own CA, the StandardAuthorizer and the least-privilege ACLs that
`auditstream kafka acls --apply` sets. Every role connects as its own user; the archive
sink writes with the archive writer's S3 policy and `verify` reads with the reader's."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from auditstream.archive.store import S3Archive
from auditstream.cli import main
from auditstream.clickhouse import migrations
from auditstream.devstack import certs, kafka
from auditstream.devstack.minio import scoped_credentials
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.security.s3_policies import archive_reader_policy, archive_writer_policy
from auditstream.settings import keyfiles
from auditstream.settings.config import S3Settings, kafka_environment
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.settings.secret import Secret
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import Infra, s3_env, unique
from tests.support.pipeline import REPO, Keys, Topics, Worker, create_pipeline, read_topic

pytestmark = pytest.mark.integration
EVENTS = 300


@dataclasses.dataclass(frozen=True)
class SecureBroker:
    state: Path
    info: kafka.KafkaInfo

    def user(self, name: str) -> KafkaConnection:
        return kafka.connection(self.state, self.info, name)

    def passwords(self) -> list[str]:
        users: dict[str, str] = json.loads((self.state / "kafka" / "users.json").read_text())
        return list(users.values())


@pytest.fixture(scope="module")
def broker(infra: Infra) -> SecureBroker:
    return SecureBroker(*infra.secure_kafka())


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not after {timeout:.0f} s", pytrace=False)


def apply_acls(broker: SecureBroker, topics: Topics, app_id: str) -> str:
    """`auditstream kafka acls --apply` as the admin, in a child process (as an operator
    runs it); returns what it printed."""
    env = dict(os.environ, **kafka_environment(broker.user("admin")), **topics.env())
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "kafka", "acls", "--apply", "--app-id", app_id],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def audit_producer(
    kafka: KafkaConnection, topics: Topics, home: Path, **settings: Any
) -> AuditProducer:
    return AuditProducer(
        ProducerConfig(
            kafka, topic=topics.raw, spool_dir=home / "spool", tenant_id="acme", **settings
        )
    )


def entry(number: int) -> pb.LogEntry:
    return pb.LogEntry(
        event_type=pb.EVENT_LOGIN,
        actor_id=f"user-{number % 7}",
        resource="auth/login",
        message=f"login {number}",
    )


@pytest.fixture
def pipeline(broker: SecureBroker, tmp_path: Path) -> Iterator[tuple[Topics, Keys, str]]:
    topics, keys = create_pipeline(broker.user("admin"), 2, tmp_path)
    yield topics, keys, unique("proc")


def test_the_whole_pipeline_runs_on_sasl_ssl_each_role_as_its_own_user(
    broker: SecureBroker,
    pipeline: tuple[Topics, Keys, str],
    infra: Infra,
    s3_settings: S3Settings,
    clickhouse: Any,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topics, keys, app_id = pipeline
    printed = apply_acls(broker, topics, app_id)
    worker = Worker(broker.user("worker"), keys, topics, tmp_path, "w", app_id)
    producer = audit_producer(broker.user("producer"), topics, tmp_path)
    try:
        worker.wait_ready()
        with producer:
            for number in range(EVENTS):
                producer.emit(entry(number))
            assert producer.flush(60), producer.stats()
        # + the heartbeat with which the producer says it stops
        sealed = read_topic(broker.user("admin"), f"{topics.prefix}.sealed", EVENTS + 1, quiet=3)
        assert len(sealed) == EVENTS + 1
        time.sleep(4)  # a time-based checkpoint (3 s) covers the last entries
    finally:
        worker.stop()
    assert not worker.errors(), worker.errors()

    bucket = unique("as-secure")
    for name, value in s3_env(s3_settings).items():
        monkeypatch.setenv(name, value)
    assert main(["archive", "init", "--archive", f"s3://{bucket}/audit"]) == 0
    migrations.migrate(
        clickhouse, schemas_dir() / "clickhouse", migrations.Target(database=ch_database)
    )
    settings = topics.settings()
    writer = scoped_credentials(s3_settings, archive_writer_policy(bucket, "audit"))
    archive_sink = ArchiveSink(
        S3Archive(bucket, "audit", writer),
        ArchiveConfig(broker.user("sink-archive"), settings, max_entries=100, max_age_s=1.0),
    )
    store_sink = ClickHouseSink(
        clickhouse, SinkConfig(broker.user("sink-clickhouse"), settings, ch_database)
    )
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in (archive_sink, store_sink)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: store_sink.rows_inserted >= EVENTS, "rows in ClickHouse", 180)
        wait_for(lambda: archive_sink.entries_archived >= EVENTS, "entries archived", 180)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    public = tmp_path / "checkpoint.pub"
    public.write_text(keyfiles.load_signer(keys.signer).verifier.encode() + "\n")
    dsn = infra.clickhouse_dsn()
    common = ["--pubkey", str(public), "--keys", str(keys.hmac)]
    assert main(["verify", "--clickhouse", dsn, "--database", ch_database, *common]) == 0
    reader = scoped_credentials(s3_settings, archive_reader_policy(bucket, "audit"))
    for name, value in s3_env(reader).items():
        monkeypatch.setenv(name, value)
    assert main(["verify", "--archive", f"s3://{bucket}/audit", *common]) == 0

    # No password of any user in what the worker, the CLI or this process logged.
    logged = worker.log.read_text(errors="replace") + printed + caplog.text
    for password in broker.passwords():
        assert password not in logged


def test_the_producer_user_may_write_raw_only(
    broker: SecureBroker, pipeline: tuple[Topics, Keys, str]
) -> None:
    topics, _, app_id = pipeline
    apply_acls(broker, topics, app_id)
    user = broker.user("producer")
    outcomes: list[KafkaError | None] = []
    writer = Producer({**user.librdkafka(), "message.timeout.ms": 15_000})
    for topic in (f"{topics.prefix}.sealed", topics.raw):
        writer.produce(topic, b"x", on_delivery=lambda err, _msg: outcomes.append(err))
        writer.flush(20)
    refused, allowed = outcomes
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert allowed is None

    reader = Consumer(
        {
            **user.librdkafka(),
            "group.id": "auditstream-sink-clickhouse",
            "auto.offset.reset": "earliest",
        }
    )
    errors: list[int] = []
    try:
        reader.subscribe([topics.raw, f"{topics.prefix}.sealed"])
        deadline = time.monotonic() + 30
        while not errors and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is not None and message.error() is not None:
                errors.append(message.error().code())
            elif message is not None:
                pytest.fail("the producer's user read a record")
    finally:
        reader.close()
    assert errors and errors[0] in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    ), errors


def test_events_refused_for_want_of_acls_wait_in_the_spool_and_go_out_once_granted(
    broker: SecureBroker, pipeline: tuple[Topics, Keys, str], tmp_path: Path
) -> None:
    topics, _, app_id = pipeline  # no ACLs for these topics yet
    producer = audit_producer(broker.user("producer"), topics, tmp_path)
    with producer:
        ids = [producer.emit(entry(number)) for number in range(5)]
        problem = wait_for(lambda: producer.problem, "the producer names the problem")
        assert "user producer is not authorized" in problem
        assert "TOPIC_AUTHORIZATION_FAILED" in problem and "spool" in problem
        assert producer.stats()["pending"] == 5
        apply_acls(broker, topics, app_id)
        assert producer.flush(120), producer.stats()
        assert producer.problem is None
    raw = [pb.LogEntry.FromString(v) for v in read_topic(broker.user("admin"), topics.raw, 6)]  # type: ignore[arg-type]
    events = [e for e in raw if e.event_type != pb.EVENT_PRODUCER_HEARTBEAT]
    assert sorted(e.event_id for e in events) == sorted(ids)
    assert sorted(e.producer_seq for e in raw) == [1, 2, 3, 4, 5, 6]  # 6: it stops


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (
            lambda c, _tmp: dataclasses.replace(c, password=Secret("not-the-password")),
            "refused the credentials of user 'producer' (SCRAM-SHA-512)",
        ),
        (
            lambda c, tmp: dataclasses.replace(c, ca_file=certs.Authority(tmp / "other").cert_file),
            "the broker's TLS certificate is not trusted",
        ),
        (
            lambda c, _tmp: KafkaConnection(c.bootstrap),
            "no broker answers a PLAINTEXT connection",
        ),
    ],
    ids=["wrong-password", "untrusted-certificate", "plaintext-to-tls"],
)
def test_a_wrong_connection_setting_is_named_and_nothing_is_lost(
    broker: SecureBroker,
    pipeline: tuple[Topics, Keys, str],
    tmp_path: Path,
    change: Callable[[KafkaConnection, Path], KafkaConnection],
    cause: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topics, _, _ = pipeline
    wrong = change(broker.user("producer"), tmp_path)
    producer = audit_producer(wrong, topics, tmp_path, close_timeout_s=0.5)
    with producer:
        producer.emit(entry(1))
        problem = wait_for(lambda: producer.problem, "the producer names the cause")
        assert cause in problem, problem
        assert producer.stats()["pending"] == 1  # in the spool, not lost
    assert cause in caplog.text
    for password in [*broker.passwords(), "not-the-password"]:
        assert password not in caplog.text
        assert password not in repr(wrong)
