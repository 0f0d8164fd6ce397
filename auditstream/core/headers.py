"""Kafka record headers and message types shared by producers and the processor."""

from __future__ import annotations

from typing import Final

# Names the schema of the record value. Absent means our LogEntry.
MESSAGE_TYPE: Final = "auditstream-message-type"
SCHEMA_VERSION: Final = "auditstream-schema-version"
CONTENT_TYPE: Final = "content-type"

LOG_ENTRY_V1: Final = "auditstream.v1.LogEntry"
LOKRYN_V011: Final = "lokryn.compliancelog.v1.LogEntry"  # wire-identical to ours
LOKRYN_V020: Final = "lokryn.compliance.v1.LogRequest"  # mapped by the adapter
PROTOBUF_CONTENT_TYPE: Final = "application/x-protobuf"
SCHEMA_VERSION_VALUE: Final = "1"

NATIVE_TYPES: Final = frozenset({LOG_ENTRY_V1, LOKRYN_V011})
