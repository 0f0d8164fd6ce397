"""Least-privilege Kafka ACLs for each role of the pipeline, printed or applied.

Each role is one principal and gets only what its work needs:

  producer        WRITE raw; IDEMPOTENT_WRITE on the cluster
  worker          READ raw and its groups; READ + WRITE sealed and state (recovery reads
                  them back); WRITE checkpoints and dead-letter; WRITE on its
                  transactional ids (prefix: the app id); its Faust app's own topics
  sink-clickhouse READ sealed and checkpoints, and its group
  sink-archive    READ sealed and checkpoints, and its group
  ingest          READ its source topics and its group; WRITE raw and dead-letter

Nobody but the admin may create pipeline topics, alter configs or touch ACLs; auditors
need no Kafka access (they read ClickHouse, the archive or an evidence pack). Every
grant also allows DESCRIBE where the client needs metadata. `apply` is idempotent:
Kafka keeps one binding per identical grant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in __all__
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from auditstream.errors import AuditStreamError
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection

Resource = Literal["topic", "group", "transactional-id", "cluster"]
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "IDEMPOTENT_WRITE"]
Pattern = Literal["literal", "prefixed"]
CLUSTER: Final = "kafka-cluster"

_RESOURCE_TYPES: Final = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional-id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,
}
_PATTERNS: Final = {
    "literal": ResourcePatternType.LITERAL,
    "prefixed": ResourcePatternType.PREFIXED,
}


class AclError(AuditStreamError):
    """ACLs could not be read or written."""


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW binding: `principal` may do `operation` on a resource."""

    principal: str  # e.g. "User:producer"
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"

    def line(self) -> str:
        name = f"{self.name}*" if self.pattern == "prefixed" else self.name
        return f"ALLOW {self.principal:<24} {self.operation:<16} {self.resource} {name}"

    def binding(self) -> AclBinding:
        return AclBinding(
            _RESOURCE_TYPES[self.resource],
            self.name,
            _PATTERNS[self.pattern],
            self.principal,
            "*",
            getattr(AclOperation, self.operation),
            AclPermissionType.ALLOW,
        )


@dataclass(frozen=True)
class Roles:
    """The principals (SCRAM user names) and the group / app ids of each role."""

    producer: str = "producer"
    worker: str = "worker"
    clickhouse_sink: str = "sink-clickhouse"
    archive_sink: str = "sink-archive"
    ingest: str = "ingest"
    worker_app_id: str = "auditstream-processor"
    clickhouse_group: str = "auditstream-sink-clickhouse"
    archive_group: str = "auditstream-sink-archive"
    ingest_group: str = "auditstream-ingest-otlp"
    ingest_sources: tuple[str, ...] = ("otlp_spans",)


def _topic(user: str, name: str, *ops: Operation, pattern: Pattern = "literal") -> list[Grant]:
    return [Grant(f"User:{user}", "topic", name, op, pattern) for op in ("DESCRIBE", *ops)]


def _group(user: str, name: str) -> list[Grant]:
    return [Grant(f"User:{user}", "group", name, "READ")]


def pipeline_grants(topics: Topics, roles: Roles = Roles()) -> list[Grant]:
    """Every grant the pipeline needs, sorted, without duplicates."""
    grants: list[Grant] = []
    idempotent: Operation = "IDEMPOTENT_WRITE"
    # producer
    grants += _topic(roles.producer, topics.raw, "WRITE")
    grants.append(Grant(f"User:{roles.producer}", "cluster", CLUSTER, idempotent))
    # worker
    worker, app = roles.worker, roles.worker_app_id
    grants += _topic(worker, topics.raw, "READ")
    for name in (topics.sealed, topics.state):  # recovery reads these back
        grants += _topic(worker, name, "READ", "WRITE")
    for name in (topics.checkpoints, topics.deadletter):
        grants += _topic(worker, name, "WRITE")
    grants += _group(worker, app)  # the sealing loop's consumer group
    grants += _group(worker, f"{app}-app")  # the Faust app's own group
    grants += _topic(worker, f"{app}-app-", "CREATE", "READ", "WRITE", pattern="prefixed")
    for op in ("WRITE", "DESCRIBE"):
        grants.append(Grant(f"User:{worker}", "transactional-id", app, op, "prefixed"))
    grants.append(Grant(f"User:{worker}", "cluster", CLUSTER, idempotent))
    # sinks
    for user, group in (
        (roles.clickhouse_sink, roles.clickhouse_group),
        (roles.archive_sink, roles.archive_group),
    ):
        grants += _topic(user, topics.sealed, "READ")
        grants += _topic(user, topics.checkpoints, "READ")
        grants += _group(user, group)
    # ingest adapters (OTLP spans from the Collector's topic, for instance)
    for source in roles.ingest_sources:
        grants += _topic(roles.ingest, source, "READ")
    grants += _topic(roles.ingest, topics.raw, "WRITE")
    grants += _topic(roles.ingest, topics.deadletter, "WRITE")
    grants += _group(roles.ingest, roles.ingest_group)
    grants.append(Grant(f"User:{roles.ingest}", "cluster", CLUSTER, idempotent))
    return sorted(set(grants))


def _admin(kafka: KafkaConnection) -> AdminClient:
    config: dict[str, Any] = {**kafka.librdkafka(), "logger": KAFKA_LOGGER}
    return AdminClient(config)


def render(grants: Iterable[Grant]) -> str:
    return "\n".join(grant.line() for grant in grants)


def apply(kafka: KafkaConnection, grants: Sequence[Grant], timeout: float = 30.0) -> int:
    """Create the bindings (existing ones stay); returns how many were asked for."""
    admin = _admin(kafka)
    asked = {grant.binding(): grant for grant in grants}
    futures = admin.create_acls(list(asked), request_timeout=timeout)
    for binding, future in futures.items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            raise AclError(
                f"Kafka at {kafka.bootstrap}: the ACL {asked[binding].line()!r} could not be "
                f"created: {_text(exc, timeout)}"
            ) from exc
    return len(grants)


def current(kafka: KafkaConnection, timeout: float = 30.0) -> list[AclBinding]:
    """Every binding the cluster holds."""
    admin = _admin(kafka)
    # None matches any name, principal and host (the stubs say str).
    match_all = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        found: list[AclBinding] = admin.describe_acls(match_all, request_timeout=timeout).result(
            timeout=timeout
        )
    except Exception as exc:
        raise AclError(
            f"reading the ACLs of Kafka at {kafka.bootstrap}: {_text(exc, timeout)}"
        ) from exc
    return found


def _text(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    error: Any = exc.args[0] if exc.args else None
    return str(error.str()) if hasattr(error, "str") else str(exc) or type(exc).__name__
