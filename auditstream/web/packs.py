"""Evidence packs over the web: the pack `auditstream report` writes (same builder,
same report key), built for one request and answered as a zip.

Only the packaged frameworks can be asked for (never a mapping file by path), for a
tenant of the caller's grant. The web app reads neither an archive nor the dead-letter
topic, so controls that need them say "not covered" with why; `auditstream report`
covers them. One pack is built at a time: a request that comes while another builds
is refused with 503 and Retry-After rather than queued on a loaded server.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import tempfile
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from starlette.exceptions import HTTPException

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import QueryError
from auditstream.query.access import is_tenant_id
from auditstream.query.store import AccessDeniedError
from auditstream.reports import frameworks, sources
from auditstream.reports.pack import FORMATS, PackOptions, Stores, build_pack, slug
from auditstream.reports.queries import Scope
from auditstream.web.jobs import Locked

PARAMS: Final = ("tenant", "from", "to", "format")
RETRY_AFTER: Final = "10"
NOT_READ: Final = (
    "the web app does not read the dead-letter topic; `auditstream report --dead-letters` does"
)


@dataclass(frozen=True)
class PackSettings:
    """What the web app needs to sign packs: the report key and the policy as used."""

    signer: NoteSigner
    policy_text: str
    policy_version: str

    def __repr__(self) -> str:
        return f"PackSettings(key={self.signer.verifier.name!r}, policy={self.policy_version!r})"


@dataclass(frozen=True)
class PackRequest:
    framework: str
    tenant: str
    start: dt.datetime
    end: dt.datetime
    formats: frozenset[str]

    def file_name(self) -> str:
        period = f"{self.start:%Y%m%dT%H%M%SZ}-{self.end:%Y%m%dT%H%M%SZ}"
        return slug(f"evidence-{self.framework}-{self.tenant}-{period}")


def _time(name: str, value: str | None) -> dt.datetime:
    if value is None or not value.strip():
        raise QueryError(f"{name}: required, an ISO 8601 time such as 2026-11-01T00:00:00Z")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise QueryError(f"{name}: not an ISO 8601 time: {value[:40]!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def parse_request(
    framework: str, params: Mapping[str, str], tenants: frozenset[str] | None
) -> PackRequest:
    """The pack asked for, checked: QueryError naming the field (400), or
    AccessDeniedError (403) for a tenant outside `tenants` (None: every tenant)."""
    if framework not in frameworks.framework_ids():
        raise QueryError(
            f"framework: unknown framework {framework[:60]!r}; "
            f"known: {', '.join(frameworks.framework_ids())}"
        )
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise QueryError(f"unknown query parameter {unknown[0][:40]!r}; known: {', '.join(PARAMS)}")
    tenant = (params.get("tenant") or "").strip()
    if not tenant:
        if tenants is None or len(tenants) != 1:
            raise QueryError("tenant: required (your token reads several tenants)")
        tenant = next(iter(tenants))
    if not is_tenant_id(tenant):
        raise QueryError(f"tenant: {tenant[:60]!r} is not a valid tenant id")
    if tenants is not None and tenant not in tenants:
        raise AccessDeniedError(f"tenant {tenant!r} is outside your token's tenants")
    start, end = _time("from", params.get("from")), _time("to", params.get("to"))
    if start >= end:
        raise QueryError(f"from: {start.isoformat()} is not before to {end.isoformat()}")
    given = frozenset(
        f.strip() for f in (params.get("format") or "md,html").split(",") if f.strip()
    )
    unknown = sorted(given - set(FORMATS))
    if unknown or not given:
        shown = ", ".join(unknown) or repr(params.get("format"))
        raise QueryError(f"format: unknown format {shown[:60]}; use {', '.join(FORMATS)}")
    return PackRequest(framework, tenant, start, end, given | {"json"})


class Packs:
    """Builds packs over the web app's store (each query under the store's lock)."""

    def __init__(
        self,
        client: ClickHouseClient,
        database: str,
        verifiers: Sequence[NoteVerifier],
        lock: threading.Lock,
        settings: PackSettings | None,
        described: str = "",
    ) -> None:
        self._client = Locked(client, lock)
        self._database = database
        self._verifiers = list(verifiers)
        self._settings = settings
        self._described = described
        self._building = threading.Lock()

    @property
    def configured(self) -> bool:
        return self._settings is not None

    def check_configured(self) -> PackSettings:
        """The pack settings, or 503 saying what the server lacks."""
        if self._settings is None:
            raise HTTPException(
                503,
                "evidence packs are not configured on this server: "
                "start it with --report-key FILE (the report signing key)",
            )
        if not self._verifiers:
            raise HTTPException(
                503,
                "evidence packs need the checkpoint public keys: "
                "start the server with --public-keys FILE",
            )
        return self._settings

    def frameworks(self) -> list[dict[str, Any]]:
        catalog = frameworks.load_catalog()
        found = []
        for name in frameworks.framework_ids():
            framework = frameworks.load_framework(name, catalog)
            found.append(
                {
                    "id": name,
                    "name": framework.name,
                    "framework_version": framework.framework_version,
                    "controls": [c.id for c in framework.controls],
                }
            )
        return found

    def zip(self, request: PackRequest) -> bytes:
        """The signed pack as a zip whose one top folder is `request.file_name()`."""
        settings = self.check_configured()
        if not self._building.acquire(blocking=False):
            raise HTTPException(
                503,
                "another evidence pack is being built; try again shortly",
                {"Retry-After": RETRY_AFTER},
            )
        try:
            with tempfile.TemporaryDirectory(prefix="auditstream-pack-") as scratch:
                folder = Path(scratch) / request.file_name()
                self._build(request, settings, folder)
                return _zip_folder(folder)
        finally:
            self._building.release()

    def _build(self, request: PackRequest, settings: PackSettings, out: Path) -> None:
        catalog_path = frameworks.packaged_dir() / "queries.toml"
        catalog = frameworks.load_catalog()
        options = PackOptions(
            framework=frameworks.load_framework(request.framework, catalog),
            catalog=catalog,
            catalog_text=catalog_path.read_text("utf-8"),
            scope=Scope(request.tenant, request.start, request.end, self._database),
            policy_text=settings.policy_text,
            policy_version=settings.policy_version,
            seed=secrets.randbits(63),
            formats=request.formats,
        )
        stores = Stores(
            self._client,  # type: ignore[arg-type]  # the two methods the builder calls
            self._verifiers,
            None,
            sources.dead_letters_unread(NOT_READ),
            self._described,
        )
        build_pack(options, stores, settings.signer, out)


def _zip_folder(folder: Path) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return data.getvalue()
