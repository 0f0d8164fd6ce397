"""Evidence that is not a query: the verification of the tenant's chains, the archive's
Object Lock state, the dead letters of the period, and inclusion proofs of samples.

Verification and proofs go through `auditstream.verification` and trust only the
checkpoint public keys the caller gives.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteVerifier
from auditstream.errors import QueryError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.reports.evidence import Item, plain
from auditstream.settings.connection import KafkaConnection
from auditstream.verification import proofs
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Report, verify_sources
from auditstream.verification.sources import Source

log = logging.getLogger(__name__)
Archive = FileArchive | S3Archive


def verification(
    client: ClickHouseClient,
    database: str,
    archive: Archive | None,
    tenant: str,
    verifiers: Sequence[NoteVerifier],
) -> tuple[Report, Item]:
    """Every chain of the tenant, from its first entry to now (a range that starts
    later could not check the checkpoints that cover it)."""
    sources: list[Source] = [ClickHouseSource(client, database, tenant=tenant)]
    if archive is not None:
        sources.append(ArchiveSource(archive, tenant=tenant))
    report = verify_sources(sources, note_verifiers=verifiers)
    rows = [
        {
            "source": chain.source,
            "chain_id": chain.report.chain_id,
            "entries": chain.report.entries,
            "checkpoints_verified": chain.report.checkpoints_verified,
            "covered_size": chain.report.covered_size,
            "macs_checked": chain.report.macs_checked,
            "content_removed": chain.report.content_removed,
            "findings": len(chain.report.tamper_findings()) + chain.report.findings_dropped,
            "finding_kinds": sorted({str(f.kind) for f in chain.report.tamper_findings()}),
            "lag": report.lag.get(chain.report.chain_id, 0),
        }
        for chain in report.chains
    ]
    how = (
        f"auditstream verification ({' + '.join(report.sources)}, tenant {tenant}, every chain "
        "from its first entry; public checkpoint keys "
        f"{', '.join(v.name for v in verifiers)}; cross-checked seq by seq when two stores)"
    )
    return report, Item(
        "verification", "Verification of the tenant's chains", "verification", how, rows
    )


def archive_state(archive: Archive | None, tenant: str) -> Item:
    """Object Lock of the bucket and of each archived segment of the tenant."""
    title = "Archive: Object Lock and oldest segment"
    if archive is None:
        row: dict[str, Any] = {"kind": "none", "url": ""}
        return Item("archive", title, "archive", "no archive given", [row])
    manifests = []
    for key in archive.list(f"v1/manifests/{tenant}/"):
        data = archive.get(key)
        if data is not None:
            manifests.append(seg.Manifest.from_bytes(data))
    oldest = min((m.first_received for m in manifests if m.first_received), default="")
    row = {"url": archive.url, "segments": len(manifests), "oldest_segment": oldest}
    if isinstance(archive, FileArchive):
        row |= {"kind": "file", "objects": 0, "locked": 0}
        return Item("archive", title, "archive", f"manifests under {archive.url}", [row])
    lock = archive.client.get_object_lock_configuration(Bucket=archive.bucket)
    row |= {
        "kind": "s3",
        "bucket_lock": lock["ObjectLockConfiguration"].get("ObjectLockEnabled", ""),
    }
    locked, earliest = 0, ""
    for manifest in manifests:
        head = archive.client.head_object(
            Bucket=archive.bucket, Key=archive.prefix + manifest.segment_key
        )
        until = head.get("ObjectLockRetainUntilDate")
        wanted = dt.datetime.fromisoformat(manifest.retain_until)
        if head.get("ObjectLockMode") == "COMPLIANCE" and until is not None and until >= wanted:
            locked += 1
            earliest = min(earliest or plain(until), plain(until))
    row |= {"objects": len(manifests), "locked": locked, "earliest_until": earliest}
    how = (
        f"S3 GetObjectLockConfiguration of bucket {archive.bucket}; HeadObject of every "
        f"segment named by a manifest under {archive.url}v1/manifests/{tenant}/ "
        "(locked: COMPLIANCE mode until at least the manifest's retain-until)"
    )
    return Item("archive", title, "archive", how, [row])


def dead_letter_rows(
    letters: Iterable[sealed.DeadLetter], tenant: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Dead letters of the tenant (by the record key's tenant part) refused in the
    period, counted by reason."""
    low, high = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
    by_reason: dict[str, list[int]] = {}
    for letter in letters:
        key_tenant = letter.original_key.decode("utf-8", "replace").split("/", 1)[0]
        at = letter.dead_lettered_time.ToNanoseconds()
        if key_tenant == tenant and low <= at < high:
            by_reason.setdefault(sealed.DeadLetterReason.Name(letter.reason), []).append(at)
    return [
        {
            "reason": reason,
            "records": len(times),
            "first": plain(dt.datetime.fromtimestamp(min(times) / 1e9, dt.UTC)),
            "last": plain(dt.datetime.fromtimestamp(max(times) / 1e9, dt.UTC)),
        }
        for reason, times in sorted(by_reason.items())
    ]


DEAD_LETTERS_TITLE = "Records the worker refused (dead letters), by reason"


def dead_letters_unread(reason: str) -> Item:
    return Item(
        "dead_letters", DEAD_LETTERS_TITLE, "dead_letters", "not read", [], available=False,
        unavailable=reason,
    )  # fmt: skip


def dead_letters(
    kafka: KafkaConnection,
    topic: str,
    tenant: str,
    start: dt.datetime,
    end: dt.datetime,
    timeout: float = 60,
) -> Item:
    """The dead-letter topic from the period's start (by Kafka timestamp) to its end."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: PLC0415

    from auditstream.runtime.logs import KAFKA_LOGGER  # noqa: PLC0415

    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": f"auditstream-report-{time.time_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "logger": KAFKA_LOGGER,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
        if metadata.topics.get(topic) is None or metadata.topics[topic].error is not None:
            raise QueryError(f"Kafka at {kafka.bootstrap} has no topic {topic!r}")
        wanted = [TopicPartition(topic, p, int(start.timestamp() * 1000)) for p in partitions]
        offsets = consumer.offsets_for_times(wanted, timeout=timeout)
        consumer.assign(offsets)
        letters: list[sealed.DeadLetter] = []
        ended: set[int] = set()
        deadline = time.monotonic() + timeout
        stop_ms = int(end.timestamp() * 1000)
        while len(ended) < len(partitions):
            if time.monotonic() > deadline:
                raise QueryError(
                    f"reading {topic!r} from Kafka at {kafka.bootstrap} took over {timeout:.0f} s"
                )
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition() or 0)
                    continue
                if message.timestamp()[1] >= stop_ms:
                    ended.add(message.partition() or 0)
                    continue
                letters.append(sealed.DeadLetter.FromString(message.value() or b""))
    finally:
        consumer.close()
    how = (
        f"Kafka topic {topic} at {kafka.bootstrap}, from the period's start (offsets for times) "
        "to its end; counted by the tenant of the record key and the time the record was refused"
    )
    return Item(
        "dead_letters", DEAD_LETTERS_TITLE, "dead_letters", how,
        dead_letter_rows(letters, tenant, start, end),
    )  # fmt: skip


class CachingProofSource(proofs.ProofSource):
    """Reads each chain's leaves once for all the proofs of a pack."""

    def __init__(self, client: ClickHouseClient, database: str) -> None:
        super().__init__(client, database)
        self._leaves: dict[tuple[str, int], list[bytes]] = {}
        self._notes: dict[str, list[tuple[int, bytes]]] = {}

    def leaves(self, chain_id: str, size: int) -> list[bytes]:
        if (chain_id, size) not in self._leaves:
            self._leaves = {(chain_id, size): super().leaves(chain_id, size)}
        return self._leaves[(chain_id, size)]

    def notes(self, chain_id: str) -> list[tuple[int, bytes]]:
        if chain_id not in self._notes:
            self._notes[chain_id] = super().notes(chain_id)
        return self._notes[chain_id]


def inclusion_proofs(
    source: proofs.ProofSource, events: Iterable[tuple[str, str]], tenant: str
) -> dict[str, dict[str, Any]]:
    """Inclusion bundles (with bodies) of (chain, event id) pairs, chain by chain, so a
    chain's leaves are read once."""
    return {
        event_id: proofs.build_inclusion(source, event_id, tenant=tenant, with_body=True)
        for _, event_id in sorted(set(events))
    }


def newest_checkpoints(source: proofs.ProofSource, chains: Iterable[str]) -> list[dict[str, Any]]:
    """The newest stored checkpoint note of each chain (its signature is checked by
    whoever reads it, never trusted from the store)."""
    found = []
    for chain_id in sorted(set(chains)):
        notes = source.notes(chain_id)
        if notes:
            size, note = notes[-1]
            found.append({"chain_id": chain_id, "tree_size": size, "note": note.decode()})
    return found
