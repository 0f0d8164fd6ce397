"""The producer library against real Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey, Keyring
from auditstream.producers import (
    AsyncAuditProducer,
    AuditLogHandler,
    AuditProducer,
    ContentDecryptionError,
    ContentUnavailableError,
    ContentVault,
    ProducerConfig,
)
from auditstream.producers.vault import aad
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields
from auditstream.settings.connection import KafkaConnection
from tests.support.infra import Infra, unique

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SALT = HmacKey("salt-1", bytes(range(40)))


def new_topic(bootstrap: str, partitions: int = 4) -> str:
    name = unique("producer")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the request
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name
    ].result(30)
    return name


def consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 120
) -> list[tuple[bytes, pb.LogEntry, int]]:
    """(key, entry, partition) in partition order, until `expected` distinct event ids
    (heartbeats are returned too, but not counted)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("c"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes, pb.LogEntry, int]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(5000, timeout=0.5):
                if msg.error() is None:
                    entry = pb.LogEntry.FromString(msg.value())
                    out.append((msg.key(), entry, msg.partition()))
                    if entry.event_type != pb.EVENT_PRODUCER_HEARTBEAT:
                        seen.add(entry.event_id)
    finally:
        consumer.close()
    return out


def make(bootstrap: str, topic: str, tmp: Path, **config: object) -> AuditProducer:
    """A producer; without heartbeats unless asked, so tests count their own events."""
    config.setdefault("heartbeat_interval_s", 0)
    vault = ContentVault(tmp / "vault", Keyring([HmacKey("kek-1", bytes(range(1, 33)))], "kek-1"))
    return AuditProducer(
        ProducerConfig(
            kafka=KafkaConnection(bootstrap),
            topic=topic,
            spool_dir=tmp / "spool",
            tenant_id="acme",
            environment="production",
            **config,
        ),  # type: ignore[arg-type]
        content=DigestPolicy(SALT),
        vault=vault,
    )


def test_every_helper_round_trips(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = new_topic(kafka_bootstrap)
    producer = make(kafka_bootstrap, topic, tmp_path, heartbeat_interval_s=60)
    expected: dict[str, tuple[int, dict[str, object]]] = {}

    def note(event_id: str, event_type: int, **fields: object) -> None:
        expected[event_id] = (event_type, fields)

    for name, number in pb.EventType.items():
        if number in (0, pb.EVENT_SUBJECT_ERASED) or name.startswith("EVENT_PRODUCER_"):
            continue  # the pipeline's own events (completeness, `auditstream erase`)
        method = getattr(producer, name.removeprefix("EVENT_").lower())
        note(method("actor-x", resource=f"r/{name}", message=name), number, resource=f"r/{name}")
    for example in SEED_EXAMPLES:
        fields = entry_fields(example)
        event_type = fields.pop("event_type")
        note(
            producer.log(event_type, fields.pop("actor_id"), **fields),
            pb.EventType.Value(event_type),
            resource=example["resource"],
            message=example["message"],
            payload=example["payload"],
        )
    note(
        producer.ai_interaction(
            "What is 2+2?",
            "4",
            provider="openai",
            model="gpt-4o",
            conversation_id="conv-1",
            input_tokens=5,
            output_tokens=1,
            latency_ms=250.5,
            actor_id="svc",
        ),
        pb.EVENT_MODEL_INFERENCE,
    )
    note(
        producer.record_change(
            "user.update",
            "admin-1",
            "User",
            "user-99",
            {"email": "old@example.com", "role": "viewer"},
            {"email": "new@example.com", "role": "viewer"},
        ),
        pb.EVENT_RESOURCE_ACCESS,
        action="user.update",
        resource="User/user-99",
    )
    with producer.tool_call("agent-001", "database_query", arguments={"query": "SELECT 1"}) as call:
        call.result = {"rows_returned": 42}
    with pytest.raises(ZeroDivisionError), producer.inference("svc", "anthropic", "claude") as inf:
        inf.input_tokens = 10
        _ = 1 / 0

    @producer.traced_tool("agent-002")
    def lookup(customer: str) -> dict[str, str]:
        return {"customer": customer}

    @producer.traced_tool("agent-003", "async_search")
    async def search(query: str) -> dict[str, int]:
        return {"hits": len(query)}

    assert lookup("c-1") == {"customer": "c-1"}
    assert asyncio.run(search("abc")) == {"hits": 3}
    handler = AuditLogHandler(producer, actor_id="billing")
    audit_log = logging.getLogger("tests.audit.bridge")
    audit_log.addHandler(handler)
    audit_log.warning(
        "refund issued", extra={"audit": {"resource": "orders/42", "actor_id": "user-7"}}
    )
    audit_log.removeHandler(handler)

    async def use_async() -> str:
        wrapper = AsyncAuditProducer(producer)
        return str(await wrapper.login("async-user", resource="auth/login"))

    note(asyncio.run(use_async()), pb.EVENT_LOGIN, actor_id="async-user")
    assert producer.flush(60)
    stats = producer.stats()
    producer.close()
    total = stats["spooled"]
    records = consume(kafka_bootstrap, topic, total)
    numbers = sorted(e.producer_seq for _, e, _ in records if e.producer_id == producer.producer_id)
    assert numbers[:total] == list(range(1, total + 1))  # one chain, no number skipped
    entries = {
        entry.event_id: (key, entry)
        for key, entry, _ in records
        if entry.event_type != pb.EVENT_PRODUCER_HEARTBEAT
    }
    assert len(entries) == total == len(expected) + 5  # + tool, inference, 2 traced, bridge
    for event_id, (event_type, fields) in expected.items():
        key, entry = entries[event_id]
        assert key == b"acme" and entry.event_type == event_type and entry.tenant_id == "acme"
        assert entry.environment == "production" and entry.event_time.seconds > 0
        for name, value in fields.items():
            assert getattr(entry, name) == value, name
    by_type = {
        e.event_type: e
        for _, e in entries.values()
        if e.event_type in (pb.EVENT_TOOL_INVOCATION, pb.EVENT_MODEL_INFERENCE) and e.duration_ms
    }
    tool = next(e for _, e in entries.values() if e.mcp.tool_name == "database_query")
    assert tool.outcome == pb.OUTCOME_SUCCESS and tool.mcp.tool_result["rows_returned"] == 42
    failed = next(e for _, e in entries.values() if e.ai.provider == "anthropic")
    assert (
        failed.outcome == pb.OUTCOME_FAILURE_ERROR
        and failed.data["error_type"] == "ZeroDivisionError"
    )
    assert failed.ai.input_tokens == 10 and by_type
    ai = next(e for _, e in entries.values() if e.ai.conversation_id == "conv-1")
    assert ai.duration_ms == 250.5 and ai.ai.input_tokens == 5
    assert ai.content[0].digest == DigestPolicy(SALT).digest("What is 2+2?", tenant_id="acme")
    assert b"2+2" not in ai.SerializeToString()
    change = next(e for _, e in entries.values() if e.action == "user.update")
    assert list(change.change.changed_fields) == ["email"]
    assert change.change.old_values["email"] == "old@example.com"
    bridged = next(e for _, e in entries.values() if e.message == "refund issued")
    assert (bridged.actor_id, bridged.severity, bridged.resource) == (
        "user-7",
        pb.SEVERITY_WARNING,
        "orders/42",
    )
    traced = {
        e.mcp.tool_name for _, e in entries.values() if e.event_type == pb.EVENT_TOOL_INVOCATION
    }
    assert {"lookup", "async_search", "database_query"} <= traced


def test_encrypted_content_is_erased_by_destroying_the_subject_key(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = new_topic(kafka_bootstrap, 1)
    producer = make(kafka_bootstrap, topic, tmp_path, store_content=True)
    event_id = producer.ai_interaction(
        "my SSN is 123-45-6789",
        "noted",
        provider="openai",
        model="m",
        conversation_id="conv-42",
        actor_id="svc",
    )
    assert producer.flush(60)
    producer.close()
    ((_, entry, _),) = consume(kafka_bootstrap, topic, 1)
    assert entry.event_id == event_id and b"123-45-6789" not in entry.SerializeToString()
    sealed_input = entry.content[0].encrypted
    assert producer.vault is not None
    assert producer.vault.decrypt(sealed_input, aad(event_id, "input")) == b"my SSN is 123-45-6789"
    wrong = ContentVault(tmp_path / "vault", Keyring([HmacKey("kek-1", bytes(32))], "kek-1"))
    with pytest.raises(ContentDecryptionError):
        wrong.decrypt(sealed_input, aad(event_id, "input"))
    assert producer.vault.destroy("conv-42")
    with pytest.raises(ContentUnavailableError):
        producer.vault.decrypt(sealed_input, aad(event_id, "input"))
    assert entry.content[0].digest  # the digest, and so the hash chain, is untouched


def test_kill_minus_nine_after_spooling_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = new_topic(kafka_bootstrap)
    spool = tmp_path / "spool"
    spool.mkdir()
    child = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "support" / "producer_crash_helper.py"),
            str(spool),
            topic,
            "2000",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "SPOOLED"
    child.kill()
    child.wait(30)
    ids = (spool / "ids.txt").read_text().split("\n")
    producer = AuditProducer(
        ProducerConfig(
            kafka=KafkaConnection(kafka_bootstrap), topic=topic, spool_dir=spool, tenant_id="acme"
        )
    )
    producer.start()
    assert producer.flush(120)
    stats = producer.stats()
    producer.close()
    assert stats["replayed"] == 2000 and stats["pending"] == 0
    records = consume(kafka_bootstrap, topic, 2000)
    events = [e for _, e, _ in records if e.event_type != pb.EVENT_PRODUCER_HEARTBEAT]
    assert {e.event_id for e in events} == set(ids) and len(ids) == 2000
    # Replayed with the numbers the killed process gave them, not the replayer's.
    (killed,) = {e.producer_id for e in events}
    assert killed != producer.producer_id
    assert sorted({e.producer_seq for e in events}) == list(range(1, 2001))


def test_a_twenty_second_broker_outage_loses_nothing_and_never_blocks(
    infra: Infra, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A service (its own process) logs 50,000 events while the broker is down for 20 s."""
    topic = new_topic(kafka_bootstrap)
    total, result = 50_000, tmp_path / "result.json"
    service = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "support" / "producer_outage_helper.py"),
         kafka_bootstrap, topic,
         str(tmp_path / "spool"), str(total), "1400", str(result)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert service.stdout is not None and service.stdout.readline().strip() == "STARTED"
        time.sleep(6)
        infra.restart_kafka(down_for=20)
        assert service.wait(600) == 0
    finally:
        if service.poll() is None:  # a failed restart must not leave the service running
            service.kill()
            service.wait()
    outcome = json.loads(result.read_text())
    assert outcome["raised"] == [] and outcome["flushed"], outcome["stats"]
    assert outcome["slowest_s"] < 0.050, (
        f"slowest call took {outcome['slowest_s'] * 1000:.1f} ms; calls over 10 ms "
        f"(s since start, took s, of it waiting for a CPU s): {outcome['slow_calls']}; "
        f"full garbage collections (s since start, took s): {outcome['full_collections']}"
    )
    records = consume(kafka_bootstrap, topic, total, timeout=300)
    first_seen: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    numbers: dict[str, set[int]] = defaultdict(set)
    for key, entry, _ in records:
        numbers[key.decode()].add(entry.producer_seq)
        if entry.event_type == pb.EVENT_PRODUCER_HEARTBEAT:
            continue
        if entry.event_id not in seen:
            seen.add(entry.event_id)
            first_seen[key.decode()].append(entry.event_id)
    assert len(seen) == total
    assert dict(first_seen) == outcome["ids"]  # per chain, in the order they were logged
    for chain, got in numbers.items():  # heartbeats included, no number skipped
        assert got == set(range(1, len(got) + 1)), chain
