"""No secret is ever sealed: corpus credentials in every text-bearing field go through the
real producer, Kafka, `auditstream worker`, the ClickHouse sink (chdb) and the archive
sink (MinIO), and are found in none of what the pipeline stores or logs. A malformed
record carrying secrets is dead-lettered masked, and the operator decrypts it with
`auditstream deadletter show --key`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from auditstream.archive.store import S3Archive
from auditstream.cli import main
from auditstream.clickhouse import migrations
from auditstream.core.body import decode_body
from auditstream.core.deadletter import build_dead_letter
from auditstream.core.detectors import default_scanner
from auditstream.core.validate import RawRecord, Rejected
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings import keyfiles
from auditstream.settings.config import S3Settings
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.settings.secret import Secret
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import s3_env, unique
from tests.support.pipeline import REPO, Worker, create_pipeline, produce, read_topic
from tests.support.secrets_corpus import POSITIVE, fill_every_text_field

pytestmark = pytest.mark.integration
# Short corpus values ("abc") occur in any large binary by chance; the search below
# looks for the long ones, which cannot.
LONG = [s for s in POSITIVE if len(s.secret) >= 10]
NAMED_VALUE = "Zq7-named-value-9XkP"  # under secret-named keys in data and payload


def needles() -> list[bytes]:
    found = {s.secret.encode() for s in LONG} | {NAMED_VALUE.encode()}
    found |= {
        "".join(c for c in s.secret if c.isdigit()).encode() for s in LONG if s.family == "card"
    }
    for item in LONG:  # a secret kept in JSON is escaped: `\n` in a PEM body
        found.add(json.dumps(item.secret)[1:-1].encode())
    return sorted(found)


def leaks(blob: bytes, where: str) -> list[str]:
    return [f"{where}: {n[:24]!r}" for n in needles() if n in blob]


def settle(count: Any, target: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() > deadline:
            pytest.fail(f"only {count()} of {target} arrived", pytrace=False)
        time.sleep(0.3)


def malformed_records() -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    card = next(s for s in LONG if s.family == "card")
    key = next(s for s in LONG if s.family == "aws")
    bad_enum = pb.LogEntry(actor_id="u1", message=f"paid {card.text} with {key.text}")
    bad_enum.event_type = 999  # type: ignore[assignment]
    bad_json = pb.LogEntry(
        event_type=pb.EVENT_LOGIN, actor_id="u1", payload=f'{{"password": "{NAMED_VALUE}"'.encode()
    )
    return [
        (
            b"acme",
            bad_enum.SerializeToString(),
            [("authorization", f"Bearer {NAMED_VALUE}x".encode())],
        ),
        (b"acme", bad_json.SerializeToString(), []),
        (b"acme", b"\x08\xff not protobuf " + key.secret.encode(), []),
    ]


def test_no_secret_is_stored_or_logged_anywhere(
    kafka_bootstrap: str,
    s3_settings: S3Settings,
    clickhouse: Any,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"))
    producer = AuditProducer(
        ProducerConfig(
            KafkaConnection(kafka_bootstrap),
            topic=topics.raw,
            spool_dir=tmp_path / "spool",
            tenant_id="acme",
        )
    )
    sent = 0
    try:
        worker.wait_ready()
        with producer:
            for item in LONG:
                entry = pb.LogEntry(event_type=pb.EVENT_CONFIG_CHANGE, actor_id="u1")
                fill_every_text_field(entry, item.text)
                entry.tenant_id = "acme"
                entry.payload = json.dumps(
                    {"note": item.text, "db": {"password": NAMED_VALUE}, "list": [[item.text]]}
                ).encode()
                entry.data.update({"client_secret": NAMED_VALUE, "deep": {"x": [item.text]}})
                producer.emit(entry)
                sent += 1
            assert producer.flush(60)
        bad = malformed_records()
        produce(kafka_bootstrap, topics.raw, bad)
        # + the heartbeat with which the producer says it stops
        sealed_values = read_topic(kafka_bootstrap, f"{topics.prefix}.sealed", sent + 1, quiet=3)
        letters = read_topic(kafka_bootstrap, f"{topics.prefix}.deadletter", len(bad), quiet=3)
        time.sleep(4)  # the time-based checkpoint (3 s)
        others = {
            name: read_topic(kafka_bootstrap, f"{topics.prefix}.{name}", 1, timeout=30, quiet=2)
            for name in ("checkpoints", "state")
        }
    finally:
        worker.stop()
    assert len(sealed_values) == sent + 1 and len(letters) == len(bad)
    problems = leaks(b"\n".join(sealed_values), "sealed")  # type: ignore[arg-type]
    problems += leaks(b"\n".join(letters), "deadletter")  # type: ignore[arg-type]
    # State snapshots are flushed every 60 s (#23): a run this short may have none.
    assert others["checkpoints"], "checkpoints"
    for name, values in others.items():
        problems += leaks(b"\n".join(values), name)  # type: ignore[arg-type]
    problems += leaks(worker.log.read_bytes(), "worker log")
    bodies = [decode_body(sealed.SealedEntry.FromString(v).body) for v in sealed_values]  # type: ignore[arg-type]
    problems += leaks("\n".join(str(b) for b in bodies).encode(), "decoded bodies")

    problems += stored_leaks(
        kafka_bootstrap,
        topics,
        s3_settings,
        clickhouse,
        ch_database,
        len(sealed_values),
        monkeypatch,
    )
    assert not problems, problems
    events = [b for b in bodies if b.entry.event_type != pb.EVENT_PRODUCER_HEARTBEAT]
    messages = [b.entry.message for b in events]
    assert all("[REDACTED:" in m or "[card_number:" in m for m in messages), messages[:3]
    assert all(b.entry.sensitivity == pb.SENSITIVITY_HIGHLY_RESTRICTED for b in events)

    opened = show_dead_letters(kafka_bootstrap, topics, keys.dead_letter)
    assert sorted(
        base64.b64decode(o["original"]["value"]["base64"])
        if "base64" in o["original"]["value"]
        else o["original"]["value"]["text"].encode()
        for o in opened
    ) == sorted(v for _, v, _ in bad)
    masked = {o["source"]: o for o in opened}
    assert all(o["masked"] for o in masked.values()), masked
    header = [o for o in opened if o["original"]["headers"]]
    assert header and header[0]["original"]["headers"][0]["value"]["text"].endswith("x")


def stored_leaks(
    bootstrap: str,
    topics: Any,
    s3: S3Settings,
    client: Any,
    database: str,
    sent: int,
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """Run both sinks over the sealed topic; what they stored that holds a secret."""
    bucket = unique("as-secrets")
    env = s3_env(s3)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["archive", "init", "--archive", f"s3://{bucket}/audit"]) == 0
    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database=database))
    settings = topics.settings()
    archive = S3Archive(
        bucket,
        "audit",
        S3Settings(
            endpoint=env["AUDITSTREAM_S3_ENDPOINT"],
            region=env["AUDITSTREAM_S3_REGION"],
            access_key=Secret(env["AUDITSTREAM_S3_ACCESS_KEY"]),
            secret_key=Secret(env["AUDITSTREAM_S3_SECRET_KEY"]),
        ),
    )
    archive_sink = ArchiveSink(
        archive,
        ArchiveConfig(
            KafkaConnection(bootstrap),
            settings,
            group_id=unique("archive"),
            max_entries=50,
            max_age_s=1.0,
        ),
    )
    store_sink = ClickHouseSink(
        client, SinkConfig(KafkaConnection(bootstrap), settings, database, group_id=unique("ch"))
    )
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in (archive_sink, store_sink)]
    for thread in threads:
        thread.start()
    try:
        settle(lambda: archive_sink.entries_archived, sent)
        settle(lambda: store_sink.rows_inserted, sent)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    problems: list[str] = []
    for table in ("audit_events", "audit_checkpoints"):
        formats = {"body": "bytes"} if table == "audit_events" else {}
        result = client.query(f"SELECT * FROM {database}.{table}", column_formats=formats)
        assert result.result_rows, table
        for row in result.result_rows:
            for column, value in zip(result.column_names, row, strict=True):
                raw = value if isinstance(value, bytes) else str(value).encode()
                problems += leaks(raw, f"{table}.{column}")
                if column == "body" and value:
                    problems += leaks(str(decode_body(value)).encode(), f"{table}.body decoded")
    objects = list(archive.list(""))
    assert any("segment" in key for key in objects), objects
    for key in objects:
        data = archive.get(key) or b""
        if data[:4] == b"\x28\xb5\x2f\xfd":  # zstd frame
            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        problems += leaks(data, f"archive {key}")
    return problems


def show_dead_letters(
    bootstrap: str, topics: Any, key: Path, code: int = 0
) -> list[dict[str, Any]]:
    """`auditstream deadletter show --key`, as an operator runs it; it must exit `code`."""
    env = dict(os.environ, AUDITSTREAM_KAFKA_BOOTSTRAP=bootstrap, **topics.env())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditstream",
            "deadletter",
            "show",
            "--key",
            str(key),
            "--format",
            "json",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_deadletter_show_reports_a_record_it_cannot_read_and_goes_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 1, tmp_path)
    recipient = keyfiles.load_dead_letter_recipient(keys.dead_letter_public)
    secret = POSITIVE[0].secret.encode()
    record = RawRecord(f"{topics.prefix}.raw", 0, 7, 1_000, None, b"{" + secret, ())
    letter = build_dead_letter(
        record, Rejected(1, "not protobuf"), 2_000, default_scanner(), recipient
    )
    topic = f"{topics.prefix}.deadletter"
    garbage = b"\xff garbage \x00"
    produce(kafka_bootstrap, topic, [(None, garbage, []), (None, letter, [])])
    shown = show_dead_letters(kafka_bootstrap, topics, keys.dead_letter, code=2)
    assert [s["letter"] for s in shown] == [f"{topic}/0/0", f"{topic}/0/1"]
    assert shown[0]["error"] == f"not a dead letter ({len(garbage)} bytes)"
    assert shown[1]["original"]["value"] == {"text": "{" + POSITIVE[0].secret}
    assert POSITIVE[0].secret not in json.dumps(shown[1]["masked_record"])
