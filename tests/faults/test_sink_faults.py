"""The ClickHouse sink killed between its insert and its offset commit, then restarted:
no row twice, no row missing (compared with the sealed topic); and bad records on its
topics stored as rejects with their reasons, never dropped, never stopping it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from auditstream.clickhouse import migrations
from auditstream.core.validate import RawRecord
from auditstream.devstack.procs import free_port
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.samples.workload import generate
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.archive_kit import sealed_outputs
from tests.support.engine_kit import sealer
from tests.support.infra import unique
from tests.support.pipeline import REPO, Topics, create_pipeline, produce

pytestmark = [pytest.mark.faults]


def test_kill_between_insert_and_commit(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics, _ = create_pipeline(kafka_bootstrap, 2, tmp_path)
    engine = sealer(checkpoint_every=500)
    now_ms = time.time_ns() // 1_000_000
    entries = list(generate(random.Random(8), 6000))
    records = [
        RawRecord("raw", 0, i, now_ms, e.tenant_id.encode(), e.SerializeToString(), ())
        for i, e in enumerate(entries)
    ]
    out = engine.process(records, time.time_ns())
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})

    def publish(sealed: list[tuple[str, bytes]], checkpoints: list[tuple[str, bytes]]) -> None:
        for chain_id, value in sealed:
            producer.produce(f"{topics.prefix}.sealed", key=chain_id.encode(), value=value)
        for chain_id, value in checkpoints:
            producer.produce(f"{topics.prefix}.checkpoints", key=chain_id.encode(), value=value)
        assert producer.flush(60) == 0

    # The first half is there when the sink crashes, the rest comes after.
    half = len(out.sealed) // 2
    publish(out.sealed[:half], [])
    env = dict(os.environ, AUDITSTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap, **topics.env())
    store = f"chdb://{tmp_path / 'store'}"
    sink = [
        sys.executable,
        "-m",
        "auditstream",
        "sink",
        "clickhouse",
        "--clickhouse",
        store,
        "--batch-rows",
        "1000",
        "--group-id",
        "sink-under-test",
    ]
    crashed = subprocess.run(
        sink,
        env={**env, "AUDITSTREAM_FAILPOINTS": "sink.after_insert"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    publish(out.sealed[half:], out.checkpoints)
    port = free_port()
    resumed = subprocess.Popen(
        [*sink, "--metrics-port", str(port)], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while not (done := stored_to_the_end(kafka_bootstrap, topics)) and time.monotonic() < deadline:
        time.sleep(0.5)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
        inserted = json.loads(r.read())["rows_inserted"]
    resumed.terminate()
    assert resumed.wait(60) == 0
    assert done, "the restarted sink did not commit its group to the end of its topics"
    counts = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditstream",
            "query",
            "--clickhouse",
            store,
            "--format",
            "csv",
            "--sql",
            "SELECT count() AS n, uniqExact(chain_id, seq) AS distinct_entries, "
            "(SELECT count() FROM auditstream.audit_checkpoints) AS checkpoints "
            "FROM auditstream.audit_events",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert counts[1] == f"{len(out.sealed)},{len(out.sealed)},{len(out.checkpoints)}"
    # It inserted the entries of the second half, none of those the crashed one had.
    assert inserted == len(out.sealed) - half


def stored_to_the_end(bootstrap: str, topics: Topics) -> bool:
    """Whether the sink under test committed the ends of the sealed and checkpoint
    topics: it has stored (or skipped as stored) every record of both."""
    return all(
        caught_up(bootstrap, "sink-under-test", f"{topics.prefix}.{name}")
        for name in ("sealed", "checkpoints")
    )


def test_bad_records_go_to_sink_rejects_and_the_rest_is_stored(
    kafka_bootstrap: str, clickhouse: Any, ch_database: str, tmp_path: Path
) -> None:
    """Garbage on the sealed and checkpoint topics, between good entries, in one batch:
    the sink stores every good entry, writes each bad record with its reason to
    sink_rejects, and keeps running."""
    topics, _ = create_pipeline(kafka_bootstrap, 1, tmp_path)
    out = sealed_outputs(400, chains=2)
    good = [(chain.encode(), value, []) for chain, value in out.sealed]
    entry = sealed.SealedEntry.FromString(out.sealed[0][1])
    short_hash = sealed.SealedEntry()
    short_hash.CopyFrom(entry)
    short_hash.seq, short_hash.prev_hash = 10_000, b"\x01" * 31
    bad_chain = sealed.SealedEntry()
    bad_chain.CopyFrom(entry)
    bad_chain.chain_id = "../etc"
    no_body = sealed.SealedEntry()
    no_body.CopyFrom(entry)
    no_body.seq, no_body.body = 10_001, b""
    corrupt = sealed.SealedEntry()
    corrupt.CopyFrom(entry)
    corrupt.seq, corrupt.body = 10_002, b"\x0a\x05\x22\x01a"  # truncated LogEntry
    bad = {
        b"\xff\x01not protobuf": "not a SealedEntry",
        short_hash.SerializeToString(): "prev_hash has 31 bytes, not 32",
        bad_chain.SerializeToString(): "chain id '../etc' is not valid",
        no_body.SerializeToString(): "sealed entry without a body",
        corrupt.SerializeToString(): "body is not a SealedBody",
    }
    records = good[:200] + [(b"x", v, []) for v in bad] + good[200:]
    produce(kafka_bootstrap, f"{topics.prefix}.sealed", records)
    bad_note = sealed.Checkpoint(chain_id="tenant-000", tree_size=5, root_hash=b"r" * 32)
    bad_note.note = b"\xff\xfe"
    checkpoints = [(c.encode(), v, []) for c, v in out.checkpoints]
    checkpoints.append((b"tenant-000", bad_note.SerializeToString(), []))
    produce(kafka_bootstrap, f"{topics.prefix}.checkpoints", checkpoints)
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(ch_database))
    sink = ClickHouseSink(
        clickhouse,
        SinkConfig(
            KafkaConnection(kafka_bootstrap), topics.settings(), ch_database, group_id=unique("bad")
        ),
    )
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while sink.rows_inserted < len(good) and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.2)
    stop.set()
    thread.join(60)
    assert sink.rows_inserted == len(good)
    stored = clickhouse.query(
        f"SELECT chain_id, seq FROM {ch_database}.audit_events ORDER BY chain_id, seq"
    ).result_rows
    assert stored == sorted((e.chain_id, e.seq) for e in map(_entry, out.sealed))
    rejects = clickhouse.query(
        f"SELECT value, reason, topic FROM {ch_database}.sink_rejects",
        column_formats={"value": "bytes"},
    ).result_rows
    by_value = {bytes(value): (reason, topic) for value, reason, topic in rejects}
    assert len(rejects) == len(bad) + 1
    for value, reason in bad.items():
        assert by_value[value][0].startswith(reason), by_value[value]
    assert by_value[bad_note.SerializeToString()] == (
        "note is not UTF-8",
        topics.settings().checkpoints,
    )
    assert sink.rows_rejected == len(bad) + 1


def _entry(record: tuple[str, bytes]) -> sealed.SealedEntry:
    return sealed.SealedEntry.FromString(record[1])


def test_a_replay_of_stored_entries_commits_the_group_to_the_end(
    kafka_bootstrap: str, clickhouse: Any, ch_database: str, tmp_path: Path
) -> None:
    """A sink whose group starts behind what its store holds (offsets lost, or never
    committed before a crash) consumes only entries the store has: no row to insert, but
    its offsets must still reach the end, or the group never catches up on an idle
    stream."""
    topics, _ = create_pipeline(kafka_bootstrap, 2, tmp_path)
    out = sealed_outputs(300, chains=3)
    produce(
        kafka_bootstrap, f"{topics.prefix}.sealed", [(c.encode(), v, []) for c, v in out.sealed]
    )
    produce(
        kafka_bootstrap,
        f"{topics.prefix}.checkpoints",
        [(c.encode(), v, []) for c, v in out.checkpoints],
    )
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(ch_database))

    def run_sink(
        group: str, until: Callable[[ClickHouseSink], bool]
    ) -> tuple[ClickHouseSink, bool]:
        """Run a sink until `until` holds (True) or 60 s passed (False), then stop it."""
        config = SinkConfig(
            KafkaConnection(kafka_bootstrap), topics.settings(), ch_database, group_id=group
        )
        sink = ClickHouseSink(clickhouse, config)
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not (held := until(sink)) and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.2)
        stop.set()
        thread.join(60)
        return sink, held

    first, _ = run_sink(unique("first"), lambda s: s.rows_inserted == len(out.sealed))
    assert first.rows_inserted == len(out.sealed)
    group = unique("behind")
    sealed_topic = topics.settings().sealed
    # Caught up while running (a sink that stops commits what it consumed anyway).
    second, running = run_sink(group, lambda s: caught_up(kafka_bootstrap, group, sealed_topic))
    assert running
    assert second.rows_inserted == 0


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` committed every partition of `topic` at its end offset (a topic
    written without transactions: its end is its last record's offset + 1)."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
        parts = [TopicPartition(topic, p) for p in partitions]
        committed = probe.committed(parts, timeout=10)
        ends = [probe.get_watermark_offsets(tp, timeout=10)[1] for tp in parts]
    finally:
        probe.close()
    return [c.offset for c in committed] == ends
