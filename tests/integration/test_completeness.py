"""Completeness from the producer on, on real Kafka and ClickHouse: events lost between
the producer and the raw topic (a fail point in the producer's transport) are sealed by
the worker as a gap finding with the producer id and the missing range, a producer
killed without closing is reported silent after its heartbeat interval, and
`auditstream verify` reports both, apart from the chain's integrity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.core.body import decode_body
from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import SealedEntry
from auditstream.runtime import failpoints
from auditstream.settings import keyfiles
from tests.support.infra import Infra, unique
from tests.support.pipeline import REPO, Worker, create_pipeline, read_topic, sink_into_clickhouse

pytestmark = pytest.mark.integration
EVENTS = 50
DROPPED = range(21, 31)  # the 21st to 30th send of the first producer

# A producer that sends a few events and heartbeats every second until it is killed.
CRASHING_PRODUCER = textwrap.dedent(
    """
    import sys, time
    from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
    config = ProducerConfig(KafkaConnection(sys.argv[1]), topic=sys.argv[2],
                            spool_dir=sys.argv[3], tenant_id="globex", heartbeat_interval_s=1)
    producer = AuditProducer(config)
    for n in range(5):
        producer.login(f"user-{n}", resource="auth/login")
    assert producer.flush(60)
    print(producer.producer_id, flush=True)
    time.sleep(600)
    """
)


def sealed_entries(values: list[Any]) -> list[pb.LogEntry]:
    return [decode_body(SealedEntry.FromString(v).body).entry for v in values]


def test_lost_events_and_a_silent_producer_are_sealed_and_verify_reports_them(
    kafka_bootstrap: str,
    infra: Infra,
    clickhouse: Any,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    sealed_topic = f"{topics.prefix}.sealed"
    worker = Worker(
        kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"), extra=("--gap-after", "2")
    )
    crashing: subprocess.Popen[str] | None = None
    try:
        worker.wait_ready()
        monkeypatch.setenv(failpoints.ENV, f"producer.send={len(DROPPED)}@{DROPPED[0] - 1}")
        failpoints.active.cache_clear()
        failpoints._drops.cache_clear()
        lossy = AuditProducer(
            ProducerConfig(
                KafkaConnection(kafka_bootstrap),
                topic=topics.raw,
                spool_dir=tmp_path / "spool-a",
                tenant_id="acme",
                heartbeat_interval_s=0,  # only this thread sends: the lost numbers are known
            )
        )
        with lossy:
            for number in range(EVENTS):
                lossy.login(f"user-{number % 7}", resource="auth/login")
            assert lossy.flush(60), lossy.stats()
        failpoints.active.cache_clear()
        failpoints._drops.cache_clear()
        monkeypatch.delenv(failpoints.ENV)

        crashing = subprocess.Popen(
            [sys.executable, "-c", CRASHING_PRODUCER, kafka_bootstrap, topics.raw,
             str(tmp_path / "spool-b")],
            stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True,
        )  # fmt: skip
        assert crashing.stdout is not None
        silent_id = crashing.stdout.readline().strip()
        assert silent_id, "the crashing producer printed no id"
        time.sleep(1.5)  # a heartbeat or two
        os.killpg(crashing.pid, signal.SIGKILL)
        crashing.wait(30)

        # 40 + 5 events, heartbeats, and the two findings.
        deadline = time.monotonic() + 120
        while True:
            entries = sealed_entries(read_topic(kafka_bootstrap, sealed_topic, 47, quiet=2))
            kinds = {e.event_type for e in entries}
            if {pb.EVENT_PRODUCER_GAP, pb.EVENT_PRODUCER_SILENT} <= kinds:
                break
            assert time.monotonic() < deadline, sorted(pb.EventType.Name(k) for k in kinds)
        time.sleep(4)  # a time-based checkpoint (3 s) covers the findings
    finally:
        if crashing is not None and crashing.poll() is None:
            os.killpg(crashing.pid, signal.SIGKILL)
        worker.stop()
    assert not worker.errors(), worker.errors()

    (gap,) = [e for e in entries if e.event_type == pb.EVENT_PRODUCER_GAP]
    assert json.loads(gap.payload) == {
        "producer_id": lossy.producer_id,
        "first": DROPPED[0],
        "last": DROPPED[-1],
    }
    assert gap.tenant_id == "acme" and gap.severity == pb.SEVERITY_ERROR
    (silent,) = [e for e in entries if e.event_type == pb.EVENT_PRODUCER_SILENT]
    assert json.loads(silent.payload)["producer_id"] == silent_id
    assert silent.tenant_id == "globex"
    numbered = sorted(e.producer_seq for e in entries if e.producer_id == lossy.producer_id)
    assert numbered == [n for n in range(1, EVENTS + 1) if n not in DROPPED]

    sink_into_clickhouse(clickhouse, kafka_bootstrap, topics, ch_database, len(entries))
    found = clickhouse.query(
        f"SELECT event_type, count() FROM {ch_database}.audit_events "
        "WHERE event_type IN ('EVENT_PRODUCER_GAP', 'EVENT_PRODUCER_SILENT') GROUP BY event_type"
    ).result_rows
    assert sorted(found) == [("EVENT_PRODUCER_GAP", 1), ("EVENT_PRODUCER_SILENT", 1)]

    public = tmp_path / "checkpoint.pub"
    public.write_text(keyfiles.load_signer(keys.signer).verifier.encode() + "\n")
    args = ["verify", "--clickhouse", infra.clickhouse_dsn(), "--database", ch_database]
    args += ["--pubkey", str(public), "--keys", str(keys.hmac)]
    capsys.readouterr()
    assert main(args) == 1  # intact, but incomplete
    printed = capsys.readouterr().out
    assert "INTACT" in printed and "TAMPERING" not in printed
    assert (
        f"GAP      producer {lossy.producer_id} on acme: seq 21..30 never sealed "
        "(reported by the worker)" in printed
    )
    assert f"SILENT   producer {silent_id} on globex: fell silent 1 time(s)" in printed
    assert "INCOMPLETE (10 events never sealed)" in printed
    assert main([*args, "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["complete"] is False
    (stream,) = [p for p in document["producers"] if p["producer_id"] == lossy.producer_id]
    assert stream["gaps"] == [[21, 30]] and stream["reported_gaps"] == [[21, 30]]
