"""Erasure on request end to end on real Kafka, ClickHouse and MinIO (decision 0022).

A worker seals alice's and bob's events under their subject keys; both sinks run; the
ClickHouse sink keeps clear copies for live subjects. `auditstream erase` refuses a
subject it does not know and one under legal hold, then erases alice: afterwards her
plaintext is in no ClickHouse table, no archive object (decompressed) and no topic the
pipeline writes; bob's copies are untouched; the receipt verifies offline; `verify`
stays INTACT and counts the erased entries. A second run is a no-op. Then `erase` is
killed (-9) after each of its steps in turn, and each rerun goes on from there.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zstandard
from confluent_kafka.admin import AdminClient

from auditstream.archive.store import S3Archive
from auditstream.cli import main
from auditstream.clickhouse import migrations
from auditstream.clickhouse.personal import PersonalCopies
from auditstream.privacy.protect import SubjectProtection
from auditstream.privacy.vault import LocalKek, SubjectVault
from auditstream.producers import AuditProducer, KafkaConnection, ProducerConfig
from auditstream.query.store import AuditQuery, AuditStore
from auditstream.settings import keyfiles
from auditstream.settings.config import S3Settings
from auditstream.settings.resources import default_policy_file, schemas_dir
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support import console_kit
from tests.support.infra import Infra, s3_env, unique
from tests.support.pipeline import REPO, Keys, Topics, Worker, create_pipeline, read_topic

pytestmark = pytest.mark.integration
ALICE = "alice.liddell@example.com"
BOB = "bobby.tables@example.org"
CAROL = "carol.held@example.net"
HOLD = '\n[[rules]]\nname = "litigation-held-2026"\ntenants = ["held"]\nclass = "critical"\n'
HOLD += "legal_hold = true\n"
LOGINS = 20  # alice's and bob's, alternating
LOCK = threading.Lock()  # the sink's and the query store's use of the one chdb client


@contextmanager
def sinks(
    clickhouse: Any, bootstrap: str, topics: Topics, database: str, guard: SubjectProtection,
    archive: S3Archive,
) -> Iterator[tuple[ClickHouseSink, ArchiveSink]]:  # fmt: skip
    """Both sinks on the sealed topic, in threads, the ClickHouse one with clear copies."""
    settings = topics.settings()
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(database))
    store = ClickHouseSink(
        clickhouse,
        SinkConfig(KafkaConnection(bootstrap), settings, database, group_id=unique("ch")),
        lock=LOCK,
        personal=PersonalCopies(guard),
    )
    config = ArchiveConfig(
        KafkaConnection(bootstrap), settings, group_id=unique("ar"), max_entries=50, max_age_s=1
    )
    archived = ArchiveSink(archive, config)
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in (store, archived)]
    for thread in threads:
        thread.start()
    try:
        yield store, archived
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


def settle(count: Callable[[], int], expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while count() < expected:
        assert time.monotonic() < deadline, f"{count()} of {expected}"
        time.sleep(0.2)


def plaintext_in_clickhouse(client: Any, database: str, needle: bytes) -> list[str]:
    found = []
    tables = client.query(f"SHOW TABLES FROM {database}").result_rows
    for (table,) in tables:
        result = client.query(
            f"SELECT * FROM {database}.{table}", column_formats={"body": "bytes", "value": "bytes"}
        )
        for row in result.result_rows:
            for column, value in zip(result.column_names, row, strict=True):
                raw = value if isinstance(value, bytes) else str(value).encode()
                if needle in raw:
                    found.append(f"{table}.{column}")
    return found


def plaintext_in_topics(bootstrap: str, topics: Topics, needle: bytes) -> list[str]:
    """Every topic of the pipeline but the raw one (written by producers, not by the
    pipeline; its retention is the deployment's: docs/compliance.md)."""
    names = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    found = []
    for name in sorted(n for n in names if n.startswith(topics.prefix) and n != topics.raw):
        for value in read_topic(bootstrap, name, 0, quiet=2):
            if needle in (value or b""):
                found.append(name)
    return found


def plaintext_in_archive(archive: S3Archive, needle: bytes) -> list[str]:
    found = []
    objects = list(archive.list(""))
    assert any("segment" in key for key in objects), objects
    for key in objects:
        data = archive.get(key) or b""
        if data[:4] == b"\x28\xb5\x2f\xfd":  # zstd frame
            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        if needle in data:
            found.append(key)
    return found


def console_and_api(clickhouse: Any, database: str, folder: Path, digest: str) -> list[bytes]:
    """What an operator sees of tenant acme in the console (the search page, all of it)
    and through the API (everything of the subject with this digest)."""
    folder.mkdir()
    with console_kit.serving(clickhouse, database, folder, lock=LOCK) as served:
        port = int(served.url.rsplit(":", 1)[1])

        def request(method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=served.context())
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.getheader("set-cookie") or "", response.read()
            finally:
                conn.close()

        form = {"Content-Type": "application/x-www-form-urlencoded"}
        token = served.tokens.everyone
        status, cookie, _ = request("POST", "/signin", f"token={token}".encode(), form)
        assert status == 303, status
        session = {"Cookie": cookie.split(";", 1)[0]}
        status, _, page = request("GET", "/search?tenant=acme&preset=all&limit=500", b"", session)
        assert status == 200 and b"bobby.tables" in page  # live subjects' fields are shown
        body = json.dumps({"tenant": "acme", "subject_digest": digest}).encode()
        api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, _, answer = request("POST", "/v1/search", body, api)
        assert status == 200 and len(json.loads(answer)["rows"]) == 10, answer
        return [page, answer]


def erase_args(
    infra: Infra, database: str, keys: Keys, vault: Path, keks: Path, policy: Path
) -> list[str]:
    return [
        "erase", "--clickhouse", infra.clickhouse_dsn(), "--database", database,
        "--checkpoint-key", str(keys.signer), "--policy", str(policy),
        "--subject-vault", str(vault), "--subject-keks", str(keks), "--wait", "90",
        "--reason", "Art. 17 request #2026-88", "--requested-by", "dpo@example.com",
    ]  # fmt: skip


def test_a_subject_is_erased_everywhere_with_a_receipt_and_the_chain_still_verifies(
    kafka_bootstrap: str,
    infra: Infra,
    clickhouse: Any,
    ch_database: str,
    s3_settings: S3Settings,
    lock_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    keks, vault_dir, policy = tmp_path / "keks.json", tmp_path / "vault", tmp_path / "policy.toml"
    keyfiles.write_new_keyring(keks, "kek-1")
    policy.write_text(default_policy_file().read_text() + HOLD)
    guard = SubjectProtection(SubjectVault(vault_dir, LocalKek(keyfiles.load_keyring(keks))))
    monkeypatch.setenv("AUDITSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    for name, value in topics.env().items():
        monkeypatch.setenv(name, value)
    archive = S3Archive(lock_bucket, "audit", s3_settings)
    extra = (
        "--subject-vault",
        str(vault_dir),
        "--subject-keks",
        str(keks),
        "--policy",
        str(policy),
    )
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"), extra=extra)
    args = erase_args(infra, ch_database, keys, vault_dir, keks, policy)
    try:
        worker.wait_ready()
        with sinks(clickhouse, kafka_bootstrap, topics, ch_database, guard, archive) as (
            store,
            archived,
        ):
            for tenant, people in (("acme", (ALICE, BOB)), ("held", (CAROL,))):
                config = ProducerConfig(
                    KafkaConnection(kafka_bootstrap),
                    topic=topics.raw,
                    spool_dir=tmp_path / f"spool-{tenant}",
                    tenant_id=tenant,
                    heartbeat_interval_s=0,
                )
                with AuditProducer(config) as producer:
                    for n in range(LOGINS if tenant == "acme" else 2):
                        who = people[n % len(people)]
                        producer.login(who, resource="auth/login", message=f"{who} signed in #{n}")
                    assert producer.flush(60), producer.stats()
            settle(lambda: store.rows_inserted, LOGINS + 2)
            table = f"{ch_database}.audit_personal"
            live = clickhouse.query(f"SELECT actor_id, count() FROM {table} GROUP BY actor_id")
            assert sorted(live.result_rows) == [(ALICE, 10), (BOB, 10), (CAROL, 2)]
            # The query API shows a live subject's fields, and finds its events by them.
            queries = AuditStore(clickhouse, ch_database, lock=LOCK)
            alices = queries.query(AuditQuery(tenant="acme", actor=ALICE)).rows
            assert len(alices) == 10 and all(f"{ALICE} signed in" in r["message"] for r in alices)
            timeline = queries.named("actor_timeline", {"actor": ALICE}, tenant="acme")
            assert len(timeline) == 10 and {r["actor_id"] for r in timeline} == {ALICE}

            capsys.readouterr()
            assert main([*args, "--tenant", "acme", "--subject", "nobody@example.com"]) == 2
            assert "has no live key for this subject" in capsys.readouterr().err
            assert main([*args, "--tenant", "held", "--subject", CAROL]) == 2
            refused = capsys.readouterr().err
            assert "legal hold (rule 'litigation-held-2026'" in refused and CAROL not in refused
            receipt = tmp_path / "receipt.json"
            done = [*args, "--tenant", "acme", "--subject", ALICE, "--receipt-out", str(receipt)]
            assert main(done) == 0, capsys.readouterr()
            out = capsys.readouterr().out
            assert "10 stored entries" in out and ALICE not in out
            assert main(done) == 0
            assert "was erased already" in capsys.readouterr().out
            settle(lambda: archived.entries_archived, LOGINS + 3)
            time.sleep(2)  # the archive's checkpoint objects
    finally:
        worker.stop()
    assert not worker.errors(), worker.errors()

    live = clickhouse.query(f"SELECT actor_id, count() FROM {table} GROUP BY actor_id")
    assert sorted(live.result_rows) == [(BOB, 10), (CAROL, 2)]
    needle = b"alice.liddell"
    # The query API: nothing of alice by her name, her events still found by digest.
    assert queries.query(AuditQuery(tenant="acme", actor=ALICE)).rows == []
    assert queries.query(AuditQuery(tenant="acme", text="alice")).rows == []
    digest = guard.subject_ref("acme", ALICE)
    erased = queries.query(AuditQuery(tenant="acme", subject_digest=digest)).rows
    assert len(erased) == 10 and needle not in repr(erased).encode()
    assert len(queries.query(AuditQuery(tenant="acme", actor=BOB)).rows) == 10
    assert queries.named("actor_timeline", {"actor": ALICE}, tenant="acme") == []
    (erasure,) = queries.named("erasures", tenant="acme")
    assert (erasure["subject_digest"], erasure["entries"]) == (guard.subject_ref("acme", ALICE), 10)
    assert erasure["requested_by"] == "dpo@example.com"
    for seen in console_and_api(clickhouse, ch_database, tmp_path / "web", digest):
        assert needle not in seen
    assert len(queries.named("actor_timeline", {"actor": BOB}, tenant="acme")) == 10
    assert plaintext_in_clickhouse(clickhouse, ch_database, needle) == []
    assert plaintext_in_clickhouse(clickhouse, ch_database, b"bobby.tables")  # bob's stay
    assert plaintext_in_archive(archive, needle) == []
    assert plaintext_in_topics(kafka_bootstrap, topics, needle) == []
    for path in vault_dir.rglob("*"):
        assert path.is_dir() or needle not in path.read_bytes(), path

    public = tmp_path / "checkpoint.pub"
    public.write_text(keyfiles.load_signer(keys.signer).verifier.encode() + "\n")
    capsys.readouterr()
    assert main(["verify-receipt", str(receipt), "--public-keys", str(public)]) == 0
    assert capsys.readouterr().out.startswith("VALID: subject ")
    verify = ["verify", "--clickhouse", infra.clickhouse_dsn(), "--database", ch_database]
    verify += ["--pubkey", str(public), "--keys", str(keys.hmac)]
    assert main(verify) == 0
    report = capsys.readouterr().out
    assert "INTACT" in report, report
    assert "ERASED   10 entries erased on request" in report, report
    capsys.readouterr()
    archive_url = f"s3://{lock_bucket}/audit"
    for name, value in s3_env(s3_settings).items():
        monkeypatch.setenv(name, value)
    assert main(["verify", "--archive", archive_url, "--pubkey", str(public)]) == 0, (
        capsys.readouterr().out
    )
    assert "ERASED   10 entries erased on request" in capsys.readouterr().out


STEPS = ("checked", "destroyed", "cleared", "sent")


def test_erase_killed_after_each_step_is_finished_by_running_it_again(
    kafka_bootstrap: str,
    infra: Infra,
    clickhouse: Any,
    ch_database: str,
    s3_settings: S3Settings,
    lock_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each killed run is a separate process. chdb lets one process open a store, and
    this one holds the test's: the killed runs use a second, empty store of their own
    (what they read there is nothing; the kill is what is tested). The last run, in
    this process, finishes against the real store."""
    topics, keys = create_pipeline(kafka_bootstrap, 1, tmp_path)
    keks, vault_dir, policy = tmp_path / "keks.json", tmp_path / "vault", tmp_path / "policy.toml"
    keyfiles.write_new_keyring(keks, "kek-1")
    policy.write_text(default_policy_file().read_text())
    vault = SubjectVault(vault_dir, LocalKek(keyfiles.load_keyring(keks)))
    guard = SubjectProtection(vault)
    ref = guard.subject_ref("acme", ALICE)
    monkeypatch.setenv("AUDITSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    for name, value in topics.env().items():
        monkeypatch.setenv(name, value)
    extra = ("--subject-vault", str(vault_dir), "--subject-keks", str(keks))
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"), extra=extra)
    archive = S3Archive(lock_bucket, "audit", s3_settings)
    other = f"chdb://{tmp_path / 'other-store'}"
    migrate = [sys.executable, "-m", "auditstream", "migrate", "--clickhouse", other]
    subprocess.run([*migrate, "--database", ch_database], cwd=REPO, check=True, timeout=120)
    args = erase_args(infra, ch_database, keys, vault_dir, keks, policy)
    args += ["--tenant", "acme", "--subject", ALICE]
    try:
        worker.wait_ready()
        with sinks(clickhouse, kafka_bootstrap, topics, ch_database, guard, archive) as (store, _):
            config = ProducerConfig(
                KafkaConnection(kafka_bootstrap),
                topic=topics.raw,
                spool_dir=tmp_path / "spool",
                tenant_id="acme",
                heartbeat_interval_s=0,
            )
            with AuditProducer(config) as producer:
                for n in range(4):
                    producer.login(ALICE, message=f"{ALICE} signed in #{n}")
                assert producer.flush(60)
            settle(lambda: store.rows_inserted, 4)
            # The killed runs read the subject from standard input (kept out of argv).
            killed = [{infra.clickhouse_dsn(): other, ALICE: "-"}.get(a, a) for a in args]
            for step in STEPS:
                env = dict(os.environ, AUDITSTREAM_FAILPOINTS=f"erase.after_{step}")
                run = subprocess.run(
                    [sys.executable, "-m", "auditstream", *killed],
                    env=env, cwd=REPO, input=f"{ALICE}\n", capture_output=True, text=True,
                    timeout=180, check=False,
                )  # fmt: skip
                assert run.returncode == 137, run.stderr
                (journal,) = (vault_dir / "erasures").glob(f"{ref}-*.json")
                assert f'"state": "{step}"' in journal.read_text()
                # Never half: before the key is destroyed nothing changed; after, it is gone.
                assert vault.exists(ref) == (step == "checked")
            capsys.readouterr()
            assert main(args) == 0, capsys.readouterr()
            # Counted at the first step, in the killed runs' own (empty) store.
            assert "0 stored entries" in capsys.readouterr().out
    finally:
        worker.stop()
    assert not worker.errors(), worker.errors()
    sealed = clickhouse.query(
        f"SELECT count() FROM {ch_database}.audit_events WHERE event_type = 'EVENT_SUBJECT_ERASED'"
    )
    assert sealed.result_rows == [(1,)]
    personal = clickhouse.query(f"SELECT count() FROM {ch_database}.audit_personal")
    assert personal.result_rows == [(0,)]
    (receipt,) = (vault_dir / "erasures").glob("*.receipt.json")
    public = tmp_path / "checkpoint.pub"
    public.write_text(keyfiles.load_signer(keys.signer).verifier.encode() + "\n")
    assert main(["verify-receipt", str(receipt), "--public-keys", str(public)]) == 0
