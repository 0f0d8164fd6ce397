"""`AuditStreamStorage`: a rotalabs-comply `StorageBackend` that writes through the
audit producer and reads back from ClickHouse.

    storage = AuditStreamStorage(producer, clickhouse_client, tenant="acme")
    logger = AuditLogger(storage)                       # rotalabs_comply.audit
    report = await ReportGenerator(storage, frameworks).generate(start, end, profile)

`write` records an `AuditEntry` as a MODEL_INFERENCE event whose event id is the
entry's id (so a retried write is de-duplicated by the processor). Content never
comes back in clear: text the entry carries (`input_content`, `output_content`) is
stored as keyed digests (ciphertext with the producer's store_content) and read back
as None; rotalabs' own SHA-256 `input_hash` / `output_hash` are kept as given.
`read`, `list_entries` and `count` see the tenant's sealed AI events that the
ClickHouse sink has stored, whoever produced them. `delete` never deletes: it raises
`DeletionRefusedError` (entries expire by the retention policy; content is erased by
destroying its subject key). Needs `pip install 'auditstream[comply]'`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from rotalabs_comply.audit.storage import AuditEntry

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.core.body import decode_body
from auditstream.errors import AuditStreamError
from auditstream.integrations.content import ContentWriter
from auditstream.producers import AuditProducer
from auditstream.producers.events import build_entry, struct_of
from auditstream.proto.v1 import log_entry_pb2 as pb

ORIGIN = "rotalabs"  # data key of the fields only rotalabs has
AI_EVENTS = ("EVENT_MODEL_INFERENCE",)
_FROM_COLUMNS = (
    "event_id, event_time, ai_provider, ai_model, ai_conversation_id, ai_safety_passed, "
    "ai_block_reason, duration_ms, ai_input_tokens, ai_output_tokens, body"
)


class DeletionRefusedError(AuditStreamError):
    """An audit entry cannot be deleted; it expires by the retention policy."""


def _aware(moment: dt.datetime) -> dt.datetime:
    """Naive times are UTC, as rotalabs writes them."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return _aware(moment).astimezone(dt.UTC).replace(tzinfo=None)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return _aware(dt.datetime.fromisoformat(text))
    except (TypeError, ValueError):
        return None


def log_entry(entry: AuditEntry, content: ContentWriter, *, tenant_id: str) -> pb.LogEntry:
    """The LogEntry of a rotalabs AuditEntry (pure apart from the content policy).
    rotalabs writes naive UTC timestamps; an unreadable one becomes the current time
    and a validation issue."""
    passed = bool(entry.safety_passed)
    out = build_entry(
        pb.EVENT_MODEL_INFERENCE,
        event_id=str(entry.id),
        actor_id=entry.provider or "model",
        actor_type="service",
        tenant_id=tenant_id,
        outcome=pb.OUTCOME_SUCCESS if passed else pb.OUTCOME_FAILURE_DENIED,
        severity=pb.SEVERITY_INFO if passed else pb.SEVERITY_WARNING,
        duration_ms=float(entry.latency_ms or 0.0),
        resource=f"models/{entry.model}" if entry.model else "",
        message="AI interaction" + ("" if passed else f" blocked: {entry.block_reason or ''}"),
        otel_operation_name="chat",
    )
    moment = _parse_time(entry.timestamp)
    if moment is None:
        out.validation_issues.append(f"timestamp: {str(entry.timestamp)[:60]!r} is not ISO 8601")
    else:
        out.event_time.FromDatetime(moment)
    ai = out.ai
    ai.provider = entry.provider or ""
    ai.request_model = entry.model or ""
    ai.conversation_id = entry.conversation_id or ""
    ai.safety_passed = passed
    ai.detectors_triggered.extend(entry.detectors_triggered or [])
    ai.block_reason = entry.block_reason or ""
    ai.alerts.extend(entry.alerts or [])
    if entry.input_tokens is not None:
        ai.input_tokens = entry.input_tokens
    if entry.output_tokens is not None:
        ai.output_tokens = entry.output_tokens
    for name, text, indexes in (
        ("input", entry.input_content, ai.input_content),
        ("output", entry.output_content, ai.output_content),
    ):
        if text is not None:
            indexes.append(content.add(out, name, text, subject=ai.conversation_id))
    kept = {"input_hash": entry.input_hash, "output_hash": entry.output_hash}
    out.data.CopyFrom(struct_of({ORIGIN: kept, "metadata": dict(entry.metadata or {})}))
    out.producer.source_message_type = "rotalabs_comply.AuditEntry"
    return out


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """The AuditEntry of one `_FROM_COLUMNS` row: from the sealed body, or from the
    columns when the body's content has expired (then metadata says so)."""
    event_id, event_time, provider, model, conversation, safety, block, latency = row[:8]
    input_tokens, output_tokens, body = row[8:]
    timestamp = _naive_utc(event_time).isoformat()
    if not body:
        return AuditEntry(
            id=event_id, timestamp=timestamp, input_hash="", output_hash="",
            provider=provider or None, model=model or None,
            conversation_id=conversation or None,
            safety_passed=True if safety is None else bool(safety),
            block_reason=block or None, latency_ms=float(latency),
            input_tokens=input_tokens or None, output_tokens=output_tokens or None,
            metadata={"auditstream.content_removed": True},
        )  # fmt: skip
    entry = decode_body(bytes(body)).entry
    ai = entry.ai
    data = json_format.MessageToDict(entry.data) if entry.HasField("data") else {}
    kept = data.pop(ORIGIN, {})
    metadata = data.pop("metadata", {}) if isinstance(data.get("metadata"), dict) else {}
    metadata.update(data)  # anything else the event carries (e.g. OpenTelemetry details)
    return AuditEntry(
        id=entry.event_id,
        timestamp=timestamp,
        input_hash=str(kept.get("input_hash", "")),
        output_hash=str(kept.get("output_hash", "")),
        provider=ai.provider or None,
        model=ai.request_model or ai.response_model or None,
        conversation_id=ai.conversation_id or None,
        safety_passed=ai.safety_passed if ai.HasField("safety_passed") else True,
        detectors_triggered=list(ai.detectors_triggered),
        block_reason=ai.block_reason or None,
        alerts=list(ai.alerts),
        latency_ms=entry.duration_ms,
        input_tokens=ai.input_tokens if ai.HasField("input_tokens") else None,
        output_tokens=ai.output_tokens if ai.HasField("output_tokens") else None,
        metadata=metadata,
    )


class AuditStreamStorage:
    """rotalabs-comply's StorageBackend over auditstream, for one tenant.

    `client` reads the ClickHouse database the sink writes (`lock`: the one shared
    with other users of the same embedded client, if any); `event_types` are the event
    types read back as AuditEntry."""

    def __init__(
        self,
        producer: AuditProducer,
        client: ClickHouseClient,
        *,
        tenant: str,
        database: str = "auditstream",
        event_types: Sequence[str] = AI_EVENTS,
        lock: threading.Lock | None = None,
    ) -> None:
        self.producer = producer
        self.client = client
        self.tenant = tenant
        self.table = f"{ident(database)}.audit_events"
        self.event_types = list(event_types)
        self.content = ContentWriter.of(producer)
        self._lock = lock or threading.Lock()

    async def write(self, entry: AuditEntry) -> str:
        self.producer.emit(log_entry(entry, self.content, tenant_id=self.tenant))
        return str(entry.id)

    async def read(self, entry_id: str) -> AuditEntry | None:
        rows = await self._select("event_id = {event_id:String}", {"event_id": entry_id}, 1)
        return audit_entry(rows[0]) if rows else None

    async def list_entries(self, start: dt.datetime, end: dt.datetime) -> list[AuditEntry]:
        """Entries with start <= timestamp <= end (naive times are UTC, as rotalabs')."""
        rows = await self._select(
            "event_time >= {start:DateTime64(6)} AND event_time <= {end:DateTime64(6)}",
            {"start": _aware(start), "end": _aware(end)},
        )
        return [audit_entry(row) for row in rows]

    async def delete(self, entry_id: str) -> bool:
        raise DeletionRefusedError(
            f"audit entry {entry_id!r} cannot be deleted: sealed entries expire by the "
            "retention policy (auditstream retention), and content is erased by destroying "
            "its subject key (ContentVault.destroy)"
        )

    async def count(self) -> int:
        def run() -> int:
            with self._lock:
                result = self.client.query(
                    f"SELECT count() FROM {self.table} "  # noqa: S608 - identifier checked
                    "WHERE tenant_id = {tenant:String} AND event_type IN {types:Array(String)}",
                    parameters={"tenant": self.tenant, "types": self.event_types},
                    settings={"readonly": 1},
                )
            return int(result.result_rows[0][0])

        return await asyncio.to_thread(run)

    async def _select(
        self, where: str, params: dict[str, Any], limit: int = 0
    ) -> list[Sequence[Any]]:
        sql = (
            f"SELECT {_FROM_COLUMNS} FROM {self.table} "  # noqa: S608 - identifier checked
            "WHERE tenant_id = {tenant:String} AND event_type IN {types:Array(String)} "
            f"AND {where} ORDER BY event_time, seq" + (f" LIMIT {limit}" if limit else "")
        )

        def run() -> list[Sequence[Any]]:
            with self._lock:
                result = self.client.query(
                    sql,
                    parameters={"tenant": self.tenant, "types": self.event_types, **params},
                    settings={"readonly": 1},
                    column_formats={"body": "bytes"},
                )
            return list(result.result_rows)

        return await asyncio.to_thread(run)

    def __repr__(self) -> str:
        return f"AuditStreamStorage(tenant={self.tenant!r}, table={self.table!r})"
