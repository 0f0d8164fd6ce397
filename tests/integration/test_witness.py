"""Checkpoints any C2SP client can check, cosigned by real witnesses.

One `auditstream demo` run writes its archive to real S3 (MinIO). Then, with nothing
but that archive and the log's public key:
- a generic C2SP client (tests/support/tlogcheck: torchwood and x/mod/sumdb) verifies
  the latest checkpoint of every chain, the consistency of its dated history, inclusion
  proofs fetched from the tiles, and reads every entry bundle, served by `tlog serve`;
- two real C2SP witnesses (filippo.io/torchwood's litewitness, on loopback) cosign
  every checkpoint through `tlog witness`; `verify --quorum` passes with their keys
  and fails, naming what is missing, with a replaced key; proof bundles carry the
  cosignatures;
- a split view (a second checkpoint of the same size with another root, signed by
  the log's own key) is refused by the witness and the refusal reported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client import REGISTRY

from auditstream.archive import s3
from auditstream.archive.store import FileArchive, open_archive
from auditstream.archive.tlog import ArchiveLog, history_key, log_prefix
from auditstream.core import note
from auditstream.core.checkpoint import checkpoint_text, origin_for
from auditstream.core.cosignature import CosignatureVerifier
from auditstream.core.keys import NoteSigner
from auditstream.devstack import procs
from auditstream.devstack import witness as witnesses
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings import keyfiles
from auditstream.settings.config import S3Settings, load_settings
from auditstream.settings.connection import KafkaConnection
from auditstream.witness.alerts import AuditAlerts, Refusal
from auditstream.witness.client import Reason, Witness
from auditstream.witness.feeder import WitnessFeeder
from tests.support.cli import run
from tests.support.infra import Infra, s3_env, unique
from tests.support.pipeline import create_pipeline
from tests.support.tlog_kit import tlogcheck

pytestmark = [pytest.mark.integration]
WITNESS_NAMES = ("witness-1.auditstream.test", "witness-2.auditstream.test")


class Demo:
    def __init__(self, env: dict[str, str], summary: dict[str, Any]) -> None:
        self.env = env
        self.summary = summary
        self.state = Path(env["AUDITSTREAM_STATE_DIR"])
        self.pubkey = self.state / "keys" / "checkpoint.pub"
        self.vkey = self.pubkey.read_text().split()[0]
        self.archive_url: str = summary["archive_url"]
        self.chains: list[str] = summary["chains"]


@pytest.fixture(scope="module")
def demo(
    infra: Infra, kafka_bootstrap: str, s3_settings: S3Settings, tmp_path_factory: Any
) -> Demo:
    tmp = tmp_path_factory.mktemp("witness")
    bucket = unique("as-witness")
    s3.ensure_lock_bucket(s3.client(s3_settings), bucket)
    env = dict(os.environ, **s3_env(s3_settings))
    env |= {
        "AUDITSTREAM_STATE_DIR": str(tmp / "state"),
        "AUDITSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AUDITSTREAM_ARCHIVE_URL": f"s3://{bucket}/demo",
        "AUDITSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp / 'clickhouse'}",
    }
    # 3,000 events on one chain give it at least two checkpoints: the demo's worker
    # seals at most 1,000 records per round and checkpoints a round that brings a chain
    # 1,000 entries past its last checkpoint (auditstream/cli/demo/worker.py).
    done = run(["demo", "--json", "--events", "3000", "--tenants", "1"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    return Demo(env, json.loads(done.stdout.strip().splitlines()[-1]))


def _s3(demo: Demo) -> S3Settings:
    return load_settings(demo.env).s3


def _history(demo: Demo, chain_id: str) -> list[Any]:
    store = open_archive(demo.archive_url, _s3(demo))
    return ArchiveLog(store, chain_id).history()


@pytest.fixture(scope="module")
def served(demo: Demo) -> Iterator[str]:
    """`auditstream tlog serve` over the demo's S3 archive, on a free loopback port."""
    port = procs.free_port()
    log_file = demo.state / "tlog-serve.log"
    pid = procs.start_detached(
        [sys.executable, "-m", "auditstream", "tlog", "serve", "--archive", demo.archive_url,
         "--port", str(port)],
        log_file=log_file,
        pid_file=demo.state / "tlog-serve.pid",
        env=demo.env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url + "v1/tlog/vkeys", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # it answers
        except OSError:
            return False

    try:
        procs.wait_until(up, timeout=60, what="tlog serve", pid=pid, log_file=log_file)
        yield url
    finally:
        assert procs.stop(pid, demo.archive_url), "tlog serve was not stopped"


def test_a_generic_c2sp_client_verifies_the_archive_alone(demo: Demo, served: str) -> None:
    store = open_archive(demo.archive_url, _s3(demo))
    published = run(
        ["tlog", "publish-key", "--archive", demo.archive_url, "--pubkey", str(demo.pubkey)],
        demo.env,
    )
    assert published.returncode == 0, published.stderr
    assert store.get("v1/tlog/vkeys") == (demo.vkey + "\n").encode()
    for chain_id in demo.chains:
        history = _history(demo, chain_id)
        assert history, f"no checkpoints of {chain_id} in the archive"
        size = history[-1].size
        prefix = log_prefix(chain_id)
        paths = [d.key[len(prefix) :] for d in history]
        indexes = sorted({0, size // 2, size - 1})
        code, result, stderr = tlogcheck(
            served + prefix, demo.vkey, origin_for(chain_id), indexes, paths
        )
        assert code == 0, stderr
        assert result is not None
        assert result["size"] == size and result["entries"] == size
        assert sorted(result["consistent"]) == [d.size for d in history]
        assert [p["index"] for p in result["proved"]] == indexes
        # With another log's key, the same client refuses the checkpoint.
        other = NoteSigner.generate("other.example").verifier.encode()
        code, _, stderr = tlogcheck(served + prefix, other, origin_for(chain_id), [], [])
        assert code != 0 and "does not verify" in stderr


@pytest.fixture(scope="module")
def cosigned(demo: Demo) -> Iterator[list[witnesses.WitnessInfo]]:
    """Two litewitnesses that know the demo's logs, and one `tlog witness` round."""
    log_key = keyfiles.load_verifiers(demo.pubkey)[0]
    started = []
    try:
        for name in WITNESS_NAMES:
            started.append(witnesses.start(demo.state, name))
            for chain_id in demo.chains:
                witnesses.add_log(demo.state, name, chain_id, log_key)
        argv = ["tlog", "witness", "--archive", demo.archive_url, "--once", "--no-audit-events"]
        for info in started:
            argv += ["--witness", info.spec]
        done = run(argv, demo.env)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert summary["refusals"] == []
        assert summary["checkpoints"] > len(demo.chains)  # a history, not one per chain
        for info in started:
            assert summary["pending"][info.name] == 0
            assert summary["cosigned"][info.name] == summary["checkpoints"]
        yield started
    finally:
        for info in started:
            witnesses.stop(demo.state, info.name)


def test_every_checkpoint_ends_up_cosigned(
    demo: Demo, cosigned: list[witnesses.WitnessInfo]
) -> None:
    keys = [CosignatureVerifier.parse(info.vkey) for info in cosigned]
    for chain_id in demo.chains:
        for dated in _history(demo, chain_id):
            assert {k.rsplit(".", 2)[1] for k in dated.cosignatures} == {
                k.key_id.hex() for k in keys
            }


def _verify(demo: Demo, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["verify", "--archive", demo.archive_url, "--pubkey", str(demo.pubkey), "--json"]
    return run([*argv, *extra], demo.env)


def test_verify_with_a_witness_quorum(demo: Demo, cosigned: list[witnesses.WitnessInfo]) -> None:
    keys = [a for info in cosigned for a in ("--witness-key", info.vkey)]
    passed = _verify(demo, *keys, "--quorum", "2")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert json.loads(passed.stdout)["ok"] is True

    one = _verify(demo, "--witness-key", cosigned[0].vkey, "--quorum", "1")
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]

    # The first witness's key replaced by another key of the same name.
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    replaced = CosignatureVerifier(cosigned[0].name, raw).encode()
    failed = _verify(demo, "--witness-key", replaced, "--quorum", "1")
    assert failed.returncode == 1, failed.stderr[-3000:]
    findings = [f for c in json.loads(failed.stdout)["chains"] for f in c["findings"]]
    assert findings and {f["kind"] for f in findings} == {"unwitnessed_checkpoint"}
    detail = findings[0]["detail"]
    assert "0 valid cosignatures of the 1 required" in detail
    assert f"{cosigned[0].name} key id {CosignatureVerifier.parse(replaced).key_id.hex()}" in detail
    assert "cosigned by untrusted keys" in detail and cosigned[0].name in detail

    too_many = _verify(demo, "--witness-key", cosigned[0].vkey, "--quorum", "2")
    assert too_many.returncode == 2 and "a quorum of 2 needs at least 2" in too_many.stderr


def test_proof_bundles_carry_the_cosignatures(
    demo: Demo, cosigned: list[witnesses.WitnessInfo], tmp_path: Path
) -> None:
    chain_id = demo.chains[0]
    sql = (
        "SELECT event_id FROM auditstream.audit_events "
        f"WHERE chain_id = '{chain_id}' ORDER BY seq LIMIT 1"
    )
    dsn = demo.env["AUDITSTREAM_CLICKHOUSE_DSN"]
    queried = run(["query", "--clickhouse", dsn, "--sql", sql, "--format", "json"], demo.env)
    assert queried.returncode == 0, queried.stderr[-3000:]
    event_id = json.loads(queried.stdout)[0]["event_id"]
    bundle = tmp_path / "proof.json"
    proved = run(["prove", event_id, "--archive", demo.archive_url, "--out", str(bundle)], demo.env)
    assert proved.returncode == 0, proved.stderr[-3000:]
    keys = [a for info in cosigned for a in ("--witness-key", info.vkey)]
    checked = run(
        ["verify-proof", str(bundle), "--pubkey", str(demo.pubkey), *keys, "--quorum", "2"],
        demo.env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr[-2000:]
    assert "cosigned by " + ", ".join(sorted(WITNESS_NAMES)) in checked.stdout
    doc = json.loads(bundle.read_text())
    text, signatures = note.parse(doc["checkpoint"].encode())
    log_lines = [note.signature_line(sig) for sig in signatures if sig.name not in WITNESS_NAMES]
    assert len(log_lines) < len(signatures)  # the bundle did carry cosignatures
    doc["checkpoint"] = text + "\n" + "".join(log_lines)
    bundle.write_text(json.dumps(doc))
    stripped = run(
        ["verify-proof", str(bundle), "--pubkey", str(demo.pubkey), *keys, "--quorum", "1"],
        demo.env,
    )
    assert stripped.returncode == 1
    assert "INVALID: checkpoint is not witnessed" in stripped.stdout
    assert "it carries no cosignatures" in stripped.stdout


def test_a_split_view_is_refused_and_reported(
    demo: Demo, cosigned: list[witnesses.WitnessInfo], kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The log's key signs a second checkpoint of the size a witness cosigned, with
    another root; shown to that witness (from another archive: the other view), it is
    refused, and the refusal counted, logged and recorded as an audit event in Kafka."""
    chain_id = demo.chains[0]
    latest = _history(demo, chain_id)[-1]
    signer = keyfiles.load_signer(demo.state / "keys" / "checkpoint.key")
    forged = note.sign(checkpoint_text(chain_id, latest.size, b"\x42" * 32), [signer])
    other = FileArchive(tmp_path / "other-view")
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    other.put(history_key(chain_id, day, latest.size), forged, retain_until=None)
    other.replace(log_prefix(chain_id) + "checkpoint", forged)

    reported: list[Refusal] = []

    topics, _ = create_pipeline(kafka_bootstrap, 1, tmp_path)
    topic = topics.raw
    producer = AuditProducer(
        ProducerConfig(
            KafkaConnection(kafka_bootstrap), topic=topic, spool_dir=tmp_path / "spool", strict=True
        )
    )

    class Recorded(AuditAlerts):
        def refused(self, refusal: Refusal) -> None:
            super().refused(refusal)
            reported.append(refusal)

    witness = Witness.parse(cosigned[0].spec)
    labels = {"witness": witness.name, "reason": str(Reason.INCONSISTENT)}
    before = REGISTRY.get_sample_value("auditstream_witness_refusals_total", labels) or 0.0
    feeder = WitnessFeeder(other, [witness], Recorded(producer))
    try:
        summary = feeder.round()
        # The next round does not offer it again yet, nor report it twice.
        feeder.round()
    finally:
        feeder.close()
        assert producer.flush(60)
        producer.close()
    assert len(reported) == 1, summary.to_json()
    refusal = reported[0]
    assert refusal.tree_size == latest.size and refusal.chain_id == chain_id
    assert refusal.refused.reason is Reason.INCONSISTENT, refusal.describe()
    assert summary.refusals == [refusal.describe()]
    assert summary.cosigned[witness.name] == 0
    after = REGISTRY.get_sample_value("auditstream_witness_refusals_total", labels)
    assert after == before + 1
    assert not [k for k in other.list("v1/") if k.endswith(".cosig")]
    events = _consume(kafka_bootstrap, topic, 1)
    assert len(events) == 1
    event = events[0]
    assert event.action == "witness.add-checkpoint" and event.tenant_id == chain_id.split("/")[0]
    assert event.severity == pb.SEVERITY_ALERT and event.outcome == pb.OUTCOME_FAILURE_DENIED
    assert event.message == refusal.describe()


def _consume(bootstrap: str, topic: str, wanted: int) -> list[pb.LogEntry]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("g"), "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    found: list[pb.LogEntry] = []
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                entry = pb.LogEntry.FromString(message.value())
                if entry.event_type != pb.EVENT_PRODUCER_HEARTBEAT:  # the producer's own
                    found.append(entry)
            if len(found) >= wanted and message is None:
                break
    finally:
        consumer.close()
    return found
