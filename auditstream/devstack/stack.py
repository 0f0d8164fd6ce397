"""`auditstream dev up | down | status`: the whole local stack for one state folder."""

from __future__ import annotations

import json
import logging
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from auditstream.archive import s3 as s3util
from auditstream.devstack import clickhouse, kafka, kafka_cluster, minio, procs
from auditstream.errors import ConfigError
from auditstream.settings.config import S3Settings, kafka_environment
from auditstream.settings.secret import Secret

log = logging.getLogger(__name__)

DEV_BUCKET = "auditstream-archive"


@dataclass(frozen=True)
class StackInfo:
    state_dir: str
    kafka: kafka.KafkaInfo | None
    minio: minio.MinioInfo | None
    clickhouse_dsn: str
    bucket: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def s3_settings(state: Path, endpoint: str) -> S3Settings:
    access_key, secret_key = minio.credentials(state)
    return S3Settings(endpoint=endpoint, access_key=Secret(access_key), secret_key=secret_key)


def up(
    state: Path, *, with_minio: bool = True, secure: bool = False, brokers: int = 1
) -> StackInfo:
    """Start what is not running yet; idempotent. `secure`: Kafka with SASL_SSL and
    ACLs (devstack.kafka); `brokers` > 1: a plain KRaft cluster of that many nodes
    (devstack.kafka_cluster). A state folder keeps the kind it was first started as."""
    state = state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    broker = _start_kafka(state, secure=secure, brokers=brokers)
    store = minio.running(state) if with_minio else None
    if with_minio and store is None:
        log.info("starting MinIO")
        store = minio.start(state)
    if store is not None:
        s3util.ensure_lock_bucket(s3util.client(s3_settings(state, store.endpoint)), DEV_BUCKET)
    info = StackInfo(str(state), broker, store, clickhouse.dsn(state), DEV_BUCKET if store else "")
    (state / "stack.json").write_text(json.dumps(info.to_json(), indent=2))
    return info


def _start_kafka(state: Path, *, secure: bool, brokers: int) -> kafka.KafkaInfo:
    if brokers < 1:
        raise ConfigError(f"--brokers {brokers}: at least one broker")
    single = (state / "kafka").exists()
    cluster = kafka_cluster.load(state)
    if brokers == 1 and cluster is not None:
        raise ConfigError(
            f"{state} holds a cluster of {len(cluster.nodes)} brokers; "
            f"pass --brokers {len(cluster.nodes)} or use another state folder"
        )
    if brokers > 1:
        if secure:
            raise ConfigError("--secure starts a single broker; a secured cluster is not built")
        if single:
            raise ConfigError(f"{state} holds a single broker; use another state folder")
        log.info("starting a Kafka cluster of %d brokers", brokers)
        return kafka_cluster.start(state, brokers=brokers)
    broker = kafka.running(state)
    if broker is None:
        log.info("starting Kafka")
        broker = kafka.start(state, secure=secure)
    return broker


def _running_kafka(state: Path) -> kafka.KafkaInfo | None:
    return kafka_cluster.running(state) if kafka_cluster.load(state) else kafka.running(state)


def status(state: Path) -> StackInfo:
    state = state.resolve()
    store = minio.running(state)
    return StackInfo(
        str(state), _running_kafka(state), store, clickhouse.dsn(state), DEV_BUCKET if store else ""
    )


def down(state: Path) -> list[str]:
    """Stop this state folder's services (only processes it started). Data is kept."""
    state = state.resolve()
    stopped = []
    if minio.stop(state):
        stopped.append("minio")
    for pid_file in sorted((state / "demo").glob("*/worker.pid")):  # an interrupted demo's
        pid = procs.read_pid(pid_file)
        if pid is not None and procs.stop(pid, str(pid_file.parent), timeout=20):
            stopped.append(f"demo processor {pid_file.parent.name}")
    if kafka.stop(state):
        stopped.append("kafka")
    if kafka_cluster.stop(state):
        stopped.append("kafka cluster")
    (state / "stack.json").unlink(missing_ok=True)
    return stopped


def environment(state: Path, info: StackInfo) -> dict[str, str]:
    """AUDITSTREAM_* variables that point every command at this stack (with secrets)."""
    env = {
        "AUDITSTREAM_STATE_DIR": info.state_dir,
        "AUDITSTREAM_CLICKHOUSE_DSN": info.clickhouse_dsn,
    }
    if info.kafka:  # on a secured broker: the admin (role users: kafka/users.json)
        env |= kafka_environment(kafka.connection(state.resolve(), info.kafka))
    if info.minio:
        access_key, secret_key = minio.credentials(state.resolve())
        env |= {
            "AUDITSTREAM_S3_ENDPOINT": info.minio.endpoint,
            "AUDITSTREAM_S3_ACCESS_KEY": access_key,
            "AUDITSTREAM_S3_SECRET_KEY": secret_key.reveal(),
            "AUDITSTREAM_ARCHIVE_URL": f"s3://{info.bucket}/",
        }
    return env


def write_env_file(state: Path, info: StackInfo) -> Path:
    """Write `environment()` as a shell file readable only by its owner."""
    path = state.resolve() / "env.sh"
    lines = [
        f"export {name}={shlex.quote(value)}" for name, value in environment(state, info).items()
    ]
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
