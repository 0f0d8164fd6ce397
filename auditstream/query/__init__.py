"""Querying the ClickHouse store: `AuditStore`, `AuditQuery`, named compliance queries."""

from auditstream.query.store import AccessDeniedError, AuditQuery, AuditStore, Page

__all__ = ["AccessDeniedError", "AuditQuery", "AuditStore", "Page"]
