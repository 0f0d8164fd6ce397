"""Per-subject protection end to end on real Kafka and ClickHouse: a worker started with
a subject vault seals personal fields only encrypted; no clear text of a subject is in
the sealed topic or in any ClickHouse column, body bytes included; the chain verifies;
a subject's events are found by the blind digests ClickHouse keeps; the vault opens the
fields again, and after a subject's key is destroyed it opens everyone's but that
subject's (decision 0021)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.core.body import decode_body
from auditstream.privacy.protect import ProtectionError, SubjectProtection
from auditstream.privacy.vault import LocalKek, SubjectVault
from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import SealedEntry
from auditstream.settings import keyfiles
from tests.support.infra import Infra, unique
from tests.support.pipeline import Worker, create_pipeline, read_topic, sink_into_clickhouse

pytestmark = pytest.mark.integration
ALICE = "alice.liddell@example.com"
BOB = "bobby.tables@example.org"
EVENTS = 30  # alice's and bob's logins, alternating, and one event of both


def test_personal_fields_are_sealed_encrypted_and_erased_with_their_subjects_key(
    kafka_bootstrap: str,
    infra: Infra,
    clickhouse: Any,
    ch_database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    keks, vault_dir = tmp_path / "keks.json", tmp_path / "vault"
    keyfiles.write_new_keyring(keks, "kek-1")
    worker = Worker(
        kafka_bootstrap,
        keys,
        topics,
        tmp_path,
        "w",
        unique("proc"),
        extra=("--subject-vault", str(vault_dir), "--subject-keks", str(keks)),
    )
    try:
        worker.wait_ready()
        producer = AuditProducer(
            ProducerConfig(
                KafkaConnection(kafka_bootstrap),
                topic=topics.raw,
                spool_dir=tmp_path / "spool",
                tenant_id="acme",
                heartbeat_interval_s=0,
            )
        )
        with producer:
            for number in range(EVENTS - 1):
                who = ALICE if number % 2 else BOB
                producer.login(who, resource="auth/login", message=f"{who} signed in, #{number}")
            producer.emit(
                pb.LogEntry(
                    event_type=pb.EVENT_DATA_EXPORT,
                    actor_id=BOB,
                    subject_ids=[BOB, ALICE],
                    message=f"{BOB} exported the records of {ALICE}",
                )
            )
            assert producer.flush(60), producer.stats()
        values = read_topic(kafka_bootstrap, f"{topics.prefix}.sealed", EVENTS, quiet=2)
        time.sleep(4)  # a time-based checkpoint (3 s) covers them all
    finally:
        worker.stop()
    assert not worker.errors(), worker.errors()

    assert len(values) == EVENTS
    for value in values:
        assert b"alice.liddell" not in value and b"bobby.tables" not in value  # type: ignore[operator]
    bodies = [decode_body(SealedEntry.FromString(v).body) for v in values]
    assert all(body.HasField("protected") for body in bodies)
    guard = SubjectProtection(SubjectVault(vault_dir, LocalKek(keyfiles.load_keyring(keks))))
    opened = [guard.open(body) for body in bodies]
    assert sorted(e.actor_id for e in opened).count(ALICE) == (EVENTS - 1) // 2
    (both,) = [e for e in opened if e.event_type == pb.EVENT_DATA_EXPORT]
    assert both.message == f"{BOB} exported the records of {ALICE}"

    sink_into_clickhouse(clickhouse, kafka_bootstrap, topics, ch_database, EVENTS)
    rows = clickhouse.query(f"SELECT * FROM {ch_database}.audit_events").result_rows
    assert len(rows) == EVENTS
    for row in rows:
        for column in row:
            text = column if isinstance(column, bytes) else str(column).encode()
            assert b"alice.liddell" not in text and b"bobby.tables" not in text

    # Found by blind index: alice's logins by actor digest, and the shared event too by
    # subject digest.
    table = f"{ch_database}.audit_events"
    actor = guard.digest("acme", "actor_id", ALICE).hex()
    subject = guard.subject_ref("acme", ALICE)
    by_actor = clickhouse.query(f"SELECT count() FROM {table} WHERE actor_digest = '{actor}'")
    by_subject = clickhouse.query(
        f"SELECT count() FROM {table} WHERE has(subject_digests, '{subject}')"
    )
    assert by_actor.result_rows == [((EVENTS - 1) // 2,)]
    assert by_subject.result_rows == [((EVENTS - 1) // 2 + 1,)]

    public = tmp_path / "checkpoint.pub"
    public.write_text(keyfiles.load_signer(keys.signer).verifier.encode() + "\n")
    verify = ["verify", "--clickhouse", infra.clickhouse_dsn(), "--database", ch_database]
    verify += ["--pubkey", str(public), "--keys", str(keys.hmac)]
    capsys.readouterr()
    assert main(verify) == 0, capsys.readouterr().out
    assert "INTACT" in capsys.readouterr().out

    # Erasure by key destruction: alice's fields are gone, bob's alone still open.
    vault = SubjectVault(vault_dir, LocalKek(keyfiles.load_keyring(keks)))
    assert vault.destroy(guard.subject_ref("acme", ALICE))
    reader = SubjectProtection(vault)
    erased = bobs = 0
    for body in bodies:
        try:
            entry = reader.open(body)
        except ProtectionError as exc:
            assert "destroyed on request" in str(exc)
            erased += 1
        else:
            assert entry.actor_id == BOB and ALICE not in entry.message
            bobs += 1
    assert (erased, bobs) == ((EVENTS - 1) // 2 + 1, (EVENTS - 1) - (EVENTS - 1) // 2)
    assert main(verify) == 0  # nothing hashed has changed
