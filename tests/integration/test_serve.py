"""`auditstream serve` on an embedded store answers `auditstream query --api` while events
flow, a token scoped to one tenant never sees another, and its access log's events
(`--access-log`) come back sealed into the store it serves; once it stops, `auditstream
console` serves the same store read-only: health, sign-in, a page and the API."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from auditstream.query.access import COMPONENT
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
         "--port", "0", "--port-file", str(tmp_path / "port"), "--access-log", "ops",
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
            return len(workload_rows(url, token))

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
        # the access log's events, sealed by the worker and stored by serve's own sink
        wanted = {
            ("tenant-000", "auditor-a", "auditstream:/v1/queries/failed_logins", "OUTCOME_SUCCESS"),
            ("tenant-001", "auditor-a", "auditstream:/v1/queries/failed_logins",
             "OUTCOME_FAILURE_DENIED"),
            ("ops", "unauthenticated", "auditstream:/v1/queries/failed_logins",
             "OUTCOME_FAILURE_UNAUTHORIZED"),
            ("ops", "operator", "auditstream:/v1/entries", "OUTCOME_SUCCESS"),
        }  # fmt: skip
        stored: set[tuple[str, str, str, str]] = set()
        while not wanted <= stored and time.monotonic() < deadline + 360:
            time.sleep(1)
            stored = {
                (r["tenant_id"], r["actor_id"], r["resource"], r["outcome"])
                for r in access_rows(url, token_all)
            }
        assert wanted <= stored, stored
        assert {r["tenant_id"] for r in access_rows(url, token_a)} == {"tenant-000"}
    finally:
        worker.stop()
        serve.terminate()
        serve.wait(60)
    assert serve.returncode == 0
    a_total = sum(e.tenant_id == "tenant-000" for e in entries)
    check_console(tmp_path, env, token_a, a_total)


def entries(url: str, token: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/v1/entries?limit=10000", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        rows: list[dict[str, Any]] = json.loads(response.read())["rows"]
    return rows


def workload_rows(url: str, token: str) -> list[dict[str, Any]]:
    """The stored events the test produced (not the access log's)."""
    return [r for r in entries(url, token) if r["component"] != COMPONENT]


def access_rows(url: str, token: str) -> list[dict[str, Any]]:
    return [r for r in entries(url, token) if r["component"] == COMPONENT]


def check_console(tmp_path: Path, env: dict[str, str], token: str, expected: int) -> None:
    """`auditstream console` over the store `serve` wrote, as a separate process."""
    port_file = tmp_path / "console-port"
    console = subprocess.Popen(
        [sys.executable, "-m", "auditstream", "console", "--tokens", str(tmp_path / "tokens.toml"),
         "--port", "0", "--port-file", str(port_file),
         "--clickhouse", f"chdb://{tmp_path / 'store'}", "--database", "served"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and console.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert port_file.exists(), console.stdout.read() if console.stdout else ""
        url = f"http://127.0.0.1:{port_file.read_text()}"
        with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
            assert json.loads(response.read())["ok"] is True
        assert len(workload_rows(url, token)) == expected
        signed_in = urllib.request.Request(
            f"{url}/signin", data=f"token={token}&next=/chains".encode(), method="POST"
        )
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(signed_in, timeout=30)
        assert redirect.value.code == 303 and redirect.value.headers["Location"] == "/chains"
        cookie = redirect.value.headers["Set-Cookie"].split(";", 1)[0]
        page = urllib.request.Request(f"{url}/chains", headers={"Cookie": cookie})
        with urllib.request.urlopen(page, timeout=30) as response:
            html = response.read().decode()
        assert "tenant-000" in html and "tenant-001" not in html
    finally:
        console.terminate()
        console.wait(60)
    assert console.returncode == 0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
