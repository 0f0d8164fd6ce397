"""The processor on real Kafka: lokryn producers, bad input, secrets, fail-stop."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from auditstream.core import headers
from auditstream.core.body import decode_body
from auditstream.core.chain import Chain, ChainHead
from auditstream.core.keys import HmacKey
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from tests.support.infra import unique
from tests.support.lokryn import Lokryn
from tests.support.pipeline import Worker, create_pipeline, produce, read_topic
from tests.support.secrets_corpus import POSITIVE

pytestmark = pytest.mark.integration
V020_HEADER = [(headers.MESSAGE_TYPE, headers.LOKRYN_V020.encode())]


def bodies(bootstrap: str, topic: str, expected: int) -> list[sealed.SealedBody]:
    values = read_topic(bootstrap, topic, expected, timeout=120, quiet=3)
    return [decode_body(sealed.SealedEntry.FromString(v).body) for v in values]  # type: ignore[arg-type]


def test_real_lokryn_bytes_are_sealed_with_their_meaning(
    kafka_bootstrap: str, lokryn_v011: Lokryn, lokryn_v020: Lokryn, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    v011 = [i for i in lokryn_v011.run("build-v011") if "name" in i and not i["name"].isupper()]
    v020_items = lokryn_v020.run("build-v020", "0", "0")
    records = [(b"acme", bytes.fromhex(i["hex"]), []) for i in v011]
    records += [(b"acme", bytes.fromhex(i["hex"]), V020_HEADER) for i in v020_items]
    produce(kafka_bootstrap, topics.raw, records)  # type: ignore[arg-type]
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"))
    try:
        worker.wait_ready()
        sealed_bodies = bodies(kafka_bootstrap, f"{topics.prefix}.sealed", len(records))
        # The time-based checkpoint (3 s) covers everything; the gauge follows.
        deadline = time.monotonic() + 60
        gauge = "auditstream_processor_unchecked_entries"
        while set((unchecked := worker.metric(gauge)).values()) != {0.0}:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    assert set(unchecked.values()) == {0.0}, unchecked  # the "acme" chain's partition
    assert len(sealed_bodies) == 14
    by_origin: dict[str, list[pb.LogEntry]] = {"native": [], "v020": []}
    for body in sealed_bodies:
        origin = "v020" if body.entry.producer.source_message_type else "native"
        by_origin[origin].append(body.entry)
    for origin, items in (("native", v011), ("v020", v020_items)):
        got = {e.resource: e for e in by_origin[origin]}
        for item in items:
            expected = item["dict"]
            entry = got[expected["resource"]]
            assert pb.EventType.Name(entry.event_type) == expected["event_type"]
            assert pb.Outcome.Name(entry.outcome) == expected["outcome"]
            assert entry.actor_id == expected["actor_id"] and entry.message == expected["message"]
            assert set(expected["policy_tags"]) <= set(entry.policy_tags)
            assert entry.tenant_id == "acme" and entry.event_id
    guardrail = next(e for e in by_origin["v020"] if e.event_type == pb.EVENT_GUARDRAIL_CHECK)
    assert guardrail.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED
    assert guardrail.data["rule"] == "ssn-pattern"
    login = next(e for e in by_origin["native"] if e.event_type == pb.EVENT_LOGIN)
    assert json.loads(login.payload) == {"method": "saml", "provider": "okta", "mfa": True}


def good(n: int) -> pb.LogEntry:
    entry = pb.LogEntry(
        event_type=pb.EVENT_RESOURCE_ACCESS,
        outcome=pb.OUTCOME_SUCCESS,
        actor_id=f"user-{n % 17}",
        tenant_id="acme",
        event_id=f"good-{n}",
        resource=f"api/v1/records/{n}",
        message="read",
    )
    entry.event_time.FromNanoseconds(time.time_ns())
    return entry


def malformed(kind: str, n: int) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """One bad record of `kind`; `n` makes every record's bytes unique."""
    base = good(n)
    base.event_id = f"bad-{kind}-{n}"
    key: bytes | None = b"acme"
    hdrs: list[tuple[str, bytes]] = []
    if kind == "unparseable":
        return key, b"\x0a\xff\xff\xff" + str(n).encode(), hdrs
    if kind == "unknown_event_type":
        base.event_type = 77  # type: ignore[assignment]
    elif kind == "unknown_outcome":
        base.outcome = 42  # type: ignore[assignment]
    elif kind == "missing_event_type":
        base.event_type = pb.EVENT_TYPE_UNSPECIFIED
    elif kind == "missing_actor":
        base.actor_id = ""
    elif kind == "oversize":
        base.message = "x" * 70_000
    elif kind == "invalid_json":
        base.payload = b"{'not': json"
    elif kind == "future_time":
        base.event_time.FromNanoseconds(time.time_ns() + 3_600 * 10**9)
    elif kind == "unknown_message_type":
        hdrs = [(headers.MESSAGE_TYPE, b"example.Avro")]
    elif kind == "foreign_chain_key":
        key = b"globex"
    elif kind == "bad_event_id":
        base.event_id = f"id\twith\ncontrol-{n}"
    elif kind == "lokryn_v020_unknown_enum":
        return (
            key,
            v020.LogRequest(event_type=13, actor_id=f"a{n}").SerializeToString(),
            V020_HEADER,
        )
    return key, base.SerializeToString(), hdrs


EXPECTED_REASON = {
    "unparseable": "DEAD_LETTER_REASON_UNPARSEABLE",
    "unknown_event_type": "DEAD_LETTER_REASON_UNKNOWN_ENUM",
    "unknown_outcome": "DEAD_LETTER_REASON_UNKNOWN_ENUM",
    "missing_event_type": "DEAD_LETTER_REASON_MISSING_FIELD",
    "missing_actor": "DEAD_LETTER_REASON_MISSING_FIELD",
    "oversize": "DEAD_LETTER_REASON_OVERSIZE",
    "invalid_json": "DEAD_LETTER_REASON_INVALID_JSON_PAYLOAD",
    "future_time": "DEAD_LETTER_REASON_TIME_SKEW",
    "unknown_message_type": "DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE",
    "foreign_chain_key": "DEAD_LETTER_REASON_INVALID_CHAIN_KEY",
    "bad_event_id": "DEAD_LETTER_REASON_INVALID_FIELD",
    "lokryn_v020_unknown_enum": "DEAD_LETTER_REASON_UNKNOWN_ENUM",
}


def test_ten_thousand_malformed_records_are_dead_lettered_and_the_worker_keeps_going(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    rng = random.Random(5)
    kinds = sorted(EXPECTED_REASON)
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
    expected: dict[bytes, str] = {}
    for n in range(10_000):
        kind = kinds[n % len(kinds)]
        record = malformed(kind, n)
        records.append(record)
        expected[record[1]] = EXPECTED_REASON[kind]
    goods = [(b"acme", good(n).SerializeToString(), []) for n in range(3_000)]
    records += goods  # type: ignore[arg-type]
    rng.shuffle(records)
    worker = Worker(
        kafka_bootstrap,
        keys,
        topics,
        tmp_path,
        "w",
        unique("proc"),
        extra=("--max-record-bytes", "65536"),
    )
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, topics.raw, records)
        letters = [
            sealed.DeadLetter.FromString(v)  # type: ignore[arg-type]
            for v in read_topic(kafka_bootstrap, f"{topics.prefix}.deadletter", 10_000, quiet=3)
        ]
        sealed_bodies = bodies(kafka_bootstrap, f"{topics.prefix}.sealed", 3_000)
        alive = worker.proc.poll() is None
    finally:
        worker.stop()
    assert len(letters) == 10_000
    wrong = [
        (sealed.DeadLetterReason.Name(letter.reason), expected.get(letter.original_value))
        for letter in letters
        if sealed.DeadLetterReason.Name(letter.reason) != expected.get(letter.original_value)
    ]
    assert not wrong, wrong[:5]
    assert all(letter.source.topic == topics.raw and letter.detail for letter in letters)
    reasons = Counter(sealed.DeadLetterReason.Name(letter.reason) for letter in letters)
    assert len(reasons) >= 9 and len({EXPECTED_REASON[k] for k in kinds}) == len(reasons)
    assert sorted(b.entry.event_id for b in sealed_bodies) == sorted(
        f"good-{n}" for n in range(3_000)
    )
    assert alive and worker.log.read_text().count("Worker ready") == 1


def test_no_credential_or_card_number_reaches_the_sealed_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    secrets = [s.text for s in POSITIVE if s.family not in ("card", "named")]
    cards = [s.text for s in POSITIVE if s.family == "card"]
    records = []
    for n, text in enumerate(secrets + cards):
        entry = good(n)
        entry.message = f"debug: {text}"
        entry.payload = json.dumps({"nested": [{"value": text}]}).encode()
        entry.data.update({"leak": text})
        entry.mcp.tool_arguments.update({"arg": text})
        entry.ai.tool_calls.add(name="t", arguments=json.dumps({"x": text}))
        records.append((b"acme", entry.SerializeToString(), []))
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"))
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, topics.raw, records)  # type: ignore[arg-type]
        values = read_topic(kafka_bootstrap, f"{topics.prefix}.sealed", len(records), quiet=3)
    finally:
        worker.stop()
    assert len(values) == len(records)
    blob = b"\n".join(values)  # type: ignore[arg-type]
    for item in POSITIVE:
        if item.family not in ("card", "named") and len(item.secret) >= 10:
            assert item.secret.encode() not in blob
    for card in (s.secret for s in POSITIVE if s.family == "card"):
        digits = "".join(c for c in card if c.isdigit())
        assert card.encode() not in blob and digits.encode() not in blob
    assert b"[REDACTED:aws_access_key]" in blob and b"[card_number:****1111]" in blob


def test_a_worker_that_cannot_restore_its_chains_stops_instead_of_forking(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 1, tmp_path)
    # A snapshot and a sealed entry that contradict each other (seq 7 after seq 4).
    chain = Chain(ChainHead.genesis("acme"))
    key = HmacKey("k1", bytes(32))
    links = [chain.append(f"body-{n}".encode(), key) for n in range(8)]
    snapshot = sealed.ChainSnapshot(chain_id="acme", next_seq=5, head_hash=links[4].entry_hash)
    snapshot.compact_range.extend([bytes(32)] * bin(5).count("1"))
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(
        f"{topics.prefix}.state", key=b"acme", value=snapshot.SerializeToString(), partition=0
    )
    producer.produce(f"{topics.prefix}.sealed", key=b"acme", value=links[7].encode(), partition=0)
    producer.produce(topics.raw, key=b"acme", value=good(1).SerializeToString(), partition=0)
    producer.flush(30)
    app_id = unique("proc")
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", app_id)
    assert worker.proc.wait(120) == 70
    assert "RecoveryError" in worker.log.read_text()
    assert read_topic(kafka_bootstrap, f"{topics.prefix}.sealed", 1, timeout=10, quiet=2) == [
        links[7].encode()
    ]
    probe = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": app_id})
    committed = probe.committed([TopicPartition(topics.raw, 0)], timeout=10)
    probe.close()
    assert committed[0].offset < 1  # the raw record was not consumed for good


def test_a_worker_on_partitions_sealed_to_the_end_waits_without_counting_a_stall(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker that takes over partitions whose every record was sealed before has no
    consumer position on them until a record comes: that is an idle worker, not a
    wedged one (the stall check once restarted such a worker every stall timeout)."""
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    app_id = unique("proc")
    stall = ("--stall-timeout", "2")
    records = [(b"acme", good(n).SerializeToString(), []) for n in range(20)]
    first = Worker(kafka_bootstrap, keys, topics, tmp_path, "w0", app_id, extra=stall)
    first.wait_ready()
    produce(kafka_bootstrap, topics.raw, records)
    assert len(bodies(kafka_bootstrap, f"{topics.prefix}.sealed", 20)) == 20
    first.stop()
    second = Worker(kafka_bootstrap, keys, topics, tmp_path, "w1", app_id, extra=stall)
    second.wait_ready()
    time.sleep(10)  # five stall timeouts with nothing to consume
    assert second.proc.poll() is None, second.log.read_text()[-2000:]
    assert "StalledError" not in second.log.read_text()
    more = [(b"acme", good(n).SerializeToString(), []) for n in range(20, 25)]
    produce(kafka_bootstrap, topics.raw, more)
    sealed_ids = [b.entry.event_id for b in bodies(kafka_bootstrap, f"{topics.prefix}.sealed", 25)]
    assert sorted(sealed_ids) == sorted(f"good-{n}" for n in range(25))
    second.stop()
