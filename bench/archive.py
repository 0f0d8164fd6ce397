"""Archive sink throughput and footprint: sealed entries from Kafka into locked S3 (MinIO).

    python bench/archive.py [--quick] [--events N] [--file]

archive_events_per_s     ArchiveSink consuming a backlog of N sealed entries (and their
                         checkpoints) until every entry is in a written segment
    ceiling              write_segment() of the same entries (drafts made from the same
                         bytes), grouped and sized as the sink groups them, uploaded with
                         the sink's number of threads and one segment per chain and class
                         at a time, straight to the same store (no Kafka, no checkpoints)
tiles_entries_per_s      TileWriter (what the sink calls to keep each chain's C2SP
                         tlog) tiling the same entries and publishing their checkpoints
                         (hash tiles, entry bundles, plain notes) into the same store,
                         with the sink's number of upload threads
    ceiling              put() of the very objects it wrote, into a fresh prefix, on as
                         many threads (the store's own write rate for that work, without
                         the tile math)
archive_bytes_per_event  bytes of every object the sink wrote (segments, skeletons,
                         manifests, checkpoints) per entry
    ceiling              the sealed entries' own protobuf bytes, uncompressed, per entry
                         (what a plain copy of the stream would store)

`--file` archives to a file:// folder instead of MinIO (no S3 locking).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import _common
import _services

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.archive.tiling import TileWriter
from auditstream.core.body import decode_body
from auditstream.core.retention import parse_policy
from auditstream.devstack import minio
from auditstream.devstack import stack as devstack
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.config import S3Settings
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import default_policy_file
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink, write_segment
from tests.support.archive_kit import publish, sealed_outputs
from tests.support.infra import unique
from tests.support.pipeline import create_pipeline

MAX_ENTRIES = 10_000


@contextmanager
def s3_store(state: Path) -> Iterator[tuple[S3Settings, str]]:
    """A throwaway MinIO and a fresh locked bucket with the policy's lifecycle rules."""
    info = minio.start(state)
    try:
        settings = devstack.s3_settings(state, info.endpoint)
        bucket = unique("as-bench")
        policy = parse_policy(default_policy_file().read_text(encoding="utf-8"))
        lifecycle.init_s3(S3Archive(bucket, "audit", settings), policy, 3650)
        yield settings, bucket
    finally:
        minio.stop(state)


def stored_bytes(store: FileArchive | S3Archive) -> int:
    """Bytes of every object under the store's root or prefix."""
    if isinstance(store, FileArchive):
        return sum(p.stat().st_size for p in store.root.rglob("*") if p.is_file())
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=store.prefix
    )
    return sum(obj["Size"] for page in pages for obj in page.get("Contents", []))


def drafts(values: list[bytes]) -> list[list[seg.Draft]]:
    """The sink's segments for a backlog, made as the sink makes them: per chain and
    class, in order, MAX_ENTRIES each."""
    slots: dict[tuple[str, str], list[seg.Draft]] = defaultdict(list)
    for value in values:
        entry = sealed.SealedEntry.FromString(value)
        body_bytes = entry.body
        body = decode_body(body_bytes)
        slot = (entry.chain_id, body.classification.retention_class or "standard")
        if not slots[slot] or len(slots[slot][-1]) == MAX_ENTRIES:
            slots[slot].append(seg.Draft(*slot))
        slots[slot][-1].add(value, entry, body, body_bytes)
    return list(slots.values())


def tiles_rates(
    store: Callable[[str], FileArchive | S3Archive],
    entries: list[sealed.SealedEntry],
    checkpoints: list[tuple[str, bytes]],
    now: dt.datetime,
    threads: int,
) -> tuple[float, float]:
    """Entries/s of TileWriter over the backlog, and of putting its output objects."""
    notes = [sealed.Checkpoint.FromString(value) for _, value in checkpoints]
    day = now.strftime("%Y-%m-%d")
    target = store("tiles")
    tiles = TileWriter(target, retain_days=3650, now=lambda: now, threads=threads)
    started = time.perf_counter()
    for entry in entries:
        tiles.entry(entry.chain_id, entry.seq, entry.entry_hash)
    for checkpoint in notes:
        tiles.checkpoint(checkpoint.chain_id, checkpoint.note, day)
    tiles.flush()
    rate = len(entries) / (time.perf_counter() - started)
    if tiles.entries_tiled != len(entries) or tiles.checkpoints_published != len(notes):
        raise SystemExit(
            f"TileWriter tiled {tiles.entries_tiled} of {len(entries)} entries and published "
            f"{tiles.checkpoints_published} of {len(notes)} checkpoints"
        )
    written = [(key, target.get(key) or b"") for key in target.list("v1/tlog/")]
    copies = itertools.count()
    retain = now + dt.timedelta(days=3650)  # the Object Lock retention TileWriter sets

    def bare() -> int:
        copy = store(f"tilecopy{next(copies)}")
        with ThreadPoolExecutor(threads) as pool:
            for future in [
                pool.submit(copy.put, key, data, retain_until=retain) for key, data in written
            ]:
                future.result()
        return len(entries)

    return rate, _common.best_rate(bare, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k events")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--file", action="store_true", help="file:// archive, no MinIO")
    args = parser.parse_args()
    total_wanted = 20_000 if args.quick else args.events
    outputs = sealed_outputs(total_wanted, chains=8)
    values = [value for _, value in outputs.sealed]
    total = len(values)
    raw_bytes = sum(map(len, values))

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="as-bench-")))
        bootstrap = stack.enter_context(_services.kafka_bootstrap())
        if args.file:

            def store(prefix: str) -> FileArchive | S3Archive:
                return FileArchive(tmp / "archive" / prefix)
        else:
            settings, bucket = stack.enter_context(s3_store(tmp / "state"))

            def store(prefix: str) -> FileArchive | S3Archive:
                return S3Archive(bucket, f"audit/{prefix}", settings)

        topic_names, _ = create_pipeline(bootstrap, 4, tmp)
        publish(bootstrap, topic_names.prefix, outputs)
        topics = topic_names.settings()
        via_sink = store("viasink")
        sink = ArchiveSink(
            via_sink,
            ArchiveConfig(
                KafkaConnection(bootstrap),
                topics,
                group_id=unique("bench"),
                max_entries=MAX_ENTRIES,
                max_age_s=2.0,
            ),
        )
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        started = time.perf_counter()
        thread.start()
        while sink.entries_archived < total:
            if not thread.is_alive():
                raise SystemExit("the archive sink stopped before archiving every entry")
            time.sleep(0.05)
        rate = total / (time.perf_counter() - started)
        time.sleep(1.0)  # the last checkpoints land too, so the footprint counts them
        stop.set()
        thread.join(60)
        footprint = stored_bytes(via_sink)

        now = dt.datetime.now(dt.UTC)
        runs = itertools.count()
        threads = ArchiveConfig(KafkaConnection(bootstrap), topics).upload_threads

        def bare() -> int:
            target = store(f"bare{next(runs)}")

            def write_slot(segments: list[seg.Draft]) -> None:
                for draft in segments:
                    write_segment(target, draft, checkpoint="", now=now, skeleton_days=3650)

            with ThreadPoolExecutor(threads) as pool:
                for future in [pool.submit(write_slot, slot) for slot in drafts(values)]:
                    future.result()
            return total

        ceiling = _common.best_rate(bare, 2)
        entries = [sealed.SealedEntry.FromString(value) for value in values]
        tiles_rate, tiles_ceiling = tiles_rates(store, entries, outputs.checkpoints, now, threads)

    _common.emit(
        "archive",
        {
            "archive_events_per_s": _common.figure(rate, "events/s", ceiling=ceiling, goal=50_000),
            "tiles_entries_per_s": _common.figure(
                tiles_rate, "entries/s", ceiling=tiles_ceiling, goal=None
            ),
            "archive_bytes_per_event": _common.figure(
                footprint / total,
                "bytes/event",
                ceiling=raw_bytes / total,
                goal=None,
                higher_is_better=False,
            ),
        },
        events=total,
        checkpoints=len(outputs.checkpoints),
        segments=sink.segments_written,
        store="file" if args.file else "minio",
    )


if __name__ == "__main__":
    main()
