"""Every subcommand, given bad input, answers with one line naming the bad input and the
documented exit code, never a traceback; read-only commands create nothing.

The commands run as a user runs them (`python -m auditstream ...`), against a real
embedded ClickHouse store made by `auditstream migrate`; unreachable endpoints are
closed local ports. A new subcommand must join CASES: a test fails until it does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from auditstream.cli import build_parser

pytestmark = pytest.mark.integration
EXIT_ERROR = 2
Done = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class Case:
    command: str  # as `auditstream --help` lists it, with its action: "sink clickhouse"
    argv: tuple[str, ...]
    names: str  # the message must name this
    env: dict[str, str] = field(default_factory=dict)
    code: int = EXIT_ERROR


def case(command: str, *argv: str, names: str, **env: str) -> Case:
    return Case(command, tuple(argv), names, env)


CH = "chdb://{tmp}/store"
MISSING_CH = "chdb://{tmp}/missing-store"
# Flags a report needs (each case overrides one); the store does not exist.
REPORT = (
    "report", "--framework", "soc2", "--tenant", "acme", "--from", "2026-01-01",
    "--to", "2026-02-01", "--out", "{tmp}/pack", "--report-key", "{tmp}/k/cp.key",
    "--clickhouse", MISSING_CH,
)  # fmt: skip
WEB = ("--clickhouse", CH, "--tokens", "{tmp}/a.toml")
WEB_KEYS = ("--public-keys", "{tmp}/k/cp.pub")
VERIFY_KEYS = ("--pubkey", "{tmp}/k/cp.pub", "--checkpoint-pubkey", "{tmp}/k/cp.pub")
WKEY = "w.example+c7ec9b89+BGWuioOVcapBQ/kFm0GDdHskmt9EhHbXbtOAHB+2JFIP"
NO_S3 = {"AUDITSTREAM_S3_ENDPOINT": "http://127.0.0.1:9", "AUDITSTREAM_S3_ACCESS_KEY": "a"}
ERASE = (
    "erase", "--tenant", "acme", "--reason", "r", "--requested-by", "dpo",
    "--checkpoint-key", "{tmp}/k/cp.key", "--clickhouse", MISSING_CH,
)  # fmt: skip
VAULT = ("--subject-vault", "{tmp}/vault", "--subject-keks", "{tmp}/k/hmac.json")
# Valid keys for every other worker flag, so that only the one under test is wrong.
WORKER_KEYS = (
    "--hmac-keys",
    "{tmp}/k/hmac.json",
    "--checkpoint-key",
    "{tmp}/k/cp.key",
    "--content-keys",
    "{tmp}/k/hmac.json",
)
CASES = (
    case("demo", "demo", "--events", "-1", names="--events"),
    case("demo", "demo", "--tenants", "many", names="--tenants"),
    case("demo", "demo", "--state-dir", "/proc/no-such/state", names="/proc/no-such"),
    case("dev up", "dev", "--state-dir", "/proc/no-such/dev", "up", names="/proc/no-such"),
    case("dev status", "dev", "--state-dir", "{tmp}/k/hmac.json", "status", names="hmac.json"),
    case("dev down", "dev", "down", "--all", names="--all"),
    case("worker", "worker", "--hmac-keys", "{tmp}/nope.json", names="nope.json"),
    case("worker", "worker", "--hmac-keys", "{tmp}/k/bad.json", names="bad.json"),
    case("worker", "worker", "--partitions", "some", names="--partitions"),
    case("worker", "worker", "--gap-after", "-5", names="--gap-after"),
    case("worker", "worker", "--batch-size", "0", names="--batch-size"),
    case("worker", "worker", "--instance-id", "pod 1", names="--instance-id"),
    case("worker", "worker", "--instance-id", "", names="--instance-id"),
    case("worker", "worker", "--app-id", "audit/processor", names="--app-id"),
    case("sink clickhouse", "sink", "clickhouse", "--group-id", "a b", names="--group-id"),
    case("kafka acls", "kafka", "acls", "--app-id", "a:b", names="--app-id"),
    case("worker", "worker", *WORKER_KEYS, "--dead-letter-key", "{tmp}/nope.pub", names="nope.pub"),
    case("worker", "worker", *WORKER_KEYS, "--dead-letter-key", "{tmp}/k/cp.pub", names="cp.pub"),
    case("sink clickhouse", "sink", "clickhouse", "--clickhouse", "ftp://x", names="ftp://x"),
    case(
        "sink clickhouse",
        "sink",
        "clickhouse",
        "--clickhouse",
        "http://127.0.0.1:9/",
        names="127.0.0.1:9",
    ),
    case("sink clickhouse", "sink", "clickhouse", "--batch-rows", "many", names="--batch-rows"),
    case("sink clickhouse", "sink", "clickhouse", "--batch-rows", "0", names="batch_rows"),
    case("sink clickhouse", "sink", "clickhouse", "--batch-seconds", "nan", names="batch_seconds"),
    case("sink s3", "sink", "s3", "--archive", "ftp://x", names="ftp://x"),
    case("sink s3", "sink", "s3", "--max-age", "soon", names="--max-age"),
    case("serve", "serve", "--clickhouse", "ftp://x", "--tokens", "{tmp}/a.toml", names="ftp://x"),
    case("serve", "serve", "--clickhouse", CH, "--tokens", "{tmp}/nope.toml", names="nope.toml"),
    case("serve", "serve", "--clickhouse", CH, "--tokens", "{tmp}/t.toml", names="no token"),
    case(
        "serve", "serve", "--tokens", "{tmp}/a.toml", "--tls-cert", "{tmp}/c.pem", names="--tls-key"
    ),
    case("serve", "serve", "--tokens", "{tmp}/a.toml", "--port", "70000", names="--port"),
    case("serve", "serve", *WEB, *WEB_KEYS, "--report-key", "{tmp}/nope.key", names="nope.key"),
    case("serve", "serve", *WEB, "--report-key", "{tmp}/k/cp.key", names="--public-keys"),
    case(
        "console",
        "console",
        *WEB,
        *WEB_KEYS,
        "--report-key",
        "{tmp}/k/hmac.json",
        names="hmac.json",
    ),
    case(
        "console", "console", "--clickhouse", "ftp://x", "--tokens", "{tmp}/a.toml", names="ftp://x"
    ),
    case(
        "console",
        "console",
        "--clickhouse",
        MISSING_CH,
        "--tokens",
        "{tmp}/a.toml",
        names="missing-store",
    ),
    case(
        "console",
        "console",
        "--clickhouse",
        CH,
        "--database",
        "nodb",
        "--tokens",
        "{tmp}/a.toml",
        names="nodb",
    ),
    case(
        "console",
        "console",
        "--clickhouse",
        "http://127.0.0.1:9/",
        "--tokens",
        "{tmp}/a.toml",
        names="127.0.0.1:9",
    ),
    case(
        "console", "console", "--clickhouse", CH, "--tokens", "{tmp}/nope.toml", names="nope.toml"
    ),
    case(
        "console", "console", "--clickhouse", CH, "--tokens", "{tmp}/text.json", names="text.json"
    ),
    case(
        "console",
        "console",
        "--clickhouse",
        MISSING_CH,
        "--tokens",
        "{tmp}/a.toml",
        "--public-keys",
        "{tmp}/k/bad.pub",
        names="bad.pub",
    ),
    case(
        "console",
        "console",
        "--clickhouse",
        MISSING_CH,
        "--tokens",
        "{tmp}/a.toml",
        "--tls-cert",
        "{tmp}/text.json",
        "--tls-key",
        "{tmp}/text.json",
        names="text.json",
    ),
    case(
        "console",
        "console",
        "--tokens",
        "{tmp}/a.toml",
        "--tls-cert",
        "{tmp}/nope.pem",
        "--tls-key",
        "{tmp}/nope.pem",
        names="nope.pem",
    ),
    case("console", "console", "--tokens", "{tmp}/a.toml", "--port", "http", names="--port"),
    case(
        "console",
        "console",
        "--clickhouse",
        CH,
        "--tokens",
        "{tmp}/a.toml",
        "--host",
        "256.0.0.1",
        names="256.0.0.1",
    ),
    case("serve", "serve", "--access-log", "has space", names="has space"),
    case("serve", "serve", "--access-log", "acme/chain", names="acme/chain"),
    case("serve", "serve", "--tokens", "{tmp}/a.toml", "--access-log", "", names="''"),
    case("console", "console", "--access-log", "has space", names="has space"),
    case("console", "console", "--tokens", "{tmp}/a.toml", "--access-log", "x" * 300, names="xxx"),
    case("ingest otlp", "ingest", "otlp", names="--tenant"),
    case("ingest otlp", "ingest", "otlp", "--tenant", "has space", names="has space"),
    case("ingest otlp", "ingest", "otlp", "--tenant", "t", "--commit-interval", "0", names="0"),
    case("ingest otlp", "ingest", "otlp", "--tenant", "t", names="AUDITSTREAM_CONTENT_KEYS"),
    case("ingest http", "ingest", "http", "--tenant", "t", names="--secret-file"),
    case(
        "ingest http",
        "ingest",
        "http",
        "--tenant",
        "t",
        "--secret-file",
        "{tmp}/nope.secret",
        names="nope.secret",
    ),
    case("ingest http", "ingest", "http", "--tenant", "t", "--port", "70000", names="70000"),
    case("ingest http", "ingest", "http", "--tenant", "t", "--port", "high", names="--port"),
    case("migrate", "migrate", "--clickhouse", "ftp://x", names="ftp://x"),
    case("migrate", "migrate", "--clickhouse", CH, "--migrations", "{tmp}/nope", names="nope"),
    case("query", "query", "no_such_query", "--clickhouse", CH, names="no_such_query"),
    case(
        "query",
        "query",
        "--clickhouse",
        CH,
        "--sql",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        names="READONLY",
    ),
    case("query", "query", "--clickhouse", CH, "--sql", "DROP TABLE x", names="read-only"),
    case("query", "query", "failed_logins", "--clickhouse", CH, "--param", "x", names="'x'"),
    case(
        "query",
        "query",
        "failed_logins",
        "--clickhouse",
        CH,
        "--param",
        "start=yesterday",
        names="yesterday",
    ),
    case("query", "query", "failed_logins", "--clickhouse", MISSING_CH, names="missing-store"),
    case(
        "query",
        "query",
        "failed_logins",
        "--api",
        "http://127.0.0.1:9",
        "--token-file",
        "{tmp}/nope.token",
        names="nope.token",
    ),
    case("verify", "verify", "--clickhouse", CH, names="--public-keys"),
    case(
        "verify",
        "verify",
        "--clickhouse",
        MISSING_CH,
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="missing-store",
    ),
    case(
        "verify",
        "verify",
        "--archive",
        "file://{tmp}/missing-archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="missing-archive",
    ),
    case("verify", "verify", "--clickhouse", CH, "--pubkey", "{tmp}/k/bad.pub", names="bad.pub"),
    case(
        "verify",
        "verify",
        "--clickhouse",
        CH,
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--database",
        "nodb",
        names="nodb",
    ),
    case("verify", "verify", "--clickhouse", CH, "--from", "noon", names="noon"),
    case(
        "verify",
        "verify",
        "--archive",
        "file://{tmp}/archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--witness-key",
        "nope",
        names="witness key",
    ),
    case(
        "verify",
        "verify",
        "--archive",
        "file://{tmp}/archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--witness-key",
        WKEY,
        "--quorum",
        "0",
        names="--quorum",
    ),
    case(
        "verify",
        "verify",
        "--archive",
        "file://{tmp}/archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--quorum",
        "1",
        names="--witness-key",
    ),
    case(
        "verify",
        "verify",
        "--archive",
        "file://{tmp}/archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--witness-key",
        WKEY,
        "--quorum",
        "2",
        names="a quorum of 2",
    ),
    case("prove", "prove", "0190-no-such-event", "--clickhouse", CH, names="0190-no-such-event"),
    case("prove", "prove", "e1", "--clickhouse", MISSING_CH, names="missing-store"),
    case(
        "prove-consistency",
        "prove-consistency",
        "--chain",
        "acme/none",
        "--clickhouse",
        CH,
        names="acme/none",
    ),
    case(
        "verify-proof",
        "verify-proof",
        "{tmp}/nope.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="nope.json",
    ),
    case(
        "verify-proof",
        "verify-proof",
        "{tmp}/text.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="text.json",
    ),
    case(
        "verify-proof",
        "verify-proof",
        "{tmp}/empty.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="inclusion proof",
    ),
    case(
        "verify-proof",
        "verify-proof",
        "{tmp}/empty.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--witness-key",
        "{tmp}/k/cp.pub",
        names="witness key",
    ),
    case(
        "verify-proof",
        "verify-proof",
        "{tmp}/empty.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        "--witness-key",
        WKEY,
        "--quorum",
        "many",
        names="'many'",
    ),
    case("tlog serve", "tlog", "serve", "--archive", "ftp://x", names="ftp://x"),
    case(
        "tlog publish-key",
        "tlog",
        "publish-key",
        "--archive",
        "file://{tmp}/archive",
        "--pubkey",
        "{tmp}/k/bad.pub",
        names="bad.pub",
    ),
    case(
        "tlog publish-key",
        "tlog",
        "publish-key",
        "--archive",
        "file://{tmp}/missing-archive",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="missing-archive",
    ),
    case(
        "tlog publish-key",
        "tlog",
        "publish-key",
        "--archive",
        "ftp://x",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="ftp://x",
    ),
    case(
        "tlog serve",
        "tlog",
        "serve",
        "--archive",
        "file://{tmp}/missing-archive",
        names="missing-archive",
    ),
    case(
        "tlog serve",
        "tlog",
        "serve",
        "--archive",
        "file://{tmp}/archive",
        "--port",
        "70000",
        names="70000",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/archive",
        "--witness",
        f"http://127.0.0.1:9={WKEY}",
        "--metrics-port",
        "99999",
        names="99999",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/archive",
        "--witness",
        "nope",
        names="URL=VKEY",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/archive",
        "--witness",
        f"ftp://x={WKEY}",
        names="ftp://x",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/archive",
        "--witness",
        "http://127.0.0.1:9=w+00+AA",
        names="witness key",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/missing-archive",
        "--witness",
        f"http://127.0.0.1:9={WKEY}",
        "--once",
        names="missing-archive",
    ),
    case(
        "tlog witness",
        "tlog",
        "witness",
        "--archive",
        "file://{tmp}/archive",
        "--witness",
        f"http://127.0.0.1:9={WKEY}",
        "--interval",
        "-1",
        names="-1",
    ),
    case(
        "verify-consistency",
        "verify-consistency",
        "{tmp}/empty.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="consistency proof",
    ),
    case(
        "verify-consistency",
        "verify-consistency",
        "{tmp}/nope.json",
        "--pubkey",
        "{tmp}/k/cp.pub",
        names="nope.json",
    ),
    case("report", "report", "--tenant", "acme", names="--framework"),
    case("report", "report", "--from", "noon", names="noon"),
    case("report", "report", "--format", "docx", names="docx"),
    case("report", *REPORT, "--framework", "sox", names="sox"),
    case("report", *REPORT, "--tenant", "has space", names="has space"),
    case("report", *REPORT, "--to", "2025-01-01", names="is not before"),
    case("report", *REPORT, "--report-key", "{tmp}/nope.key", names="nope.key"),
    case("report", *REPORT, names="--checkpoint-pubkey"),
    case("report", *REPORT, "--checkpoint-pubkey", "{tmp}/k/cp.pub", names="missing-store"),
    case("report verify", "report", "verify", "{tmp}/nope", *VERIFY_KEYS, names="nope"),
    case(
        "report verify", "report", "verify", "{tmp}", "--pubkey", "{tmp}/k/bad.pub", names="bad.pub"
    ),
    case("report verify", "report", "verify", "{tmp}", names="--pubkey"),
    case("archive init", "archive", "init", "--archive", "ftp://x", names="ftp://x"),
    case(
        "archive init",
        "archive",
        "init",
        "--archive",
        "s3://bucket/x",
        names="127.0.0.1:9",
        AUDITSTREAM_S3_ENDPOINT="http://127.0.0.1:9",
        AUDITSTREAM_S3_ACCESS_KEY="a",
        AUDITSTREAM_S3_SECRET_KEY="b",
    ),
    case(
        "retention status",
        "retention",
        "status",
        "--archive",
        "file://{tmp}/missing-archive",
        names="missing-archive",
    ),
    case(
        "retention status",
        "retention",
        "status",
        "--archive",
        "file://{tmp}/archive",
        "--policy",
        "{tmp}/nope.toml",
        names="nope.toml",
    ),
    case(
        "retention apply",
        "retention",
        "apply",
        "--archive",
        "file://{tmp}/missing-archive",
        names="missing-archive",
    ),
    case(
        "replay",
        "replay",
        "--from",
        "s3://bucket/x",
        "--to-clickhouse",
        "chdb://{tmp}/replayed",
        names="credentials",
    ),
    case(
        "replay",
        "replay",
        "--from",
        "file://{tmp}/missing-archive",
        "--to-clickhouse",
        "chdb://{tmp}/replayed",
        names="missing-archive",
    ),
    case(
        "keys generate",
        "keys",
        "generate",
        "--hmac",
        "{tmp}/k/hmac.json",
        "--signer",
        "{tmp}/k/other.key",
        names="hmac.json",
    ),
    case(
        "keys generate",
        "keys",
        "generate",
        "--hmac",
        "{tmp}/k/new.json",
        "--signer",
        "{tmp}/k/new.key",
        "--name",
        "has space",
        names="has space",
    ),
    case("keys generate", "keys", "generate", "--hmac", "{tmp}/k/new2.json", names="--signer"),
    case(
        "keys generate", "keys", "generate", "--dead-letter", "{tmp}/k/hmac.json", names="hmac.json"
    ),
    case(
        "kafka acls",
        "kafka",
        "acls",
        "--apply",
        "--bootstrap",
        "127.0.0.1:9",
        "--timeout",
        "2",
        names="127.0.0.1:9",
    ),
    case(
        "kafka acls",
        "kafka",
        "acls",
        "--apply",
        "--kafka-security-protocol",
        "SASL_SSL",
        names="SASL_SSL needs a SASL mechanism",
    ),
    case(
        "kafka acls",
        "kafka",
        "acls",
        "--apply",
        "--kafka-security-protocol",
        "SSL",
        "--kafka-ca-file",
        "{tmp}/nope.pem",
        names="nope.pem",
    ),
    case("kafka acls", "kafka", "acls", "--timeout", "soon", names="--timeout"),
    case(
        "archive policy", "archive", "policy", "--archive", "file:///tmp/x", names="s3:// archive"
    ),
    case("archive policy", "archive", "policy", "--role", "admin", names="--role"),
    case("deadletter show", "deadletter", "show", "--key", "{tmp}/nope.key", names="nope.key"),
    case("deadletter show", "deadletter", "show", "--key", "{tmp}/k/hmac.json", names="hmac.json"),
    case("deadletter show", "deadletter", "show", "--offset", "3", names="--offset"),
    case("deadletter show", "deadletter", "show", "--limit", "-1", names="--limit"),
    case("deadletter show", "deadletter", "show", "--limit", "many", names="--limit"),
    case(
        "deadletter show",
        "deadletter",
        "show",
        "--bootstrap",
        "127.0.0.1:9",
        "--timeout",
        "2",
        names="127.0.0.1:9",
    ),
    case("keys rotate", "keys", "rotate", "--hmac", "{tmp}/nope.json", "--id", "k2", names="nope"),
    case(
        "keys rewrap",
        "keys",
        "rewrap",
        "--subject-vault",
        "{tmp}/no-vault",
        "--subject-keks",
        "{tmp}/k/hmac.json",
        names="no subject vault at",
    ),
    case(
        "keys rewrap",
        "keys",
        "rewrap",
        "--subject-vault",
        "{tmp}",
        "--subject-keks",
        "{tmp}/nope.json",
        names="nope.json",
    ),
    case("erase", *ERASE, "--subject", "x", names="--subject-vault"),
    case("erase", *ERASE, "--subject", "", *VAULT, names="--subject must not be empty"),
    case("erase", *ERASE, "--subject", "-", *VAULT, names="no subject id on standard input"),
    case("erase", *ERASE, "--subject", "x", *VAULT, names="missing-store"),
    case(
        "erase", *ERASE, "--subject", "x", "--subject-vault", "{tmp}/nope", names="no subject vault"
    ),
    case("erase", *ERASE, "--subject", "x", "--wait", "0", names="--wait"),
    case("verify-receipt", "verify-receipt", "{tmp}/text.json", *WEB_KEYS, names="not JSON"),
    case("verify-receipt", "verify-receipt", "{tmp}/empty.json", *WEB_KEYS, names="not an erasure"),
    case("verify-receipt", "verify-receipt", "{tmp}/empty.json", names="--public-keys"),
    case(
        "keys export-public",
        "keys",
        "export-public",
        "--signer",
        "{tmp}/k/bad.json",
        names="bad.json",
    ),
)


def subcommands() -> set[str]:
    """Every command of `auditstream --help`, with its actions ("keys generate")."""
    found: set[str] = set()

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    for name, sub in choices(build_parser()).items():
        actions = choices(sub)
        found |= {f"{name} {a}" for a in actions} if actions else {name}
    return found


@dataclass(frozen=True)
class Ran:
    case: Case
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Ran]]:
    tmp = tmp_path_factory.mktemp("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITSTREAM_", "AWS_"))}
    env |= {"AUDITSTREAM_STATE_DIR": str(tmp / "state"), "HOME": str(tmp)}

    def run(
        argv: list[str], extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditstream", *argv],
            env=env | (extra or {}),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    made = run(["keys", "generate", "--hmac", f"{tmp}/k/hmac.json", "--signer", f"{tmp}/k/cp.key"])
    assert made.returncode == 0, made.stderr
    (tmp / "k" / "cp.pub").write_text(
        run(["keys", "export-public", "--signer", f"{tmp}/k/cp.key"]).stdout
    )
    (tmp / "k" / "bad.json").write_text('{"active":')
    (tmp / "k" / "bad.json").chmod(0o600)  # key files are private, or a warning says so
    (tmp / "k" / "bad.pub").write_text("not a verifier key\n")
    (tmp / "text.json").write_text("not json at all")
    (tmp / "empty.json").write_text("{}")
    (tmp / "t.toml").write_text("[tokens]\n")
    (tmp / "a.toml").write_text(f'[tokens.a]\nsha256 = "{"ab" * 32}"\ntenants = ["acme"]\n')
    (tmp / "archive").mkdir()
    (tmp / "vault").mkdir()
    migrated = run(["migrate", "--clickhouse", CH.format(tmp=tmp)])
    assert migrated.returncode == 0, migrated.stderr

    def one(item: Case) -> Ran:
        argv = [a.format(tmp=tmp) for a in item.argv]
        done = run(argv, item.env)
        return Ran(item, done.returncode, done.stdout, done.stderr)

    # One process at a time may open the embedded store: those cases run in one lane.
    shared = [i for i, c in enumerate(CASES) if CH in c.argv]
    rest = [i for i in range(len(CASES)) if i not in shared]
    with ThreadPoolExecutor(max_workers=3) as pool:
        lane = pool.submit(lambda: [one(CASES[i]) for i in shared])
        done = dict(zip(rest, pool.map(lambda i: one(CASES[i]), rest), strict=True))
        done |= dict(zip(shared, lane.result(), strict=True))
    ran = [done[i] for i in range(len(CASES))]
    yield ran
    for name in ("missing-store", "missing-archive"):
        assert not (tmp / name).exists(), f"a read-only command created {name}"


def test_every_subcommand_has_bad_input_cases() -> None:
    assert subcommands() <= {c.command for c in CASES}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(c.argv[:3]) for c in CASES])
def test_bad_input_gets_one_line_naming_it(results: list[Ran], index: int) -> None:
    ran = results[index]
    assert "Traceback" not in ran.out + ran.err
    assert ran.code == ran.case.code, ran.err
    last = ran.err.strip().splitlines()[-1]
    assert last.startswith(f"auditstream {ran.case.command}:") or last.startswith(
        f"auditstream {ran.case.command.split()[0]}"
    ), last
    assert ran.case.names in last, last
    said = [line for line in ran.err.splitlines() if line.strip()]
    usage = [line for line in said if line.startswith(("usage:", " "))]
    assert [line for line in said if line not in usage] == [last], ran.err
