"""A store and a running web application for console and API tests: events of two
tenants sealed by the production sealer (hostile strings included), loaded into real
ClickHouse, served by uvicorn over HTTPS with a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditstream.core.retention import parse_policy
from auditstream.core.validate import RawRecord
from auditstream.processors.engine import Outputs
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.query.api import Grant, token_digest
from auditstream.samples.workload import Workload, generate
from auditstream.settings import keyfiles
from auditstream.settings.resources import default_policy_file
from auditstream.web import app, server
from auditstream.web.packs import PackSettings
from tests.support.chains import SIGNER
from tests.support.engine_kit import sealer
from tests.support.store_kit import load_clickhouse

TENANT_A, TENANT_B = "tenant-000", "tenant-001"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
B_SECRET = "only-tenant-b-sees-this"


@dataclass(frozen=True)
class Tokens:
    a: str
    b: str
    everyone: str

    def grants(self) -> list[Grant]:
        return [
            Grant("auditor-a", token_digest(self.a), frozenset({TENANT_A})),
            Grant("auditor-b", token_digest(self.b), frozenset({TENANT_B})),
            Grant("operator", token_digest(self.everyone), None),
        ]


def new_tokens() -> Tokens:
    return Tokens(*(secrets.token_urlsafe(24) for _ in range(3)))


def hostile(tenant: str, n: int, message: str, now_ms: int, **fields: Any) -> pb.LogEntry:
    entry = pb.LogEntry(
        event_type=pb.EVENT_FILE_ACCESS,
        outcome=pb.OUTCOME_SUCCESS,
        severity=pb.SEVERITY_NOTICE,
        actor_id=f"{tenant}-{SCRIPT}",
        tenant_id=tenant,
        event_id=f"hostile-{tenant}-{n}",
        resource=IMG,
        message=message,
        **fields,
    )
    entry.event_time.FromMilliseconds(now_ms)
    return entry


def console_outputs(count: int = 600, uncovered: int = 3) -> Outputs:
    """`count` workload events of two tenants plus hostile ones, checkpoints every 200
    and one over each chain's tail; then `uncovered` more per chain that no checkpoint
    covers yet."""
    engine = sealer(checkpoint_every=200)
    now_ms = time.time_ns() // 1_000_000
    entries = list(generate(random.Random(15), count, Workload(tenants=2, actors_per_tenant=8)))
    step_ms = 14 * 86_400_000 // count  # two weeks of events, for the per-day charts
    for n, entry in enumerate(entries):
        entry.event_time.FromMilliseconds(now_ms - 14 * 86_400_000 + n * step_ms)
    for tenant in (TENANT_A, TENANT_B):
        entries.append(hostile(tenant, 0, SCRIPT, now_ms - 60_000))
        entries.append(hostile(tenant, 1, IMG, now_ms - 59_000))
    entries.append(hostile(TENANT_B, 2, B_SECRET, now_ms - 58_000))
    out = Outputs()

    def seal(batch: list[pb.LogEntry], first: int) -> None:
        records = [
            RawRecord("raw", 0, first + i, now_ms, e.tenant_id.encode(), e.SerializeToString(), ())
            for i, e in enumerate(batch)
        ]
        for start in range(0, len(records), 100):
            part = engine.process(records[start : start + 100], time.time_ns())
            out.sealed += part.sealed
            out.checkpoints += part.checkpoints
            assert not part.dead_letters, part.dead_letters

    seal(entries, 0)
    out.checkpoints += engine.due(time.time_ns() + 11_000_000_000).checkpoints  # past the interval
    tail = [
        hostile(t, 10 + i, f"late {i}", now_ms - 1000)
        for i in range(uncovered)
        for t in (TENANT_A, TENANT_B)
    ]
    seal(tail, len(entries))
    return out


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auditstream test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def pack_settings(folder: Path) -> PackSettings:
    """A new report key (its public half beside it as report.pub) and the default policy,
    for serving evidence packs."""
    keyfiles.write_new_signer(folder / "report.key", "test-web-reports")
    signer = keyfiles.load_signer(folder / "report.key")
    (folder / "report.pub").write_text(signer.verifier.encode() + "\n")
    text = default_policy_file().read_text(encoding="utf-8")
    return PackSettings(signer, text, parse_policy(text).version)


@contextmanager
def loaded(client: Any, name: str) -> Iterator[str]:
    """Database `name` holding `console_outputs()`, dropped afterwards."""
    client.command(f"DROP DATABASE IF EXISTS {name}")
    load_clickhouse(client, name, console_outputs())
    try:
        yield name
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")


@dataclass
class Served:
    url: str
    database: str
    tokens: Tokens
    cert: Path
    pubkey: Path

    def context(self) -> ssl.SSLContext:
        """A client TLS context trusting the test certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


@contextmanager
def serving(client: Any, database: str, folder: Path, **options: Any) -> Iterator[Served]:
    """The application over `database`, on HTTPS at a free port, until the block ends."""
    cert, key = tls_files(folder)
    pubkey = folder / "checkpoint.pub"
    pubkey.write_text(SIGNER.verifier.encode() + "\n")
    tokens = new_tokens()
    settings = app.Settings(
        client=client,
        database=database,
        grants=tokens.grants(),
        verifiers=[SIGNER.verifier],
        policy=parse_policy(default_policy_file().read_text(encoding="utf-8")),
        lock=options.pop("lock", threading.Lock()),
        tls=True,
        **options,
    )
    running = server.start(app.create_app(settings), server.Listen("127.0.0.1", 0, cert, key))
    try:
        yield Served(f"https://127.0.0.1:{running.port}", database, tokens, cert, pubkey)
    finally:
        running.stop()
