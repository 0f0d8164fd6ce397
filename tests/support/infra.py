"""Real services for integration tests, chosen by one switch:

    AUDITSTREAM_TEST_INFRA=auto        containers when a Docker engine answers, else local
                          =local       auditstream.devstack: Kafka from jars, MinIO built
                                       from source, embedded ClickHouse (chdb)
                          =containers  testcontainers: Kafka (KRaft), ClickHouse server, MinIO
                          =external    endpoints from AUDITSTREAM_KAFKA_BOOTSTRAP,
                                       AUDITSTREAM_CLICKHOUSE_DSN, AUDITSTREAM_S3_ENDPOINT
                                       (+ AUDITSTREAM_S3_ACCESS_KEY / _SECRET_KEY)

Services start once per test session, on free ports, under the session's own temporary
state folder, and stop (by pid) when the session ends; tests get unique topics,
databases and buckets. A service that cannot start fails the tests that need it:
it is never skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from testcontainers.community.clickhouse import ClickHouseContainer
from testcontainers.community.kafka import KafkaContainer
from testcontainers.community.minio import MinioContainer

from auditstream.devstack import clickhouse, kafka, kafka_cluster, minio
from auditstream.settings.config import S3Settings
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.secret import Secret

MODE_ENV = "AUDITSTREAM_TEST_INFRA"
MODES = ("auto", "local", "containers", "external")
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
# A local broker shares this machine's cores with the processes under test; when it
# starts, creates topics or recovers its logs after a restart it keeps them all busy for
# seconds. In production it has machines of its own, so here it runs at a lower CPU
# priority and yields to the services whose latency the tests measure.
BROKER_NICENESS = 10
# A loaded machine (other test sessions, a CI neighbour) starts a niced JVM slowly.
BROKER_START_S = 240.0


def docker_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def resolve_mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto")
    if mode not in MODES:
        raise pytest.UsageError(f"{MODE_ENV}={mode!r}; expected one of {', '.join(MODES)}")
    if mode == "auto":
        return "containers" if docker_available() else "local"
    return mode


@dataclass
class Infra:
    """Lazily started services of one test session."""

    mode: str
    state: Path
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _kafka: str | None = None
    _secure_kafka: kafka.KafkaInfo | None = None
    _cluster: kafka.KafkaInfo | None = None
    _kafka_container: Any = None
    _s3: S3Settings | None = None
    _clickhouse: str | None = None

    def close(self) -> None:
        self._stack.close()

    def _fail(self, service: str, exc: BaseException) -> None:
        pytest.fail(f"{service} could not start in {self.mode!r} mode: {exc}", pytrace=False)

    # Kafka -------------------------------------------------------------------------
    def kafka_bootstrap(self) -> str:
        if self._kafka is None:
            try:
                self._kafka = self._start_kafka()
            except Exception as exc:  # any start failure fails the test run
                self._fail("Kafka", exc)
        assert self._kafka is not None
        return self._kafka

    def _start_kafka(self) -> str:
        if self.mode == "external":
            return _require_env("AUDITSTREAM_KAFKA_BOOTSTRAP")
        if self.mode == "containers":
            container = KafkaContainer(KAFKA_IMAGE).with_kraft()
            self._stack.enter_context(container)
            self._kafka_container = container
            return str(container.get_bootstrap_server())
        info = kafka.start(self.state, niceness=BROKER_NICENESS, timeout=BROKER_START_S)
        self._stack.callback(kafka.stop, self.state)
        return info.bootstrap

    def secure_kafka(self) -> tuple[Path, kafka.KafkaInfo]:
        """A second broker, SASL_SSL + ACLs, always from the jars (its certificates and
        users are made by the project's own code); its state folder and info."""
        state = self.state / "secure"
        if self._secure_kafka is None:
            try:
                self._secure_kafka = kafka.start(
                    state, niceness=BROKER_NICENESS, timeout=BROKER_START_S, secure=True
                )
            except Exception as exc:  # any start failure fails the test run
                self._fail("the secured Kafka broker", exc)
            self._stack.callback(kafka.stop, state)
        assert self._secure_kafka is not None
        return state, self._secure_kafka

    def kafka_cluster(self) -> tuple[Path, kafka.KafkaInfo]:
        """A three-node KRaft cluster (replication factor 3, min.insync.replicas 2),
        always from the jars, whatever the mode: the cluster tests kill and restart its
        nodes one by one (devstack.kafka_cluster). Its state folder and info."""
        state = self.state / "cluster"
        if self._cluster is None:
            try:
                self._cluster = kafka_cluster.start(
                    state, brokers=3, niceness=BROKER_NICENESS, timeout=BROKER_START_S
                )
            except Exception as exc:  # any start failure fails the test run
                self._fail("the Kafka cluster", exc)
            self._stack.callback(kafka_cluster.stop, state)
        assert self._cluster is not None
        return state, self._cluster

    def restart_kafka(self, down_for: float = 0.0) -> None:
        """Stop the broker and start it again with its data and address."""
        bootstrap = self.kafka_bootstrap()
        if self.mode == "external":
            pytest.skip("a broker given by address cannot be restarted by the tests")
        if self.mode == "containers":
            wrapped = self._kafka_container.get_wrapped_container()
            wrapped.stop()
            time.sleep(down_for)
            wrapped.start()
        else:
            kafka.restart(
                self.state, down_for=down_for, niceness=BROKER_NICENESS, timeout=BROKER_START_S
            )
        deadline = time.monotonic() + 120
        while not kafka.broker_ready(KafkaConnection(bootstrap)):
            if time.monotonic() > deadline:
                pytest.fail("Kafka did not come back after a restart", pytrace=False)
            time.sleep(0.5)

    # S3 ----------------------------------------------------------------------------
    def s3(self) -> S3Settings:
        if self._s3 is None:
            try:
                self._s3 = self._start_s3()
            except Exception as exc:  # any start failure fails the test run
                self._fail("S3 (MinIO)", exc)
        assert self._s3 is not None
        return self._s3

    def _start_s3(self) -> S3Settings:
        if self.mode == "external":
            return S3Settings(
                endpoint=_require_env("AUDITSTREAM_S3_ENDPOINT"),
                access_key=Secret(os.environ.get("AUDITSTREAM_S3_ACCESS_KEY", "")),
                secret_key=Secret(os.environ.get("AUDITSTREAM_S3_SECRET_KEY", "")),
            )
        if self.mode == "containers":
            container = MinioContainer(MINIO_IMAGE)
            self._stack.enter_context(container)
            config = container.get_config()
            return S3Settings(
                endpoint=f"http://{config['endpoint']}",
                access_key=Secret(config["access_key"]),
                secret_key=Secret(config["secret_key"]),
            )
        info = minio.start(self.state)
        self._stack.callback(minio.stop, self.state)
        access_key, secret_key = minio.credentials(self.state)
        return S3Settings(
            endpoint=info.endpoint, access_key=Secret(access_key), secret_key=secret_key
        )

    # ClickHouse --------------------------------------------------------------------
    def clickhouse_dsn(self) -> str:
        """The DSN this process uses. Embedded: one chdb path for the whole session."""
        if self._clickhouse is None:
            try:
                self._clickhouse = self._start_clickhouse()
            except Exception as exc:  # any start failure fails the test run
                self._fail("ClickHouse", exc)
        assert self._clickhouse is not None
        return self._clickhouse

    def _start_clickhouse(self) -> str:
        if self.mode == "external":
            return _require_env("AUDITSTREAM_CLICKHOUSE_DSN")
        if self.mode == "containers":
            container = ClickHouseContainer(
                CLICKHOUSE_IMAGE, port=8123, username="test", password="test-password"
            )
            self._stack.enter_context(container)
            host = container.get_container_host_ip()
            port = container.get_exposed_port(8123)
            return f"http://test:test-password@{host}:{port}/"
        return clickhouse.dsn(self.state)

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_dsn().startswith("chdb:")


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{MODE_ENV}=external needs {name}")
    return value


def s3_env(settings: S3Settings) -> dict[str, str]:
    """The AUDITSTREAM_S3_* variables that point a command at these S3 settings."""
    return {
        "AUDITSTREAM_S3_ENDPOINT": settings.endpoint,
        "AUDITSTREAM_S3_REGION": settings.region,
        "AUDITSTREAM_S3_ACCESS_KEY": settings.access_key.reveal(),
        "AUDITSTREAM_S3_SECRET_KEY": settings.secret_key.reveal(),
        "AUDITSTREAM_S3_SESSION_TOKEN": settings.session_token.reveal(),
    }


def unique(prefix: str) -> str:
    """A name no other test (or test run) uses: lowercase, S3- and Kafka-safe."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def clickhouse_client(dsn: str) -> Any:
    return clickhouse_connect.get_client(dsn=dsn)


@contextlib.contextmanager
def session_infra(base: Path) -> Iterator[Infra]:
    infra = Infra(resolve_mode(), base)
    try:
        yield infra
    finally:
        infra.close()
