"""`auditstream serve` on an embedded store answers `auditstream query --api` while events
flow, and a token scoped to one tenant never sees another."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from auditstream.query.api import token_digest
from auditstream.query.named import QUERIES
from auditstream.samples.workload import Workload, generate
from tests.support.infra import unique
from tests.support.pipeline import REPO, Worker, create_pipeline, produce

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditstream", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_serve_answers_every_named_query_within_the_token_scope(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, keys = create_pipeline(kafka_bootstrap, 2, tmp_path)
    token_a, token_all = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    (tmp_path / "a.token").write_text(token_a)
    (tmp_path / "all.token").write_text(token_all)
    (tmp_path / "tokens.toml").write_text(
        f'[tokens.auditor-a]\nsha256 = "{token_digest(token_a).hex()}"\ntenants = ["tenant-000"]\n'
        f'[tokens.operator]\nsha256 = "{token_digest(token_all).hex()}"\ntenants = ["*"]\n'
    )
    env = dict(os.environ, AUDITSTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap, **topics.env())
    serve = subprocess.Popen(
        [sys.executable, "-m", "auditstream", "serve", "--tokens", str(tmp_path / "tokens.toml"),
         "--port", "0", "--port-file", str(tmp_path / "port"),
         "--clickhouse", f"chdb://{tmp_path / 'store'}", "--database", "served"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = Worker(kafka_bootstrap, keys, topics, tmp_path, "w", unique("proc"))
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 60
        while not (tmp_path / "port").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        url = f"http://127.0.0.1:{(tmp_path / 'port').read_text()}"
        entries = list(generate(random.Random(4), 1500, Workload(tenants=2, actors_per_tenant=10)))
        produce(
            kafka_bootstrap,
            topics.raw,
            [(e.tenant_id.encode(), e.SerializeToString(), []) for e in entries],
        )

        def total(token: str) -> int:
            request = urllib.request.Request(
                f"{url}/v1/entries?limit=10000", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return len(json.loads(response.read())["rows"])

        while total(token_all) < len(entries) and time.monotonic() < deadline + 240:
            time.sleep(1)  # events keep flowing in while we wait
        assert total(token_all) == len(entries)
        a_count = sum(e.tenant_id == "tenant-000" for e in entries)
        assert total(token_a) == a_count < len(entries)

        for name, query in QUERIES.items():
            params = []
            if any(p.name == "actor" for p in query.params):
                params = ["--param", f"actor={entries[0].actor_id}"]
            if any(p.name == "resource" for p in query.params):
                params = ["--param", f"resource={entries[0].resource}"]
            done = cli(
                "query",
                name,
                "--api",
                url,
                "--token-file",
                str(tmp_path / "a.token"),
                "--format",
                "json",
                *params,
                env=env,
            )
            assert done.returncode == 0, (name, done.stderr)
            rows = json.loads(done.stdout)
            assert all(r.get("tenant_id", "tenant-000") == "tenant-000" for r in rows), name
        timeline = json.loads(
            cli(
                "query",
                "actor_timeline",
                "--api",
                url,
                "--token-file",
                str(tmp_path / "a.token"),
                "--format",
                "json",
                "--param",
                f"actor={entries[0].actor_id}",
                env=env,
            ).stdout
        )
        assert timeline and {r["tenant_id"] for r in timeline} == {"tenant-000"}
        refused = cli(
            "query",
            "failed_logins",
            "--api",
            url,
            "--token-file",
            str(tmp_path / "a.token"),
            "--tenant",
            "tenant-001",
            env=env,
        )
        assert refused.returncode == 2 and "403" in refused.stderr
        anonymous = cli(
            "query", "failed_logins", "--api", url, "--token-file", str(tmp_path / "port"), env=env
        )
        assert anonymous.returncode == 2 and "401" in anonymous.stderr
    finally:
        worker.stop()
        serve.terminate()
        serve.wait(60)
    assert serve.returncode == 0
