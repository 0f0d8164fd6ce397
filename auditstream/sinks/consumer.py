"""The Kafka consumer every sink uses: committed reads only, offsets committed by the
sink after its write is durable, and a short session so a crashed sink's partitions
move to its replacement after 10 s rather than the default 45 s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer


def sink_consumer(
    bootstrap: str, group_id: str, settings: Mapping[str, Any] | None = None
) -> Consumer:
    """A consumer for `group_id`; `settings` add to or override these librdkafka ones."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": 10_000,
            **(settings or {}),
        }
    )
