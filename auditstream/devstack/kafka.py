"""A single-node KRaft Kafka broker from Maven Central jars, plain or secured.

Secured (`secure=True`): SASL_SSL with SCRAM-SHA-512 for every client, certificates from
the stack's own CA (`devstack.certs`), the StandardAuthorizer denying what no ACL allows.
The admin's SCRAM credential is written into the metadata log when the storage is
formatted, as a salted password (the clear one is never on a command line); the role
users (`ROLE_USERS`) are created through the AdminClient once the broker runs. Their
passwords are kept in `<state>/kafka/users.json`, readable by the owner only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in __all__
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from auditstream.devstack import certs, procs
from auditstream.devstack.build import KAFKA_VERSION, kafka_jars
from auditstream.devstack.paths import resource
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.secret import Secret

HEAP_ENV = "AUDITSTREAM_KAFKA_HEAP"
DEFAULT_HEAP = "512m"
ADMIN_USER = "admin"
# One SCRAM user per role of the pipeline; `auditstream kafka acls` grants each its share.
ROLE_USERS = ("producer", "worker", "sink-clickhouse", "sink-archive", "ingest")
BROKER_CN = "auditstream-broker"
SCRAM_ITERATIONS = 8192


@dataclass(frozen=True)
class KafkaInfo:
    pid: int
    bootstrap: str
    controller_port: int
    version: str
    log_file: str
    security: str = "PLAINTEXT"  # or SASL_SSL
    brokers: int = 1  # a cluster (devstack.kafka_cluster): its first node's pid and log


def java_command(jars: Path, main: str, *args: str, heap: str) -> list[str]:
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


def broker_ready(kafka: KafkaConnection) -> bool:
    """True when the broker answers a metadata request with itself in it."""
    admin = AdminClient({**kafka.librdkafka(), "log_level": 0, "socket.timeout.ms": 1000})
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
    secure: bool = False,
) -> KafkaInfo:
    """Format storage (first time only) and start the broker; waits until it is ready.

    Ports default to free ones; pass the previous ones to restart in place. A positive
    `niceness` runs the broker at a lower CPU priority than the processes beside it.
    `secure` starts it with SASL_SSL, TLS and ACLs (see the module's docstring); a state
    folder formatted one way keeps that way.
    """
    jars = kafka_jars(version)
    home = state / "kafka"
    home.mkdir(parents=True, exist_ok=True)
    port = port or procs.free_port()
    controller_port = controller_port or procs.free_port()
    data = home / "data"
    config = home / "server.properties"
    text = (
        resource("kafka-server.properties")
        .read_text()
        .format(port=port, controller_port=controller_port, log_dir=data)
    )
    scram: list[str] = []
    if secure:
        users = _users(home)
        text += _secure_properties(home, port, controller_port, users[ADMIN_USER])
        scram = ["--add-scram", _salted_scram(ADMIN_USER, users[ADMIN_USER])]
    config.unlink(missing_ok=True)
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if not (data / "meta.properties").exists():
        cluster_id = new_cluster_id()
        format_log = home / "format.log"
        pid = procs.start_detached(
            java_command(
                jars,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                *scram,
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
        java_command(jars, "kafka.Kafka", str(config), heap=os.environ.get(HEAP_ENV, DEFAULT_HEAP)),
        log_file=log_file,
        pid_file=home / "broker.pid",
        niceness=niceness,
    )
    info = KafkaInfo(
        pid,
        f"127.0.0.1:{port}",
        controller_port,
        version,
        str(log_file),
        "SASL_SSL" if secure else "PLAINTEXT",
    )
    admin = connection(state, info)
    try:
        procs.wait_until(
            lambda: broker_ready(admin),
            timeout=timeout,
            what=f"Kafka broker on {info.bootstrap}",
            pid=pid,
            log_file=log_file,
        )
        if secure:
            _create_role_users(admin, _users(home))
    except procs.ServiceError:
        procs.stop(pid, str(home))
        raise
    (home / "kafka.json").write_text(json.dumps(asdict(info)))
    return info


def connection(state: Path, info: KafkaInfo, user: str = ADMIN_USER) -> KafkaConnection:
    """How `user` (the admin, or one of ROLE_USERS) connects to this stack's broker; a
    plain broker has no users and gives a PLAINTEXT connection for any."""
    if info.security == "PLAINTEXT":
        return KafkaConnection(info.bootstrap)
    home = state / "kafka"
    users = _users(home)
    if user not in users:
        raise procs.ServiceError(f"the secured broker has no user {user!r}")
    return KafkaConnection(
        info.bootstrap,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username=user,
        password=Secret(users[user]),
        ca_file=home / "tls" / "ca.crt",
    )


def _users(home: Path) -> dict[str, str]:
    """The SCRAM users' passwords, made once per state folder (owner-only file)."""
    path = home / "users.json"
    if path.exists():
        users: dict[str, str] = json.loads(path.read_text())
        return users
    users = {name: secrets.token_urlsafe(24) for name in (ADMIN_USER, *ROLE_USERS)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(users, handle)
    return users


def _secure_properties(home: Path, port: int, controller_port: int, admin_password: str) -> str:
    tls = home / "tls"
    if not (tls / "broker.pem").exists():
        authority = certs.Authority(tls)
        authority.issue("broker", BROKER_CN, hosts=("127.0.0.1", "localhost"))
    return "\n" + resource("kafka-secure.properties").read_text().format(
        port=port,
        controller_port=controller_port,
        admin_user=ADMIN_USER,
        admin_password=admin_password,
        keystore=tls / "broker.pem",
        truststore=tls / "ca.crt",
        broker_principal=f"CN={BROKER_CN},O={certs.ORGANIZATION}",
    )


def _salted_scram(user: str, password: str) -> str:
    """The storage tool's --add-scram value with a salted password (RFC 5802 Hi())."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    return (
        f"SCRAM-SHA-512=[name={user},iterations={SCRAM_ITERATIONS},"
        f'salt="{base64.b64encode(salt).decode()}",'
        f'saltedpassword="{base64.b64encode(salted).decode()}"]'
    )


def _create_role_users(admin: KafkaConnection, users: dict[str, str]) -> None:
    client = AdminClient(admin.librdkafka())
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(name, info, users[name].encode()) for name in ROLE_USERS
    ]
    for name, future in client.alter_user_scram_credentials(upserts).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise procs.ServiceError(f"creating the Kafka user {name!r} failed: {exc}") from exc


def running(state: Path) -> KafkaInfo | None:
    """The broker of this state folder, if it runs and answers."""
    home = state / "kafka"
    try:
        info = KafkaInfo(**json.loads((home / "kafka.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if procs.is_ours(info.pid, str(home)) and broker_ready(connection(state, info)):
        return info
    return None


def new_cluster_id() -> str:
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
        secure=info.security != "PLAINTEXT",
    )


def stop(state: Path) -> bool:
    home = state / "kafka"
    pid = procs.read_pid(home / "broker.pid")
    stopped = pid is not None and procs.stop(pid, str(home), timeout=60)
    (home / "kafka.json").unlink(missing_ok=True)
    return stopped
