"""Producer pieces without Kafka: spool, validation, content vault, event building."""

from __future__ import annotations

import gc
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from auditstream.core.keys import HmacKey, Keyring
from auditstream.producers import AuditProducer, ProducerConfig, events, validation
from auditstream.producers.spool import Spool, SpoolError, SpoolFullError
from auditstream.producers.transport import InFlight
from auditstream.producers.vault import (
    ContentDecryptionError,
    ContentUnavailableError,
    ContentVault,
    aad,
)
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings.connection import KafkaConnection

HDRS = (("h", b"v"),)


def test_spool_round_trip_ack_and_reopen(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, segment_bytes=400)
    seqs = [
        spool.append("t", f"k{i}".encode() if i % 2 else None, b"x" * i, HDRS) for i in range(40)
    ]
    assert seqs == list(range(40))
    records = list(spool.pending())
    assert [r.seq for r in records] == seqs
    assert records[3].key == b"k3" and records[4].key is None and records[5].value == b"x" * 5
    assert records[0].headers == HDRS and records[0].topic == "t"
    segments_before = len(list(tmp_path.glob("*.seg")))
    spool.acknowledge(25)
    assert len(list(tmp_path.glob("*.seg"))) < segments_before
    spool.close()
    reopened = Spool.open(tmp_path, segment_bytes=400)
    assert (reopened.acked_below, reopened.next_seq) == (25, 40)
    assert [r.seq for r in reopened.pending()] == list(range(25, 40))
    assert reopened.append("t", None, b"after", ()) == 40


def test_a_torn_tail_is_cut_off_and_corruption_in_the_middle_raises(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, segment_bytes=4096)
    for i in range(5):
        spool.append("t", None, f"v{i}".encode(), ())
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    used = len(data.rstrip(b"\0"))
    data[used : used + 20] = data[:20]  # a copy cut short by a crash: half a record
    segment.write_bytes(bytes(data))
    again = Spool.open(tmp_path, segment_bytes=4096)
    assert again.next_seq == 5 and [r.value for r in again.pending()][-1] == b"v4"
    assert again.append("t", None, b"v5", ()) == 5
    again.close()
    data = bytearray(segment.read_bytes())
    data[30] ^= 0xFF  # flip a byte of the second record
    segment.write_bytes(bytes(data))
    with pytest.raises(SpoolError, match="corrupt"):
        list(Spool.open(tmp_path).pending())


def test_in_flight_hands_back_each_copy_of_a_value_once_oldest_first() -> None:
    flight = InFlight()
    flight.add(b"a", 1)
    flight.add(b"b", 2)
    flight.add(b"a", 3)  # the same record queued again (a replay)
    flight.add(b"a", 4)
    flight.discard(b"a", 4)  # librdkafka refused that copy
    assert flight.take(b"b") == 2 and flight.take(b"b") is None
    assert [flight.take(b"a"), flight.take(b"a"), flight.take(b"a")] == [1, 3, None]
    flight.add(b"c", 5)
    gc.collect()
    assert not gc.is_tracked(flight._seqs)  # bytes to ints: nothing for the collector


def test_records_queued_for_an_unreachable_broker_add_nothing_for_the_collector(
    tmp_path: Path,
) -> None:
    """A broker outage queues every record; none may leave an object behind for each
    full garbage collection of the host process to walk."""
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path, client_settings={"log_level": "0"}
    )
    with AuditProducer(config) as producer:
        producer.login("user-0", resource="auth/login")  # the first imports OpenTelemetry
        gc.collect()
        before = len(gc.get_objects())
        for n in range(5000):
            producer.login(f"user-{n}", resource="auth/login")
        gc.collect()
        assert producer.stats()["sent"] == 5001
        assert len(gc.get_objects()) - before < 100
        producer.close(timeout=0)


def test_spool_cap(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, max_bytes=200)
    spool.append("t", None, b"x" * 100, ())
    with pytest.raises(SpoolFullError):
        spool.append("t", None, b"x" * 100, ())


def test_uuid7_is_time_ordered_version_7() -> None:
    ids = [events.uuid7(1_767_225_600_000_000_000 + i * 1_000_000) for i in range(50)]
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(parsed.hex[:12], 16) == 1_767_225_600_000


def test_build_entry_accepts_names_and_refuses_unknown_fields() -> None:
    entry = events.build_entry(
        "LOGIN", actor_id="u1", outcome="FAILURE_DENIED", clock=lambda: 5 * 10**9, payload={"a": 1}
    )
    assert (entry.event_type, entry.outcome) == (pb.EVENT_LOGIN, pb.OUTCOME_FAILURE_DENIED)
    assert entry.payload == b'{"a":1}' and entry.event_time.seconds == 5 and entry.event_id
    with pytest.raises(TypeError, match="colour"):
        events.build_entry(pb.EVENT_LOGIN, actor_id="u", colour="red")


def test_strict_validation_names_the_field() -> None:
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u", payload=b"{oops")
    with pytest.raises(validation.AuditValidationError) as caught:
        validation.check(entry, "acme", validation.EventLimits(), strict=True)
    assert caught.value.field == "payload"


def test_tolerant_validation_repairs_and_marks() -> None:
    entry = pb.LogEntry(event_type=99, actor_id="", payload=b"{oops", message="m" * 2000)  # type: ignore[arg-type]
    issues = validation.check(
        entry, "acme", validation.EventLimits(max_event_bytes=500), strict=False
    )
    assert entry.event_type == 0 and entry.payload_content_type == "application/octet-stream"
    assert {i.split(":")[0] for i in issues} == {"event_type", "actor_id", "payload", "size"}
    assert entry.ByteSize() <= 700 and entry.validation_issues[: len(issues)] == issues


def test_vault_encrypts_and_shreds(tmp_path: Path) -> None:
    keks = Keyring([HmacKey("kek-1", bytes(range(32)))], "kek-1")
    vault = ContentVault(tmp_path, keks)
    sealed = vault.encrypt("conversation-9", b"my card is on file", aad("evt-1", "input"))
    assert b"card" not in sealed.ciphertext
    assert vault.decrypt(sealed, aad("evt-1", "input")) == b"my card is on file"
    with pytest.raises(ContentDecryptionError):
        vault.decrypt(sealed, aad("evt-2", "input"))  # moved to another event
    stranger = ContentVault(tmp_path, Keyring([HmacKey("kek-1", bytes(32))], "kek-1"))
    with pytest.raises(ContentDecryptionError):
        stranger.decrypt(sealed, aad("evt-1", "input"))  # wrong key-encryption key
    other = vault.encrypt("conversation-10", b"other", aad("evt-3", "input"))
    assert vault.destroy("conversation-9") and not vault.destroy("conversation-9")
    with pytest.raises(ContentUnavailableError):
        vault.decrypt(sealed, aad("evt-1", "input"))
    with pytest.raises(ContentUnavailableError):
        ContentVault(tmp_path, keks).decrypt(sealed, aad("evt-1", "input"))
    assert vault.decrypt(other, aad("evt-3", "input")) == b"other"
    assert not list(tmp_path.glob("*conversation*"))  # subject names are not stored


def spooled_entries(spool_dir: Path) -> list[pb.LogEntry]:
    """The events a test emitted (the producer's own heartbeats left out)."""
    entries = [pb.LogEntry.FromString(r.value) for r in Spool.open(spool_dir).pending(0)]
    return [e for e in entries if e.event_type != pb.EVENT_PRODUCER_HEARTBEAT]


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.login(123),
        lambda p: p.login("user-1", resource=5),
        lambda p: p.log(["not", "a", "type"], "user-1"),
        lambda p: p.ai_interaction("prompt", "answer", input_tokens="many"),
        lambda p: p.record_change("update", "admin-1", "customer", "c-1", old_values=7),
        lambda p: p.data_export("user-1", policy_tags=5),
        lambda p: p.login("user-1", chain_id=5),
        lambda p: p.log("LOGIN", "user-1", chain_id=["a"]),
    ],
)
def test_tolerant_helpers_record_bad_arguments_with_a_marker(tmp_path: Path, call: Any) -> None:
    """Wrong argument types never raise into the caller: the event is recorded with what
    is certain, marked, and counted as invalid."""
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path, client_settings={"log_level": "0"}
    )
    producer = AuditProducer(config)
    event_id = call(producer)
    assert event_id
    assert producer.stats()["invalid"] == 1
    producer.close(timeout=0)
    (entry,) = spooled_entries(tmp_path)
    assert entry.event_id == event_id
    assert entry.validation_issues  # the marker says what was wrong


def test_strict_helpers_raise_on_bad_arguments(tmp_path: Path) -> None:
    config = ProducerConfig(kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path, strict=True)
    with pytest.raises(TypeError):
        AuditProducer(config).login(123)  # type: ignore[arg-type]


def test_a_tool_call_block_keeps_the_callers_exception_when_its_arguments_are_bad(
    tmp_path: Path,
) -> None:
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path, client_settings={"log_level": "0"}
    )
    producer = AuditProducer(config)
    with pytest.raises(KeyError), producer.tool_call("agent-1", "lookup", arguments=[1]):  # type: ignore[arg-type]
        raise KeyError("the caller's own error")
    producer.close(timeout=0)
    (entry,) = spooled_entries(tmp_path)
    assert entry.event_type == pb.EVENT_TOOL_INVOCATION
    assert entry.validation_issues


def test_close_with_the_broker_down_is_bounded_and_keeps_the_event(tmp_path: Path) -> None:
    """Everything unacknowledged is in the spool already, so close does not wait long."""
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"),
        spool_dir=tmp_path,
        close_timeout_s=0.5,
        client_settings={"log_level": "0"},
    )
    producer = AuditProducer(config)
    event_id = producer.login("user-1")
    started = time.monotonic()
    producer.close()
    assert time.monotonic() - started < 10  # 30 s before close took its timeout from config
    assert [e.event_id for e in spooled_entries(tmp_path)] == [event_id]
    assert ProducerConfig(kafka=KafkaConnection("x")).close_timeout_s <= 5


def test_overflow_raise_raises_spool_full_even_when_tolerant(tmp_path: Path) -> None:
    config = ProducerConfig(
        kafka=KafkaConnection("127.0.0.1:9"),
        spool_dir=tmp_path,
        max_spool_bytes=300,
        overflow="raise",
        client_settings={"log_level": "0"},
    )
    producer = AuditProducer(config)
    with pytest.raises(SpoolFullError):
        for n in range(10):
            producer.login(f"user-{n}")
    assert producer.stats()["dropped"] == 1
    producer.close(timeout=0)


def test_config_takes_a_spool_dir_as_a_string_and_refuses_other_types(tmp_path: Path) -> None:
    config = ProducerConfig(kafka=KafkaConnection("x"), spool_dir=str(tmp_path / "spool"))  # type: ignore[arg-type]
    assert config.spool_dir == tmp_path / "spool"
    with pytest.raises(TypeError, match="spool_dir"):
        ProducerConfig(kafka=KafkaConnection("x"), spool_dir=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fsync"):
        ProducerConfig(kafka=KafkaConnection("x"), fsync="sometimes")  # type: ignore[arg-type]


def test_librdkafka_logs_go_through_logging_not_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Without a logger, librdkafka prints `%3|...|FAIL|rdkafka#producer-1| ...` lines
    straight to stderr, between whatever the host program prints."""
    config = ProducerConfig(kafka=KafkaConnection("127.0.0.1:9"), spool_dir=tmp_path)
    producer = AuditProducer(config)
    with caplog.at_level(logging.DEBUG, logger="librdkafka"):
        producer.login("user-1")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not caplog.records:
            time.sleep(0.2)  # the poll thread hands log lines over
        producer.close(timeout=0)
    assert caplog.records, "librdkafka reported nothing about the refused connection"
    assert "|rdkafka#" not in capfd.readouterr().err
