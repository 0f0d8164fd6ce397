"""Filling real stores with sealed entries the way the sinks do, for verification tests:
ClickHouse rows through the sink's insert path (`clickhouse.ingest`), archive segments
through `write_segment`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.clickhouse import ingest, migrations, schema
from auditstream.core.body import decode_body
from auditstream.processors.engine import Outputs
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.archive import write_segment


def load_clickhouse(client: Any, database: str, outputs: Outputs) -> None:
    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database=database))
    values = [v for _, v in outputs.sealed]
    bodies = [sealed.SealedEntry.FromString(v).body for v in values]
    ingest.insert(client, database, ingest.frame_all(zip(values, bodies, strict=True)).data)
    checkpoints = [sealed.Checkpoint.FromString(v) for _, v in outputs.checkpoints]
    client.insert(
        f"{database}.audit_checkpoints",
        [schema.checkpoint_row(c) for c in checkpoints],
        column_names=schema.CHECKPOINT_COLUMNS,
    )


def load_archive(
    store: FileArchive | S3Archive, outputs: Outputs, per_segment: int = 60
) -> list[str]:
    """Segments of up to `per_segment` entries per chain and class; returns manifest keys."""
    now = dt.datetime.now(dt.UTC)
    open_segments: dict[tuple[str, str], list[sealed.SealedEntry]] = defaultdict(list)
    written = []
    for checkpoint_value in (v for _, v in outputs.checkpoints):
        checkpoint = sealed.Checkpoint.FromString(checkpoint_value)
        tenant = checkpoint.chain_id.split("/", 1)[0]
        key = seg.checkpoint_key(tenant, checkpoint.chain_id, checkpoint.tree_size)
        store.put(key, checkpoint_value, retain_until=None)
    for _, value in outputs.sealed:
        entry = sealed.SealedEntry.FromString(value)
        slot = (entry.chain_id, decode_body(entry.body).classification.retention_class)
        open_segments[slot].append(entry)
        if len(open_segments[slot]) == per_segment:
            written.append(_write(store, open_segments.pop(slot), slot[1], now))
    for slot, entries in open_segments.items():
        written.append(_write(store, entries, slot[1], now))
    return written


def _write(
    store: FileArchive | S3Archive,
    entries: list[sealed.SealedEntry],
    retention_class: str,
    now: dt.datetime,
) -> str:
    manifest = write_segment(
        store, seg.Draft.of(entries, retention_class), checkpoint="", now=now, skeleton_days=30
    )
    return manifest.key
