"""`auditstream demo` end to end, twice, on real Kafka, ClickHouse and S3 (MinIO); then
`auditstream verify` and `auditstream query` on what it left behind.

The demo runs as a child process (as `make demo` runs it): embedded ClickHouse allows
one process per path, so it gets its own chdb folder unless a server is in use.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.devstack import procs
from auditstream.reports import frameworks
from auditstream.samples.examples import SEED_EXAMPLES
from auditstream.settings.config import S3Settings
from tests.support.cli import REPO, run
from tests.support.infra import Infra, s3_env, unique

pytestmark = [pytest.mark.integration]


@pytest.fixture
def demo_env(
    infra: Infra, kafka_bootstrap: str, s3_settings: S3Settings, lock_bucket: str, tmp_path: Path
) -> dict[str, str]:
    state = tmp_path / "state"
    env = dict(os.environ, **s3_env(s3_settings))
    env |= {
        "AUDITSTREAM_STATE_DIR": str(state),
        "AUDITSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AUDITSTREAM_ARCHIVE_URL": f"s3://{lock_bucket}/demo",
    }
    if infra.embedded_clickhouse:
        env["AUDITSTREAM_CLICKHOUSE_DSN"] = f"chdb://{tmp_path / 'clickhouse'}"
    else:
        env["AUDITSTREAM_CLICKHOUSE_DSN"] = infra.clickhouse_dsn()
        env["AUDITSTREAM_CLICKHOUSE_DATABASE"] = unique("demo").replace("-", "_")
    return env


def test_demo_twice_then_verify_and_query(demo_env: dict[str, str]) -> None:
    summaries = []
    for _ in range(2):
        done = run(["demo", "--json", "--events", "400", "--tenants", "2"], demo_env)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        summaries.append(summary)
        # + an AI interaction, a data change, a GenAI span, an MCP session's 4 events and
        # the access log's events of 3 reviews and a refused read
        produced = 400 + len(SEED_EXAMPLES) + 2 + 1 + 4 + 4
        assert summary["produced"] == produced
        assert "one OpenTelemetry GenAI span and one MCP session (5 events" in done.stderr
        assert summary["sealed"] == summary["in_clickhouse"] == summary["archived"] == produced
        assert summary["dead_lettered"] == 1  # the unparseable record
        assert summary["verify_ok"] is True
        assert summary["clickhouse_dsn"] == demo_env["AUDITSTREAM_CLICKHOUSE_DSN"]
        assert summary["archive_url"].startswith(demo_env["AUDITSTREAM_ARCHIVE_URL"])
        for example in SEED_EXAMPLES:  # every seed example is in the printed tables
            assert example["message"] in done.stderr
        keys = Path(demo_env["AUDITSTREAM_STATE_DIR"]) / "keys"
        pack = summary["evidence_pack"]
        assert "evidence pack (SOC 2, tenant acme): " in done.stderr
        assert f"{pack}\ncheck it: auditstream report verify {pack} --pubkey" in done.stderr
        checked = run(
            ["report", "verify", pack, "--pubkey", str(keys / "report.pub"),
             "--checkpoint-pubkey", str(keys / "checkpoint.pub")],
            demo_env,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout[-3000:]
        controls = json.loads((Path(pack) / "report.json").read_text())["controls"]
        assert [c["id"] for c in controls] == ["CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC7.3", "CC8.1"]
        assert {c["id"]: c["status"] for c in controls}["CC7.3"] == "met"  # verified, S3 archive
        assert (Path(pack) / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert summaries[0]["run"] != summaries[1]["run"]
    assert not set(summaries[0]["chains"]) & set(summaries[1]["chains"])

    pubkey = Path(demo_env["AUDITSTREAM_STATE_DIR"]) / "keys" / "checkpoint.pub"
    argv = [
        "verify",
        "--clickhouse", demo_env["AUDITSTREAM_CLICKHOUSE_DSN"],
        "--database", demo_env.get("AUDITSTREAM_CLICKHOUSE_DATABASE", "auditstream"),
        "--archive", demo_env["AUDITSTREAM_ARCHIVE_URL"],
        "--pubkey", str(pubkey),
        "--json",
    ]  # fmt: skip
    verified = run(argv, demo_env)
    assert verified.returncode == 0, verified.stderr[-3000:]
    report = json.loads(verified.stdout)
    assert report["ok"] and report["sources"] == ["clickhouse", "archive"]
    assert report["entries"] == 2 * 2 * summaries[0]["produced"]  # two runs, two stores

    # a pack for every framework on the demo's workload (both runs), each verified offline
    keys = Path(demo_env["AUDITSTREAM_STATE_DIR"]) / "keys"
    now = dt.datetime.now(dt.UTC)
    letters = dict(demo_env, AUDITSTREAM_TOPIC_DEADLETTER=f"demo.{summaries[-1]['run']}.deadletter")
    for framework in frameworks.framework_ids():
        pack = Path(demo_env["AUDITSTREAM_STATE_DIR"]) / "packs" / framework
        wrote = run(
            ["report", "--framework", framework, "--tenant", "acme",
             "--from", (now - dt.timedelta(hours=2)).isoformat(), "--to", now.isoformat(),
             "--clickhouse", demo_env["AUDITSTREAM_CLICKHOUSE_DSN"],
             "--database", demo_env.get("AUDITSTREAM_CLICKHOUSE_DATABASE", "auditstream"),
             "--archive", demo_env["AUDITSTREAM_ARCHIVE_URL"], "--dead-letters",
             "--format", "md,html,pdf", "--out", str(pack),
             "--report-key", str(keys / "report.key"), "--checkpoint-pubkey", str(pubkey)],
            letters,
        )  # fmt: skip
        assert wrote.returncode == 0, framework + wrote.stderr[-3000:]
        checked = run(
            ["report", "verify", str(pack), "--pubkey", str(keys / "report.pub"),
             "--checkpoint-pubkey", str(pubkey)],
            demo_env,
        )  # fmt: skip
        assert checked.returncode == 0, framework + checked.stdout[-3000:]
        doc = json.loads((pack / "report.json").read_text())
        assert doc["verification"]["ok"], framework
        assert sum(doc["summary"].values()) == len(doc["controls"]) > 0

    queried = run(["query", "guardrail_denials", "--tenant", "acme", "--format", "json"], demo_env)
    assert queried.returncode == 0, queried.stderr[-3000:]
    rows = json.loads(queried.stdout)
    assert {row["chain_id"] for row in rows} == {
        f"acme/demo-{summary['run']}" for summary in summaries
    }
    assert {row["message"] for row in rows} == {"PII detected in agent output, blocked"}


def test_keep_serves_queries_and_ctrl_c_leaves_nothing_behind(demo_env: dict[str, str]) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "auditstream", "demo", "--keep", "--events", "200"],
        env=demo_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        api = token = None
        for line in demo.stdout:
            found = re.search(r"query API\s+(\S+)\s+\(token in (\S+)\)", line)
            if found:
                api, token = found.groups()
            if line.startswith("try: auditstream query"):
                break
        assert api and token, "the demo did not report its query API"
        asked = run(
            ["query", "guardrail_denials", "--api", api, "--token-file", token, "--format", "json"],
            demo_env,
        )
        assert asked.returncode == 0, asked.stderr[-2000:]
        assert "PII detected in agent output, blocked" in asked.stdout
        pid_files = list(Path(demo_env["AUDITSTREAM_STATE_DIR"]).glob("demo/*/worker.pid"))
        worker = int(pid_files[0].read_text())
        assert procs.alive(worker)
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(120)
    assert code == 130
    assert not procs.alive(worker)
