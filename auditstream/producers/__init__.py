"""The producer library used inside services.

from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
"""

from auditstream.producers.aio import AsyncAuditProducer
from auditstream.producers.config import ProducerConfig
from auditstream.producers.logging_handler import AuditLogHandler
from auditstream.producers.producer import AuditProducer, Call
from auditstream.producers.spool import SpoolFullError
from auditstream.producers.validation import AuditValidationError, EventLimits
from auditstream.producers.vault import (
    ContentDecryptionError,
    ContentUnavailableError,
    ContentVault,
)
from auditstream.settings.connection import KafkaConnection

__all__ = [
    "AsyncAuditProducer",
    "AuditLogHandler",
    "AuditProducer",
    "AuditValidationError",
    "Call",
    "ContentDecryptionError",
    "ContentUnavailableError",
    "ContentVault",
    "EventLimits",
    "KafkaConnection",
    "ProducerConfig",
    "SpoolFullError",
]
