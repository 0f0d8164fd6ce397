"""Completeness from the producer on: the worker's stream tracking, the findings it seals,
their survival across a restore, and the verifier's recount from sealed entries."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from auditstream.core import completeness
from auditstream.core.body import decode_body
from auditstream.core.chain import Link
from auditstream.core.classify import Classifier
from auditstream.core.completeness import StreamAudit, Streams, heartbeat_payload
from auditstream.core.verify import verify_chain
from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
from auditstream.producers.spool import Spool
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from tests.support.chains import KEYRING
from tests.support.engine_kit import T0_MS, login, record, sealer

NOW = T0_MS * 1_000_000
S = 1_000_000_000


def numbered(n: int, seq: int, producer: str = "p-1") -> pb.LogEntry:
    entry = login(n)
    entry.producer_id = producer
    entry.producer_seq = seq
    return entry


def heartbeat(n: int, seq: int, interval: float, *, stopping: bool = False) -> pb.LogEntry:
    entry = numbered(n, seq)
    entry.event_type = pb.EVENT_PRODUCER_HEARTBEAT
    entry.payload = heartbeat_payload(interval, stopping=stopping, dropped=0)
    return entry


def sealed_entries(*outputs: object) -> list[pb.LogEntry]:
    return [
        decode_body(Link.decode(data).body).entry
        for out in outputs
        for _, data in out.sealed  # type: ignore[attr-defined]
    ]


def findings(*outputs: object) -> list[dict[str, object]]:
    return [
        {"type": pb.EventType.Name(e.event_type), **json.loads(e.payload)}
        for e in sealed_entries(*outputs)
        if e.event_type in completeness.FINDINGS
    ]


# -- the stream state ------------------------------------------------------------------
def test_a_skipped_range_is_pending_until_it_arrives_or_its_time_comes() -> None:
    streams = Streams()
    for seq, at in ((1, 0), (2, 1), (6, 2), (4, 3)):
        streams.observe(numbered(seq, seq), at * S)
    stream = streams.get("p-1")
    assert stream is not None
    assert stream.next_seq == 7
    assert stream.missing == [(3, 3, 2 * S), (5, 5, 2 * S)]  # 4 arrived late, split the gap
    assert streams.due(61 * S, 60 * S) == []
    (gap_3, gap_5) = streams.due(62 * S, 60 * S)
    assert (gap_3.first, gap_3.last, gap_5.first, gap_5.last) == (3, 3, 5, 5)
    assert stream.missing == [] and streams.due(200 * S, 60 * S) == []


def test_a_producer_first_seen_past_one_lost_its_first_events() -> None:
    streams = Streams()
    streams.observe(numbered(1, 4), 0)
    (gap,) = streams.due(60 * S, 60 * S)
    assert (gap.first, gap.last) == (1, 3)


def test_silence_after_twice_the_heartbeat_interval_unless_it_said_it_stops() -> None:
    streams = Streams()
    streams.observe(heartbeat(1, 1, 10.0), 0)
    assert streams.due(19 * S, 60 * S) == []
    (silent,) = streams.due(20 * S, 60 * S)
    assert silent.event_type == pb.EVENT_PRODUCER_SILENT
    assert streams.due(100 * S, 60 * S) == []  # reported once
    streams.observe(numbered(2, 2), 100 * S)  # it came back: the next silence counts again
    assert len(streams.due(121 * S, 60 * S)) == 1
    stopped = Streams()
    stopped.observe(heartbeat(1, 1, 10.0, stopping=True), 0)
    assert stopped.due(1000 * S, 60 * S) == []


def test_stream_state_round_trips_through_the_snapshot_message() -> None:
    streams = Streams()
    for seq in (1, 5, 9):
        streams.observe(numbered(seq, seq), seq * S)
    streams.observe(heartbeat(10, 10, 30.0), 10 * S)
    copy = Streams.from_proto(streams.to_proto())
    assert list(copy) == list(streams)


def test_bad_finding_payloads_change_nothing() -> None:
    streams = Streams()
    streams.observe(numbered(1, 3), 0)
    for payload in (b"not json", b"[1]", b'{"producer_id": "p-1", "first": true, "last": 2}'):
        entry = pb.LogEntry(event_type=pb.EVENT_PRODUCER_GAP, payload=payload)
        streams.observe(entry, 0)
    stream = streams.get("p-1")
    assert stream is not None and stream.missing == [(1, 2, 0)]


# -- in the engine ---------------------------------------------------------------------
def test_the_engine_seals_a_gap_finding_with_the_producer_and_the_range() -> None:
    engine = sealer(gap_after_s=30)
    seqs = [*range(1, 11), *range(21, 26)]  # 11..20 never arrive
    first = engine.process([record(o, numbered(o, s)) for o, s in enumerate(seqs)], NOW)
    assert findings(first) == []
    later = engine.due(NOW + 31 * S)
    assert findings(later) == [
        {"type": "EVENT_PRODUCER_GAP", "producer_id": "p-1", "first": 11, "last": 20}
    ]
    (entry,) = sealed_entries(later)
    assert entry.tenant_id == "acme" and "p-1" in entry.message and "11..20" in entry.message
    links = [Link.decode(d) for out in (first, later) for _, d in out.sealed]
    assert verify_chain(links, "acme", keyring=KEYRING).ok
    assert findings(engine.due(NOW + 300 * S)) == []  # once


def test_while_records_flow_the_data_clock_decides_not_the_wall_clock() -> None:
    """A backlog read long after it was written is not a gap nor silence by itself."""
    engine = sealer(gap_after_s=30)
    late = NOW + 3600 * S
    batch = [record(0, heartbeat(0, 1, 5.0)), record(1, numbered(1, 3), timestamp_ms=T0_MS + 1)]
    assert findings(engine.process(batch, late)) == []
    # 2 arrives 10 s later (data time): not yet 30 s, nothing reported.
    out = engine.process([record(2, numbered(2, 2), timestamp_ms=T0_MS + 10_000)], late)
    assert findings(out) == []


def test_findings_survive_a_restore_and_are_not_sealed_twice() -> None:
    engine = sealer(gap_after_s=30, snapshot_every=5)
    first = engine.process([record(o, numbered(o, s)) for o, s in enumerate((1, 2, 3, 7, 8))], NOW)
    snapshots = [sealed.ChainSnapshot.FromString(d) for d in dict(first.snapshots).values()]
    assert snapshots and snapshots[0].producers[0].missing[0].first == 4
    reported = engine.due(NOW + 31 * S)
    assert len(findings(reported)) == 1
    # A new owner restores from the snapshot (gap pending) and the tail (gap reported).
    tail = [Link.decode(d) for out in (first, reported) for _, d in out.sealed]
    second = sealer(gap_after_s=30, snapshot_every=5)
    second.restore(snapshots, tail)
    assert findings(second.due(NOW + 100 * S)) == []
    # Restored from the snapshot alone, the pending gap is still reported.
    third = sealer(gap_after_s=30, snapshot_every=5)
    third.restore(snapshots, [Link.decode(d) for _, d in first.sealed])
    assert [f["first"] for f in findings(third.due(NOW + 31 * S))] == [4]


# -- the verifier's recount ------------------------------------------------------------
def test_the_recount_finds_gaps_reported_or_not_and_excuses_removed_content() -> None:
    audit = StreamAudit("acme")
    for chain_seq, seq in enumerate((1, 2, 5, 6, 9)):
        audit.add(numbered(chain_seq, seq), chain_seq)
    gap = pb.LogEntry(
        event_type=pb.EVENT_PRODUCER_GAP,
        payload=json.dumps({"producer_id": "p-1", "first": 3, "last": 4}).encode(),
    )
    audit.add(gap, 5)
    audit.content_removed(3)  # seq 6 itself: its neighbours still bound the gap after it
    audit.content_removed(6)  # between seq 9 (chain seq 4) and seq 12 (chain seq 8)
    audit.add(numbered(8, 12), 8)
    (report,) = audit.finish()
    assert report.producer_id == "p-1" and report.highest == 12
    assert report.reported == [(3, 4)]
    assert report.gaps == [(3, 4), (7, 8)]
    assert report.unknown == [(10, 11)]
    assert report.missing == 4


# -- the producer ----------------------------------------------------------------------
def test_the_producer_numbers_each_chain_gap_free_on_both_encoding_paths(tmp_path: Path) -> None:
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"),
        spool_dir=tmp_path,
        tenant_id="acme",
        client_settings={"log_level": "0"},
    )
    producer = AuditProducer(config)
    producer.login("user-1")  # the direct encoder
    producer.login("user-1", chain_id="acme/shard1")
    producer.emit(pb.LogEntry(event_type=pb.EVENT_LOGOUT, actor_id="user-1"))  # LogEntry path
    producer.login(123)  # type: ignore[arg-type]  # unusable arguments, still numbered
    producer.close(timeout=0)
    entries = [pb.LogEntry.FromString(r.value) for r in Spool.open(tmp_path).pending(0)]
    numbers = [(e.producer_id, e.producer_seq, e.event_type) for e in entries]
    pid = producer.producer_id
    heartbeat_type = pb.EVENT_PRODUCER_HEARTBEAT
    assert sorted(numbers) == sorted(
        [
            (pid, 1, pb.EVENT_LOGIN),
            (pid, 1, pb.EVENT_LOGIN),  # acme/shard1 counts on its own
            (pid, 2, pb.EVENT_LOGOUT),
            (pid, 3, pb.EVENT_LOGIN),
            (pid, 4, heartbeat_type),  # the last word on acme: stopping
            (pid, 2, heartbeat_type),  # and on acme/shard1
        ]
    )
    stops = [json.loads(e.payload) for e in entries if e.event_type == heartbeat_type]
    assert all(s["stopping"] is True and s["heartbeat_interval_s"] == 60.0 for s in stops)


def test_a_drop_fail_point_loses_numbered_records_after_the_first_ones(
    tmp_path: Path, monkeypatch: object
) -> None:
    monkeypatch.setenv(failpoints.ENV, "producer.send=3@2")  # type: ignore[attr-defined]
    failpoints.active.cache_clear()
    failpoints._drops.cache_clear()
    try:
        config = ProducerConfig(
            kafka=KafkaConnection("127.0.0.1:9"),
            spool_dir=tmp_path,
            heartbeat_interval_s=0,
            client_settings={"log_level": "0"},
        )
        producer = AuditProducer(config)
        for n in range(8):
            producer.login(f"user-{n}")
        producer.close(timeout=0)
    finally:
        failpoints.active.cache_clear()
        failpoints._drops.cache_clear()
    spooled = [pb.LogEntry.FromString(r.value) for r in Spool.open(tmp_path).pending(0)]
    assert [e.producer_seq for e in spooled] == [1, 2, 6, 7, 8]


def test_a_finding_read_from_the_raw_topic_is_refused_not_believed() -> None:
    """A producer that forges a gap finding cannot make a real gap look reported."""
    engine = sealer(gap_after_s=30)
    engine.process([record(0, numbered(0, 1)), record(1, numbered(1, 5))], NOW)
    forged = pb.LogEntry(
        event_type=pb.EVENT_PRODUCER_GAP,
        actor_id="auditstream-worker",
        tenant_id="acme",
        event_id="forged-1",
        payload=json.dumps({"producer_id": "p-1", "first": 2, "last": 4}).encode(),
    )
    out = engine.process([record(2, forged)], NOW)
    assert not out.sealed and out.counts["dead_letter:DEAD_LETTER_REASON_INVALID_FIELD"] == 1
    assert [(f["first"], f["last"]) for f in findings(engine.due(NOW + 31 * S))] == [(2, 4)]


def test_a_producer_id_is_exempt_from_secret_scanning_only_in_uuid_form() -> None:
    classifier = Classifier()
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    disguised = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u", producer_id=token)
    assert classifier.classify(disguised).detections == {("github_pat", "producer_id"): 1}
    assert token not in disguised.producer_id
    plain = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u", producer_id=str(uuid.uuid4()))
    assert classifier.classify(plain).detections == {}
