"""The archive sink killed at its worst moments, on real Kafka and MinIO: right after a
manifest is written (before its objects), and with -9 while segments are open. After a
restart every sealed entry is in exactly one segment, no object is orphaned, and the
archive verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from auditstream.archive import lifecycle
from auditstream.archive import segment as seg
from auditstream.archive.store import S3Archive
from auditstream.devstack.procs import free_port
from auditstream.processors.engine import Outputs
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.config import S3Settings
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.run import verify_sources
from tests.support.archive_kit import positions, publish, sealed_outputs
from tests.support.chains import KEYRING, SIGNER
from tests.support.engine_kit import POLICY
from tests.support.infra import s3_env, unique
from tests.support.pipeline import REPO, create_pipeline

pytestmark = [pytest.mark.faults]


def health(port: int) -> dict[str, int]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            data: dict[str, int] = json.loads(response.read())
            return data
    except OSError:
        return {}


def archived(archive: S3Archive) -> list[tuple[str, int]]:
    found = []
    for key in archive.list("v1/manifests/"):
        manifest = seg.Manifest.from_bytes(archive.get(key) or b"")
        found += [(manifest.chain_id, s) for s in seg.runs_seqs(manifest.seqs)]
    return found


def split(outputs: Outputs, count: int) -> tuple[Outputs, Outputs]:
    """The first `count` sealed entries with the checkpoints they complete, and the rest."""
    seen: Counter[str] = Counter(chain_id for chain_id, _ in outputs.sealed[:count])
    early = [
        (chain_id, value)
        for chain_id, value in outputs.checkpoints
        if sealed.Checkpoint.FromString(value).tree_size <= seen[chain_id]
    ]
    late = [c for c in outputs.checkpoints if c not in early]
    return (
        Outputs(sealed=outputs.sealed[:count], checkpoints=early),
        Outputs(sealed=outputs.sealed[count:], checkpoints=late),
    )


def test_kill_mid_segment_and_after_manifest(
    kafka_bootstrap: str, s3_settings: S3Settings, tmp_path: Path
) -> None:
    topics, _ = create_pipeline(kafka_bootstrap, 2, tmp_path)
    outputs = sealed_outputs(6000)
    # Half now, half after the kill: the killed sink has work left whatever its speed.
    first_half, second_half = split(outputs, 3000)
    publish(kafka_bootstrap, topics.prefix, first_half)
    archive = S3Archive(unique("as-faults"), "a", s3_settings)
    lifecycle.init_s3(archive, POLICY, 30)
    env = {
        **os.environ,
        **topics.env(),
        **s3_env(s3_settings),
        "AUDITSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
    }
    sink = [
        sys.executable, "-m", "auditstream", "sink", "s3", "--archive", archive.url,
        "--max-entries", "300", "--max-age", "0.5", "--group-id", "archive-under-test",
    ]  # fmt: skip

    # 1. Dies right after its first manifest: the manifest names objects not yet written.
    crashed = subprocess.run(
        sink,
        env={**env, "AUDITSTREAM_FAILPOINTS": "archive.after_manifest"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    first = seg.Manifest.from_bytes(archive.get(next(iter(archive.list("v1/manifests/")))) or b"")
    assert archive.get(first.segment_key) is None

    # 2. Killed with -9 while segments are open and others are being written.
    port = free_port()
    running = subprocess.Popen(
        [*sink, "--metrics-port", str(port)], env=env, cwd=REPO, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while health(port).get("segments", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    running.send_signal(signal.SIGKILL)
    running.wait(30)
    assert len(archived(archive)) < len(outputs.sealed)  # really stopped half way
    publish(kafka_bootstrap, topics.prefix, second_half)

    # 3. Restarted: runs to the end.
    port = free_port()
    resumed = subprocess.Popen(
        [*sink, "--metrics-port", str(port)], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while len(archived(archive)) < len(outputs.sealed) and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)  # let a duplicate, if the sink were to write one, show up
    resumed.terminate()
    assert resumed.wait(60) == 0, (resumed.stderr.read() if resumed.stderr else "")[-2000:]

    stored = archived(archive)
    expected = set(positions(outputs))
    assert len(stored) == len(set(stored)) == len(expected)  # each exactly once
    assert set(stored) == expected
    named = set()
    for key in archive.list("v1/manifests/"):
        manifest = seg.Manifest.from_bytes(archive.get(key) or b"")
        named |= {manifest.segment_key, manifest.skeleton_key}
    objects = set(archive.list("v1/segments/")) | set(archive.list("v1/skeletons/"))
    assert objects == named  # no orphans, none missing (the first manifest was completed)
    report = verify_sources(
        [ArchiveSource(archive)], note_verifiers=[SIGNER.verifier], keyring=KEYRING
    )
    assert report.ok and report.entries == len(outputs.sealed), report.findings()[:5]
