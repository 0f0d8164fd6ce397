"""The query API's own access log: every request to read audit data becomes an audit
event, sealed like any other (PCI DSS 10.2.1.3: access to all audit logs).

A web front end builds one `Access` per request once it knows the answer's status, and
hands it to `AccessLog.record`, which emits the events through an `AuditProducer`
(never raising into the request). `/health` is not a read and is not recorded.

Which chain an access event goes to: the tenant the request asked for; without one,
each tenant the caller's token may read (one event per tenant); for a token that may
read every tenant, or no known token at all, the access log's own tenant.

What an event holds (the report's queries select on `component` and `action`):

    event_type  EVENT_RESOURCE_ACCESS        component  auditstream-query-api
    action      audit_log.read               actor_id   the token's name, or "unauthenticated"
    resource    auditstream:<path>           outcome    by HTTP status (401, 403, 4xx, 5xx)
    data        method, path, status, rows, parameters (values cut to 200 characters),
                scope of the token, tenant asked for, client address
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from auditstream.core.chain import is_valid_chain_id
from auditstream.producers import AuditProducer
from auditstream.producers.events import build_entry
from auditstream.proto.v1 import log_entry_pb2 as pb

log = logging.getLogger(__name__)

COMPONENT = "auditstream-query-api"
ACTION = "audit_log.read"
UNAUTHENTICATED = "unauthenticated"
MAX_PARAMS = 20
MAX_VALUE_CHARS = 200
NOT_RECORDED_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class Access:
    """One answered request to the query API.

    principal  name of the token's grant; None when the request had no known token
    scope      the tenants that token may read (None: every tenant)
    tenant     the tenant the request asked for, if any
    rows       rows in the answer, when it has rows
    """

    method: str
    path: str
    status: int
    principal: str | None = None
    scope: frozenset[str] | None = None
    tenant: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    rows: int | None = None
    client: str = ""
    duration_ms: float = 0.0


def _outcome(status: int) -> int:
    if status < 400:
        return pb.OUTCOME_SUCCESS
    if status == 401:
        return pb.OUTCOME_FAILURE_UNAUTHORIZED
    if status == 403:
        return pb.OUTCOME_FAILURE_DENIED
    return pb.OUTCOME_FAILURE_ERROR


def _severity(status: int) -> int:
    if status < 400:
        return pb.SEVERITY_INFO
    if status in (401, 403):
        return pb.SEVERITY_WARNING
    return pb.SEVERITY_NOTICE if status < 500 else pb.SEVERITY_ERROR


def is_tenant_id(text: str) -> bool:
    return "/" not in text and is_valid_chain_id(text)


def tenants_of(access: Access, own_tenant: str) -> list[str]:
    """The tenants whose audit trail records this access (a tenant asked for that is
    not a well-formed tenant id goes to the log's own tenant, named in the data)."""
    if access.tenant:
        return [access.tenant] if is_tenant_id(access.tenant) else [own_tenant]
    if access.principal is not None and access.scope:
        return sorted(access.scope)
    return [own_tenant]


def access_entries(access: Access, own_tenant: str) -> list[pb.LogEntry]:
    """The audit events of one access (pure, apart from the event ids and the clock)."""
    cut = MAX_VALUE_CHARS
    params = {str(k)[:cut]: str(v)[:cut] for k, v in list(access.params.items())[:MAX_PARAMS]}
    data = {
        "method": access.method,
        "path": access.path,
        "status": access.status,
        "parameters": params,
        "scope": "*" if access.scope is None else ",".join(sorted(access.scope)),
        "tenant_asked": (access.tenant or "")[:cut],
        "client_address": access.client,
    }
    if access.rows is not None:
        data["rows"] = access.rows
    entries = []
    for tenant in tenants_of(access, own_tenant):
        entries.append(
            build_entry(
                pb.EVENT_RESOURCE_ACCESS,
                outcome=_outcome(access.status),
                severity=_severity(access.status),
                actor_id=access.principal or UNAUTHENTICATED,
                actor_type="api_token" if access.principal else "anonymous",
                component=COMPONENT,
                action=ACTION,
                resource=f"auditstream:{access.path}"[:MAX_VALUE_CHARS],
                message=f"{access.method} {access.path} answered {access.status}"[:MAX_VALUE_CHARS],
                tenant_id=tenant,
                duration_ms=access.duration_ms,
                data=data,
            )
        )
    return entries


class AccessLog:
    """Emits access events through `producer`. `own_tenant` (default: the producer's)
    takes the requests of no single tenant; `chain_of` names the chain of a tenant's
    access events (default: the tenant's own chain)."""

    def __init__(
        self,
        producer: AuditProducer,
        own_tenant: str | None = None,
        chain_of: Callable[[str], str] | None = None,
    ) -> None:
        self.producer = producer
        self.own_tenant = own_tenant or producer.config.tenant_id
        self.chain_of = chain_of or str

    def record(self, access: Access) -> None:
        """Emit the events of one request. Never raises: a failure is logged, and the
        producer counts what it could not record."""
        if access.path in NOT_RECORDED_PATHS:
            return
        try:
            for entry in access_entries(access, self.own_tenant):
                self.producer.emit(entry, chain_id=self.chain_of(entry.tenant_id))
        except Exception:
            log.exception("access event of %s %s not recorded", access.method, access.path[:80])
