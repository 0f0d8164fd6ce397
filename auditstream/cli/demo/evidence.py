"""The demo's evidence: an auditor's review through the query API (which its access log
records as audit events), and at the end the SOC 2 evidence pack of the seed tenant."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from auditstream.archive.store import FileArchive, S3Archive
from auditstream.cli.demo.keys import DemoKeys
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteSigner
from auditstream.core.retention import parse_policy
from auditstream.errors import ConfigError
from auditstream.producers import AuditProducer
from auditstream.query.access import AccessLog
from auditstream.query.api import Grant, QueryApi, token_digest
from auditstream.query.store import AuditStore
from auditstream.reports import frameworks, render, sources
from auditstream.reports.pack import PackOptions, Stores, build_pack
from auditstream.reports.queries import Scope
from auditstream.settings import keyfiles
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
    """An auditor's reads of `tenant` through the query API, and one with a wrong token;
    returns how many access events the API's access log emitted for them."""
    token = secrets.token_urlsafe(24)
    api = QueryApi(
        lambda tenants: AuditStore(client, database, tenants=tenants, lock=lock),
        [Grant("demo-auditor", token_digest(token), frozenset({tenant}))],
        AccessLog(producer, chain_of=chain_of),
    )
    for path in REVIEWS:
        joiner = "&" if "?" in path else "?"
        api.handle("GET", f"{path}{joiner}tenant={tenant}", f"Bearer {token}", b"", "127.0.0.1")
    api.handle("GET", REVIEWS[0], "Bearer not-a-token", b"", "127.0.0.1")
    say(f"  + {len(REVIEWS)} reviews through the query API and one refused (its access log)")
    return len(REVIEWS) + 1


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
    dead_letters: tuple[str, str],
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
