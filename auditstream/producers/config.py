"""`ProducerConfig`: everything a service sets to emit audit events."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

from auditstream.producers.spool import FSYNC_POLICIES, FsyncPolicy
from auditstream.producers.validation import EventLimits
from auditstream.settings.connection import KafkaConnection

OverflowPolicy = Literal["drop_newest", "raise"]
OVERFLOW_POLICIES: Final = get_args(OverflowPolicy)


@dataclass(frozen=True)
class ProducerConfig:
    """
    kafka            where Kafka is and how to authenticate (KafkaConnection)
    spool_dir        where events wait until Kafka acknowledges them (a str or a path)
    strict           raise on invalid events and on a full spool (tests, fail-closed)
    fsync            spool durability against a machine crash: "always", "interval" (1 s)
                     or "never" (a killed process loses nothing in any of them)
    overflow         at the spool's cap: "drop_newest" refuses the new event, counts it
                     and logs an error; "raise" raises SpoolFullError into the caller
    close_timeout_s  how long `close()` waits for Kafka's acknowledgements; what is not
                     acknowledged by then stays in the spool and is sent at the next start
    producer_id      names this producer instance in its events (default: a new UUIDv7
                     per instance); two live instances must never share one
    heartbeat_interval_s  a heartbeat event on each chain this often (0: none), so the
                     worker reports a producer that stops without closing
    client_settings  extra librdkafka settings
    """

    kafka: KafkaConnection
    topic: str = "audit.raw.v1"
    spool_dir: Path = Path(".auditstream-spool")
    tenant_id: str = "default"
    chain_id: str = ""  # default: the tenant id
    environment: str = ""
    component: str = ""
    strict: bool = False
    fsync: FsyncPolicy = "interval"
    max_spool_bytes: int = 1024**3
    overflow: OverflowPolicy = "drop_newest"
    linger_ms: int = 5
    store_content: bool = False  # encrypt prompt/response text (needs a vault)
    close_timeout_s: float = 5.0
    producer_id: str = ""
    heartbeat_interval_s: float = 60.0
    client_settings: Mapping[str, str] = field(default_factory=dict)
    limits: EventLimits = field(default_factory=EventLimits)

    def __post_init__(self) -> None:
        if not isinstance(self.spool_dir, Path):
            if not isinstance(self.spool_dir, str | os.PathLike):
                raise TypeError(f"spool_dir must be a path, not {type(self.spool_dir).__name__}")
            object.__setattr__(self, "spool_dir", Path(self.spool_dir))
        if self.fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}")
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}")
        if self.close_timeout_s < 0:
            raise ValueError("close_timeout_s must not be negative")
        if self.heartbeat_interval_s < 0:
            raise ValueError("heartbeat_interval_s must not be negative")
