"""Building blocks for engine tests: a real validator, classifier, policy and keys."""

from __future__ import annotations

from auditstream.core.classify import Classifier
from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey
from auditstream.core.retention import parse_policy
from auditstream.core.validate import Limits, RawRecord, Validator
from auditstream.privacy.protect import SubjectProtection
from auditstream.processors.engine import EngineConfig, PartitionSealer
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings.resources import default_policy_file
from tests.support.chains import KEYRING, SIGNER

POLICY = parse_policy(default_policy_file().read_text())
CONTENT = DigestPolicy(HmacKey("salt", bytes(range(50, 90))))
T0_MS = 1_767_225_600_000


def sealer(
    partition: int = 0, *, protection: SubjectProtection | None = None, **config: object
) -> PartitionSealer:
    return PartitionSealer(
        partition,
        keyring=KEYRING,
        signer=SIGNER,
        validator=Validator(Limits(), CONTENT),
        classifier=Classifier(),
        policy=POLICY,
        config=EngineConfig(**config),  # type: ignore[arg-type]
        protection=protection,
    )


def record(
    offset: int,
    entry: pb.LogEntry | bytes,
    *,
    key: bytes | None = b"acme",
    headers: tuple[tuple[str, bytes], ...] = (),
    partition: int = 0,
    timestamp_ms: int | None = None,
) -> RawRecord:
    value = entry if isinstance(entry, bytes) else entry.SerializeToString()
    return RawRecord(
        "audit.raw.v1",
        partition,
        offset,
        T0_MS + offset if timestamp_ms is None else timestamp_ms,
        key,
        value,
        headers,
    )


def login(n: int, tenant: str = "acme", **fields: object) -> pb.LogEntry:
    values: dict[str, object] = {
        "event_type": pb.EVENT_LOGIN,
        "outcome": pb.OUTCOME_SUCCESS,
        "severity": pb.SEVERITY_INFO,
        "actor_id": f"user-{n % 5}",
        "tenant_id": tenant,
        "event_id": f"evt-{tenant}-{n}",
        "message": f"login {n}",
    }
    entry = pb.LogEntry(**{**values, **fields})  # type: ignore[arg-type]
    entry.event_time.FromMilliseconds(T0_MS + n)
    return entry
