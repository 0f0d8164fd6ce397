"""The ClickHouse sink killed between its insert and its offset commit, then restarted:
no row twice, no row missing (compared with the sealed topic)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer

from auditstream.core.validate import RawRecord
from auditstream.devstack.procs import free_port
from auditstream.samples.workload import generate
from tests.support.engine_kit import sealer
from tests.support.pipeline import REPO, create_pipeline

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
    for chain_id, value in out.sealed:
        producer.produce(f"{topics.prefix}.sealed", key=chain_id.encode(), value=value)
    for chain_id, value in out.checkpoints:
        producer.produce(f"{topics.prefix}.checkpoints", key=chain_id.encode(), value=value)
    assert producer.flush(60) == 0
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
    port = free_port()
    resumed = subprocess.Popen(
        [*sink, "--metrics-port", str(port)], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    inserted, still, deadline = -1, 0, time.monotonic() + 180
    while still < 5 and time.monotonic() < deadline:  # until it has been idle for 5 s
        time.sleep(1)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                now = json.loads(r.read())["rows_inserted"]
        except OSError:
            continue
        still = still + 1 if now == inserted and now > 0 else 0
        inserted = now
    resumed.terminate()
    assert resumed.wait(60) == 0
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
