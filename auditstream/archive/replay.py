"""Rebuilding ClickHouse from the archive (disaster recovery, or a new store).

Entries with their bodies go through the sink's insert path (`clickhouse.ingest`), so a
rebuilt table holds exactly the rows the sink would have written. Entries whose segment
expired come back as skeleton rows (`schema.skeleton_row`): there is no body to parse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError

from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.clickhouse import ingest, schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.seqs import stored_seqs
from auditstream.clickhouse.sql import ident
from auditstream.errors import FormatError
from auditstream.proto.v1 import sealed_pb2 as sealed

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    rows: int = 0
    skipped: int = 0
    checkpoints: int = 0
    skeleton_only: int = 0  # entries whose content had expired: skeleton rows


def manifests(
    archive: FileArchive | S3Archive, tenant: str | None = None
) -> Iterator[seg.Manifest]:
    prefix = f"v1/manifests/{tenant}/" if tenant else "v1/manifests/"
    found = []
    for key in archive.list(prefix):
        data = archive.get(key)
        if data is not None:
            found.append(seg.Manifest.from_bytes(data))
    yield from sorted(found, key=lambda m: (m.chain_id, m.first_seq))


def entries_of(
    archive: FileArchive | S3Archive, manifest: seg.Manifest
) -> tuple[list[bytes], bool]:
    """The manifest's SealedEntry records with bodies, or skeletons if the segment is
    gone (and whether they have bodies)."""
    data = archive.get(manifest.segment_key)
    whole = data is not None
    if data is None:
        data = archive.get(manifest.skeleton_key)
        if data is None:
            raise FormatError(f"{manifest.key}: neither segment nor skeleton is present")
    expected = manifest.segment_sha256 if whole else manifest.skeleton_sha256
    if hashlib.sha256(data).hexdigest() != expected:
        raise FormatError(f"{manifest.key}: object does not match its manifest")
    return list(seg.decode_entries(data)), whole


def _skeleton_row(entry: sealed.SealedEntry, manifest: seg.Manifest) -> list[Any]:
    """A row for an entry whose content expired: skeleton columns, empty content. It keeps
    the segment's retain-until and legal hold, so the table's row TTL (retain-until plus
    the skeleton days) keeps it as long as the sink's row would have been kept."""
    return schema.skeleton_row(
        entry,
        manifest.tenant_id,
        retain_until=dt.datetime.fromisoformat(manifest.retain_until),
        legal_hold=manifest.legal_hold,
    )


def replay(
    archive: FileArchive | S3Archive,
    client: ClickHouseClient,
    database: str,
    *,
    tenant: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    batch: int = 50_000,
) -> ReplayResult:
    """Insert the archive's entries (and checkpoints) that the store does not have.

    Raises FormatError when an archived body cannot be parsed (run `auditstream verify`
    on the archive) and ConfigError when the store has no current ingest view.
    """
    table = f"{ident(database)}.audit_events"
    ingest.require(client, database)
    stored = stored_seqs(client, database)
    result = ReplayResult()
    frames = ingest.Frames()
    skeletons: list[list[Any]] = []
    for manifest in manifests(archive, tenant):
        if (
            start
            and manifest.last_received
            and dt.datetime.fromisoformat(manifest.last_received) < start
        ):
            continue
        if (
            end
            and manifest.first_received
            and dt.datetime.fromisoformat(manifest.first_received) >= end
        ):
            continue
        records, whole = entries_of(archive, manifest)
        for raw in records:
            entry = sealed.SealedEntry.FromString(raw)
            if stored.has(entry.chain_id, entry.seq):
                result.skipped += 1
                continue
            stored.add(entry.chain_id, entry.seq)
            if whole:
                frames.add(raw, entry.body)
            else:
                skeletons.append(_skeleton_row(entry, manifest))
                result.skeleton_only += 1
            if len(frames) + len(skeletons) >= batch:
                result.rows += _flush(client, database, table, frames, skeletons)
                frames, skeletons = ingest.Frames(), []
    result.rows += _flush(client, database, table, frames, skeletons)
    result.checkpoints = _replay_checkpoints(archive, client, database, tenant)
    return result


def _flush(
    client: ClickHouseClient,
    database: str,
    table: str,
    frames: ingest.Frames,
    skeletons: list[list[Any]],
) -> int:
    if len(frames):
        try:
            ingest.insert(client, database, frames.data)
        except DatabaseError as exc:
            bad = ingest.unparseable(frames)
            if not bad:
                raise
            index, reason = next(iter(bad.items()))
            entry = sealed.SealedEntry.FromString(frames.entry(index))
            raise FormatError(
                f"{len(bad)} archived entries cannot be stored, e.g. {entry.chain_id} seq "
                f"{entry.seq}: {reason}; verify the archive (auditstream verify --archive)"
            ) from exc
    if skeletons:
        client.insert(table, skeletons, column_names=schema.COLUMNS)
    return len(frames) + len(skeletons)


def _replay_checkpoints(
    archive: FileArchive | S3Archive, client: ClickHouseClient, database: str, tenant: str | None
) -> int:
    table = f"{ident(database)}.audit_checkpoints"
    query = f"SELECT chain_id, tree_size FROM {table}"  # noqa: S608 - identifier checked
    have = {(c, int(s)) for c, s in client.query(query).result_rows}
    new = []
    for key in archive.list(f"v1/checkpoints/{tenant}/" if tenant else "v1/checkpoints/"):
        data = archive.get(key)
        if data is None:
            continue
        checkpoint = sealed.Checkpoint.FromString(data)
        if (checkpoint.chain_id, checkpoint.tree_size) not in have:
            new.append(schema.checkpoint_row(checkpoint))
    if new:
        client.insert(table, new, column_names=schema.CHECKPOINT_COLUMNS)
    return len(new)
