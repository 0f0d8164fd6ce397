"""Bridge from the `logging` module: log records become audit events.

    handler = AuditLogHandler(producer, actor_id="billing-service")
    logging.getLogger("billing.audit").addHandler(handler)
    logging.getLogger("billing.audit").warning(
        "refund issued", extra={"audit": {"actor_id": "user-7", "resource": "orders/42"}})

Fields in `extra={"audit": {...}}` override the defaults. The handler never raises.
"""

from __future__ import annotations

import logging
from typing import Any

from auditstream.producers.producer import AuditProducer
from auditstream.proto.v1 import log_entry_pb2 as pb

LEVELS = (
    (logging.CRITICAL, pb.SEVERITY_CRITICAL),
    (logging.ERROR, pb.SEVERITY_ERROR),
    (logging.WARNING, pb.SEVERITY_WARNING),
    (logging.INFO, pb.SEVERITY_INFO),
    (0, pb.SEVERITY_DEBUG),
)


class AuditLogHandler(logging.Handler):
    def __init__(
        self,
        producer: AuditProducer,
        *,
        actor_id: str,
        event_type: int = pb.EVENT_RESOURCE_ACCESS,
        level: int = logging.INFO,
    ) -> None:
        super().__init__(level)
        self.producer = producer
        self.actor_id = actor_id
        self.event_type = event_type

    def emit(self, record: logging.LogRecord) -> None:
        try:
            severity = next(s for threshold, s in LEVELS if record.levelno >= threshold)
            fields: dict[str, Any] = {
                "message": record.getMessage(),
                "severity": severity,
                "component": record.name,
            }
            fields.update(getattr(record, "audit", {}) or {})
            actor = fields.pop("actor_id", self.actor_id)
            event_type = fields.pop("event_type", self.event_type)
            self.producer.log(event_type, actor, **fields)
        except Exception:  # a logging handler must never raise into the application
            self.handleError(record)
