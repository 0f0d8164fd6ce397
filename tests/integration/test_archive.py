"""The archive sink on real Kafka and real S3 (MinIO): locked segments and manifests,
lifecycle rules from the policy, retention dates per class, and a replay that rebuilds
ClickHouse byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.replay import replay
from auditstream.archive.store import ArchiveConflictError, S3Archive
from auditstream.cli import main
from auditstream.clickhouse import migrations, schema
from auditstream.processors.engine import Outputs
from auditstream.settings.config import S3Settings
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.archive import ArchiveConfig, ArchiveSink
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import verify_sources
from tests.support.archive_kit import positions, publish, sealed_outputs
from tests.support.chains import KEYRING, SIGNER
from tests.support.engine_kit import POLICY
from tests.support.infra import s3_env, unique
from tests.support.pipeline import create_pipeline

pytestmark = [pytest.mark.integration]
SKELETON_DAYS = 30


def settle(running: Callable[[], int], target: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while running() < target:
        if time.monotonic() > deadline:
            pytest.fail(f"only {running()} of {target} processed", pytrace=False)
        time.sleep(0.2)


class Pipeline:
    """Sealed entries on Kafka, archived to a fresh locked bucket and stored in ClickHouse
    by the real sinks, running in threads of this process."""

    def __init__(self, bootstrap: str, s3: S3Settings, client: Any, database: str, tmp: Path):
        topic_names, _ = create_pipeline(bootstrap, 2, tmp)
        self.topics = topic_names.settings()
        self.outputs: Outputs = sealed_outputs(3000)
        publish(bootstrap, topic_names.prefix, self.outputs)
        self.bucket = unique("as-archive")
        self.url = f"s3://{self.bucket}/audit"
        self.env = s3_env(s3)
        self.client, self.database = client, database
        self.bootstrap = bootstrap

    def archive(self) -> S3Archive:
        return S3Archive(self.bucket, "audit", S3Settings(**self._s3_fields()))

    def _s3_fields(self) -> dict[str, Any]:
        from auditstream.settings.secret import Secret  # noqa: PLC0415

        return {
            "endpoint": self.env["AUDITSTREAM_S3_ENDPOINT"],
            "region": self.env["AUDITSTREAM_S3_REGION"],
            "access_key": Secret(self.env["AUDITSTREAM_S3_ACCESS_KEY"]),
            "secret_key": Secret(self.env["AUDITSTREAM_S3_SECRET_KEY"]),
        }

    def run_sinks(self) -> None:
        migrations.migrate(
            self.client, schemas_dir() / "clickhouse", migrations.Target(database=self.database)
        )
        archive_sink = ArchiveSink(
            self.archive(),
            ArchiveConfig(
                KafkaConnection(self.bootstrap),
                self.topics,
                group_id=unique("archive"),
                max_entries=400,
                max_age_s=1.0,
                skeleton_days=SKELETON_DAYS,
            ),
        )
        store_sink = ClickHouseSink(
            self.client,
            SinkConfig(
                KafkaConnection(self.bootstrap), self.topics, self.database, group_id=unique("ch")
            ),
        )
        stop = threading.Event()
        threads = [
            threading.Thread(target=archive_sink.run, args=(stop,)),
            threading.Thread(target=store_sink.run, args=(stop,)),
        ]
        for thread in threads:
            thread.start()
        try:
            total = len(self.outputs.sealed)
            settle(lambda: archive_sink.entries_archived, total)
            settle(lambda: store_sink.rows_inserted, total)
            time.sleep(2)  # let the last checkpoints through
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)


@pytest.fixture
def pipeline(
    kafka_bootstrap: str,
    s3_settings: S3Settings,
    clickhouse: Any,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipeline]:
    built = Pipeline(kafka_bootstrap, s3_settings, clickhouse, ch_database, tmp_path)
    for name, value in built.env.items():
        monkeypatch.setenv(name, value)
    assert main(["archive", "init", "--archive", built.url, "--skeleton-days", "30"]) == 0
    built.run_sinks()
    yield built


def manifests(archive: S3Archive) -> list[seg.Manifest]:
    return [
        seg.Manifest.from_bytes(archive.get(key) or b"") for key in archive.list("v1/manifests/")
    ]


def test_segments_locked_per_class_and_replayable(
    pipeline: Pipeline, clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = pipeline.archive()
    found = manifests(archive)
    # Every sealed entry is in exactly one segment.
    archived = [(m.chain_id, s) for m in found for s in seg.runs_seqs(m.seqs)]
    assert sorted(archived) == sorted(positions(pipeline.outputs))
    assert {m.retention_class for m in found} == {"standard", "hipaa", "critical"}

    # Retention dates: each object is locked in COMPLIANCE mode until its class's date.
    s3 = archive.client
    for manifest in found:
        head = s3.head_object(Bucket=archive.bucket, Key=archive.prefix + manifest.segment_key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == dt.datetime.fromisoformat(manifest.retain_until)
        days = POLICY.classes[manifest.retention_class].days
        kept = head["ObjectLockRetainUntilDate"] - dt.datetime.fromisoformat(manifest.last_received)
        assert abs(kept - dt.timedelta(days=days)) < dt.timedelta(days=1), manifest.key
        skeleton = s3.head_object(Bucket=archive.bucket, Key=archive.prefix + manifest.skeleton_key)
        assert skeleton["ObjectLockRetainUntilDate"] == head[
            "ObjectLockRetainUntilDate"
        ] + dt.timedelta(days=SKELETON_DAYS)

    # Lifecycle rules installed from the policy.
    rules = s3.get_bucket_lifecycle_configuration(Bucket=archive.bucket)["Rules"]

    def summary(rule: dict[str, Any]) -> tuple[str, Any, Any]:
        noncurrent = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        expiration = rule.get("Expiration", {}).get("Days", rule.get("Expiration"))
        return rule["Filter"]["Prefix"], expiration, noncurrent

    installed = {r["ID"]: summary(r) for r in rules}
    expected = {r["ID"]: summary(r) for r in lifecycle.lifecycle_rules(POLICY, SKELETON_DAYS)}
    assert installed == expected
    assert installed["segments-hipaa"] == ("v1/segments/hipaa/", 2191, 1)
    assert installed["delete-markers"] == ("v1/", {"ExpiredObjectDeleteMarker": True}, None)

    # Locked versions can neither be deleted nor overwritten.
    target = found[0].segment_key
    versions = s3.list_object_versions(Bucket=archive.bucket, Prefix=archive.prefix + target)
    version = versions["Versions"][0]["VersionId"]
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=archive.bucket, Key=archive.prefix + target, VersionId=version)
    with pytest.raises(ClientError):
        s3.put_object_retention(
            Bucket=archive.bucket,
            Key=archive.prefix + target,
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": dt.datetime.now(dt.UTC)},
        )
    with pytest.raises(ArchiveConflictError):
        archive.put(target, b"other bytes", retain_until=None)

    # retention status reports the classes, the rules and the data.
    assert main(["retention", "status", "--archive", pipeline.url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["segments"] == len(found) and len(status["rules"]) == len(expected)

    # The live store and the archive verify, and agree with each other.
    live = ClickHouseSource(clickhouse, pipeline.database)
    both = verify_sources(
        [live, ArchiveSource(archive)], note_verifiers=[SIGNER.verifier], keyring=KEYRING
    )
    assert both.ok and not both.lag, both.findings()[:5]

    # Replay into an empty database: the same rows, the same verification result.
    rebuilt = unique("replayed").replace("-", "_")
    clickhouse.command(f"CREATE DATABASE {rebuilt}")
    try:
        migrations.migrate(
            clickhouse, schemas_dir() / "clickhouse", migrations.Target(database=rebuilt)
        )
        result = replay(archive, clickhouse, rebuilt)
        assert result.rows == len(pipeline.outputs.sealed) and result.skeleton_only == 0
        assert _table(clickhouse, pipeline.database) == _table(clickhouse, rebuilt)
        assert _checkpoints(clickhouse, pipeline.database) == _checkpoints(clickhouse, rebuilt)
        again = verify_sources(
            [ClickHouseSource(clickhouse, rebuilt)],
            note_verifiers=[SIGNER.verifier],
            keyring=KEYRING,
        )
        original = verify_sources([live], note_verifiers=[SIGNER.verifier], keyring=KEYRING)
        assert again.to_json()["chains"] == original.to_json()["chains"]
        assert replay(archive, clickhouse, rebuilt).rows == 0  # a second replay adds nothing
    finally:
        clickhouse.command(f"DROP DATABASE IF EXISTS {rebuilt}")


def _table(client: Any, database: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(schema.COLUMNS)
    return client.query(
        f"SELECT {columns} FROM {database}.audit_events ORDER BY chain_id, seq",
        column_formats={"body": "bytes"},
    ).result_rows


def _checkpoints(client: Any, database: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(schema.CHECKPOINT_COLUMNS)
    return client.query(
        f"SELECT {columns} FROM {database}.audit_checkpoints ORDER BY chain_id, tree_size"
    ).result_rows
