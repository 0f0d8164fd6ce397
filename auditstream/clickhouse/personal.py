"""The decrypted copies of protected fields in `audit_personal`, and what erasure does
to the store (decisions 0021, 0022).

A sink given the subject vault opens each protected body it stores and writes the
personal fields to `audit_personal`, so queries show them while the subject lives.
`audit_events` keeps exactly what the chain holds. Copies are written before the batch
they belong to (a crash between the two repeats copies, never loses them; readers take
one row per chain and seq), and a copy under a key destroyed meanwhile is not written.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.errors import QueryError
from auditstream.privacy.protect import ProtectionError, SubjectProtection
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.verification.proofs import ProofSource, build_inclusion

TABLE: Final = "audit_personal"
COLUMNS: Final = (
    "tenant_id",
    "chain_id",
    "seq",
    "event_id",
    "event_time",
    "subject_digests",
    "subject_ids",
    "actor_id",
    "resource",
    "session_id",
    "message",
    "payload",
    "fields",
)
UNOPENED = Counter(
    "auditstream_sink_personal_unopened_total",
    "Protected bodies stored without a clear copy",
    ["reason"],
)
log = logging.getLogger(__name__)


class PersonalCopies:
    """Collects the clear copies of a batch's protected bodies; `insert` writes them."""

    def __init__(self, protection: SubjectProtection) -> None:
        self._protection = protection
        self._vault = protection.vault
        self._rows: list[tuple[list[Any], tuple[str, ...]]] = []
        self._warned = False

    def take(self, body_bytes: bytes) -> None:
        try:
            body = sealed.SealedBody.FromString(body_bytes)
        except DecodeError:
            return  # the sink rejects it
        if not body.HasField("protected"):
            return
        try:
            fields = self._protection.open_fields(body)
        except ProtectionError as exc:
            erased = "destroyed on request" in str(exc)
            UNOPENED.labels("erased" if erased else "unopenable").inc()
            if not erased and not self._warned:
                self._warned = True
                log.warning("a protected body does not open with this vault: %s", exc)
            return
        entry, protected = body.entry, body.protected
        row = [
            entry.tenant_id,
            body.chain_id,
            body.seq,
            entry.event_id,
            entry.event_time.ToDatetime(dt.UTC),
            [i.digest.hex() for i in protected.indexes if i.field == "subject"],
            list(fields.subject_ids),
            fields.actor_id,
            fields.resource,
            fields.session_id,
            fields.message,
            fields.payload.decode("utf-8", "replace"),
            json_format.MessageToJson(fields, indent=None, sort_keys=True),
        ]
        self._rows.append((row, tuple(s.key_id for s in protected.subjects)))

    def insert(self, client: ClickHouseClient, database: str) -> int:
        """Write what was taken, leaving out copies whose keys were destroyed since they
        were opened (the vault's tombstones are read afresh). Returns rows written."""
        if not self._rows:
            return 0
        erased: dict[str, list[str]] = {}
        rows = []
        for row, key_ids in self._rows:
            refs = {key_id.partition(".")[0] for key_id in key_ids}
            for ref in refs - erased.keys():
                erased[ref] = self._vault.erased_ids(ref)
            if not any(key_id in erased[key_id.partition(".")[0]] for key_id in key_ids):
                rows.append(row)
        self._rows = []
        if rows:
            client.insert(f"{ident(database)}.{TABLE}", rows, column_names=COLUMNS)
        return len(rows)


SUBJECT_ROWS: Final = "tenant_id = {tenant:String} AND has(subject_digests, {digest:String})"


def delete_statement(database: str, cluster: str = "") -> str:
    """The mutation that deletes a subject's clear copies (parameters `tenant`, `digest`);
    on a cluster it runs on every shard's local table."""
    table = f"{ident(database)}.{TABLE}"
    target = f"{table}_local ON CLUSTER {ident(cluster)}" if cluster else table
    return f"ALTER TABLE {target} DELETE WHERE {SUBJECT_ROWS}"


class ClickHouseErasures:
    """The erasure store (`privacy.erase.ErasureStore`) on a ClickHouse database; on a
    cluster the mutation runs on the local tables of every shard."""

    def __init__(self, client: ClickHouseClient, database: str, cluster: str = "") -> None:
        self.client = client
        self.database = ident(database)
        self.cluster = ident(cluster) if cluster else ""

    def affected(self, tenant_id: str, subject_digest: str) -> tuple[int, list[str]]:
        result = self.client.query(
            "SELECT count(), groupUniqArrayIf(retention_class, legal_hold) "  # noqa: S608 - identifier checked
            f"FROM {self.database}.audit_events WHERE tenant_id = {{tenant:String}} "
            "AND has(subject_digests, {digest:String})",
            parameters={"tenant": tenant_id, "digest": subject_digest},
        )
        count, held = result.result_rows[0]
        return int(count), sorted(str(c) for c in held)

    def clear(self, tenant_id: str, subject_digest: str) -> int:
        parameters = {"tenant": tenant_id, "digest": subject_digest}
        count = self.client.query(
            f"SELECT count() FROM {self.database}.{TABLE} WHERE {SUBJECT_ROWS}",  # noqa: S608 - identifier checked
            parameters=parameters,
        ).result_rows[0][0]
        if count:
            self.client.command(
                delete_statement(self.database, self.cluster),
                parameters=parameters,
                settings={"mutations_sync": 2},
            )
        return int(count)

    def proof(self, event_id: str, tenant_id: str) -> dict[str, Any] | None:
        try:
            return build_inclusion(
                ProofSource(self.client, self.database), event_id, tenant=tenant_id, with_body=True
            )
        except QueryError as exc:
            if any(m in str(exc) for m in ("no event with id", "covers seq", "the store holds")):
                return None
            raise
