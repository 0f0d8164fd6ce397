"""The demo's evidence: an auditor's review through the web application's query API
(which its access log records as audit events), and at the end the SOC 2 evidence pack
of the seed tenant."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from auditstream.archive.store import FileArchive, S3Archive
from auditstream.cli.demo.keys import DemoKeys
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteSigner
from auditstream.core.retention import parse_policy
from auditstream.errors import ConfigError, DemoError
from auditstream.producers import AuditProducer
from auditstream.query.access import AccessLog
from auditstream.query.api import Grant, token_digest
from auditstream.reports import frameworks, render, sources
from auditstream.reports.pack import PackOptions, Stores, build_pack
from auditstream.reports.queries import Scope
from auditstream.settings import keyfiles
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import default_policy_file

REVIEWS = (
    "/v1/queries/failed_logins",
    "/v1/queries/guardrail_denials",
    "/v1/entries?limit=5",
)
FRAMEWORK = "soc2"


def review_through_api(
    producer: AuditProducer,
    client: ClickHouseClient,
    database: str,
    lock: threading.Lock,
    tenant: str,
    chain_of: Callable[[str], str],
    say: Callable[[str], None],
) -> int:
    """An auditor's reads of `tenant` over HTTP from the web application, and one with
    a wrong token; returns how many access events its access log emitted for them."""
    from auditstream.web import app, server  # noqa: PLC0415 - the web stack, only here

    token = secrets.token_urlsafe(24)
    web = app.Settings(
        client=client,
        database=database,
        grants=[Grant("demo-auditor", token_digest(token), frozenset({tenant}))],
        verifiers=[],
        policy=parse_policy(default_policy_file().read_text(encoding="utf-8")),
        lock=lock,
        access_log=AccessLog(producer, chain_of=chain_of),
    )
    running = server.start(app.create_app(web), server.Listen(port=0))
    base = f"http://127.0.0.1:{running.port}"
    try:
        for path in REVIEWS:
            joiner = "&" if "?" in path else "?"
            _expect(200, base, f"{path}{joiner}tenant={tenant}", token)
        _expect(401, base, REVIEWS[0], "not-a-token")
    finally:
        running.stop()
    say(f"  + {len(REVIEWS)} reviews through the query API and one refused (its access log)")
    return len(REVIEWS) + 1


def _expect(status: int, base: str, target: str, token: str) -> None:
    """GET `target` of `base` with a bearer token; DemoError unless the answer has `status`."""
    request = urllib.request.Request(  # noqa: S310 - base is http://127.0.0.1:port
        base + target, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - as above
            response.read()
            got = int(response.status)
    except urllib.error.HTTPError as exc:
        got = exc.code
    if got != status:
        raise DemoError(f"the query API answered {got} to GET {target}, not {status}")


def report_key(folder: Path) -> NoteSigner:
    """The demo's report key, made once beside its other keys."""
    path = folder / "report.key"
    if not path.exists():
        signer = keyfiles.write_new_signer(path, "auditstream-demo-reports")
        (folder / "report.pub").write_text(signer.verifier.encode() + "\n")
    return keyfiles.load_signer(path)


def write_pack(
    out: Path,
    client: ClickHouseClient,
    database: str,
    archive: FileArchive | S3Archive,
    keys: DemoKeys,
    dead_letters: tuple[KafkaConnection, str],
    period: tuple[dt.datetime, dt.datetime],
    tenant: str,
    say: Callable[[str], None],
) -> Path:
    """The SOC 2 pack of `tenant` for the period, with the PDF when WeasyPrint works."""
    catalog = frameworks.load_catalog()
    policy_text = default_policy_file().read_text("utf-8")
    formats = frozenset({"md", "html", "json", "pdf"})
    try:
        render.pdf_renderer()
    except ConfigError as exc:
        say(f"(no PDF in the evidence pack: {exc})")
        formats -= {"pdf"}
    options = PackOptions(
        framework=frameworks.load_framework(FRAMEWORK, catalog),
        catalog=catalog,
        catalog_text=(frameworks.packaged_dir() / "queries.toml").read_text("utf-8"),
        scope=Scope(tenant, period[0], period[1], database),
        policy_text=policy_text,
        policy_version=parse_policy(policy_text).version,
        seed=secrets.randbits(63),
        formats=formats,
    )
    letters = sources.dead_letters(dead_letters[0], dead_letters[1], tenant, *period)
    stores = Stores(
        client, keyfiles.load_verifiers(keys.public), archive, letters, "the demo's ClickHouse"
    )
    doc = build_pack(options, stores, report_key(keys.public.parent), out)
    summary = doc["summary"]
    say(
        f"\n== evidence pack ({doc['framework']['name']}, tenant {tenant}): {summary['met']} met, "
        f"{summary['attention']} attention, {summary['not_covered']} not covered\n{out}\n"
        f"check it: auditstream report verify {out} --pubkey {keys.public.parent}/report.pub "
        f"--checkpoint-pubkey {keys.public}"
    )
    return out
