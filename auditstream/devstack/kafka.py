"""A single-node KRaft Kafka broker from Maven Central jars."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from auditstream.devstack import procs
from auditstream.devstack.build import KAFKA_VERSION, kafka_jars
from auditstream.devstack.paths import resource

HEAP_ENV = "AUDITSTREAM_KAFKA_HEAP"
DEFAULT_HEAP = "512m"


@dataclass(frozen=True)
class KafkaInfo:
    pid: int
    bootstrap: str
    controller_port: int
    version: str
    log_file: str


def _java(jars: Path, main: str, *args: str, heap: str) -> list[str]:
    return [
        "java",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={resource('kafka-log4j2.properties')}",
        "-cp",
        f"{jars}/*",
        main,
        *args,
    ]


def broker_ready(bootstrap: str) -> bool:
    """True when the broker answers a metadata request with itself in it."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": 1000})
    try:
        metadata = admin.list_topics(timeout=1.0)
    except Exception:  # any failure means "not ready yet"
        return False
    return bool(metadata.brokers)


def start(
    state: Path,
    *,
    version: str = KAFKA_VERSION,
    timeout: float = 180.0,
    port: int | None = None,
    controller_port: int | None = None,
    niceness: int = 0,
) -> KafkaInfo:
    """Format storage (first time only) and start the broker; waits until it is ready.

    Ports default to free ones; pass the previous ones to restart in place. A positive
    `niceness` runs the broker at a lower CPU priority than the processes beside it.
    """
    jars = kafka_jars(version)
    home = state / "kafka"
    home.mkdir(parents=True, exist_ok=True)
    port = port or procs.free_port()
    controller_port = controller_port or procs.free_port()
    data = home / "data"
    config = home / "server.properties"
    config.write_text(
        resource("kafka-server.properties")
        .read_text()
        .format(port=port, controller_port=controller_port, log_dir=data)
    )
    if not (data / "meta.properties").exists():
        cluster_id = _cluster_id()
        format_log = home / "format.log"
        pid = procs.start_detached(
            _java(
                jars,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                heap="256m",
            ),
            log_file=format_log,
            pid_file=home / "format.pid",
        )
        procs.wait_until(lambda: not procs.alive(pid), timeout=120, what="kafka storage format")
        if not (data / "meta.properties").exists():
            raise procs.ServiceError(f"formatting Kafka storage failed:\n{procs.tail(format_log)}")
    log_file = home / "broker.log"
    pid = procs.start_detached(
        _java(jars, "kafka.Kafka", str(config), heap=os.environ.get(HEAP_ENV, DEFAULT_HEAP)),
        log_file=log_file,
        pid_file=home / "broker.pid",
        niceness=niceness,
    )
    bootstrap = f"127.0.0.1:{port}"
    try:
        procs.wait_until(
            lambda: broker_ready(bootstrap),
            timeout=timeout,
            what=f"Kafka broker on {bootstrap}",
            pid=pid,
            log_file=log_file,
        )
    except procs.ServiceError:
        procs.stop(pid, str(home))
        raise
    info = KafkaInfo(pid, bootstrap, controller_port, version, str(log_file))
    (home / "kafka.json").write_text(json.dumps(asdict(info)))
    return info


def running(state: Path) -> KafkaInfo | None:
    """The broker of this state folder, if it runs and answers."""
    home = state / "kafka"
    try:
        info = KafkaInfo(**json.loads((home / "kafka.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if procs.is_ours(info.pid, str(home)) and broker_ready(info.bootstrap):
        return info
    return None


def _cluster_id() -> str:
    """A random KRaft cluster id (URL-safe base64 of a UUID) that does not start with
    '-': the storage tool would read such an id as an option and fail."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def restart(
    state: Path, *, down_for: float = 0.0, niceness: int = 0, timeout: float = 180.0
) -> KafkaInfo:
    """Stop the broker and start it again on the same ports, keeping its data."""
    home = state / "kafka"
    info = KafkaInfo(**json.loads((home / "kafka.json").read_text()))
    stop(state)
    time.sleep(down_for)
    port = int(info.bootstrap.rsplit(":", 1)[1])
    return start(
        state,
        version=info.version,
        port=port,
        controller_port=info.controller_port,
        niceness=niceness,
        timeout=timeout,
    )


def stop(state: Path) -> bool:
    home = state / "kafka"
    pid = procs.read_pid(home / "broker.pid")
    stopped = pid is not None and procs.stop(pid, str(home), timeout=60)
    (home / "kafka.json").unlink(missing_ok=True)
    return stopped
