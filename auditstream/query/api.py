"""The read-only JSON API (`/v1`), for auditors and tools without database access.

    GET  /v1/queries                         the named queries and their parameters
    GET  /v1/queries/{name}?k=v&tenant=      run one
    GET  /v1/entries?start=&end=&tenant=&limit=&cursor=
    GET  /v1/entries/{event_id}              one event's columns
    GET  /v1/entries/{event_id}/verification the verifier's verdict on that event
    GET  /v1/entries/{event_id}/proof        its inclusion proof bundle (`verify-proof`)
    POST /v1/search                          an AuditQuery as JSON
    GET  /v1/reports                         the evidence-pack frameworks and controls
    GET  /v1/reports/{framework}?tenant=&from=&to=&format=   a signed evidence pack (zip)

Every request carries `Authorization: Bearer <token>`. The tokens file (TOML) maps the
SHA-256 of each token to the tenants it may read (`["*"]` for all):

    [tokens.acme-auditor]
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    tenants = ["acme"]

Tokens themselves are never stored or logged. There is no raw SQL over HTTP. The
application that serves these routes (errors as JSON, size limit, headers) is
`auditstream.web.app`.
"""

import datetime as dt
import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from auditstream.errors import ConfigError, QueryError
from auditstream.query.named import QUERIES
from auditstream.query.store import AuditQuery, AuditStore, check_cursor, check_enum
from auditstream.verification.entry import EntryChecker, EntryVerdict, Status
from auditstream.web.packs import PackRequest, Packs, parse_request

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Grant:
    name: str
    digest: bytes
    tenants: frozenset[str] | None  # None: every tenant

    def __repr__(self) -> str:  # the digest is not a secret, but nothing needs to see it
        return f"Grant({self.name!r}, tenants={self.tenants!r})"


def load_tokens(path: Path) -> list[Grant]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"tokens file {path}: {exc}") from exc
    tokens = doc.get("tokens", {})
    if not isinstance(tokens, dict):
        raise ConfigError(f"{path}: [tokens] must be a table of named tokens")
    grants = []
    for name, spec in tokens.items():
        try:
            digest = bytes.fromhex(spec["sha256"])
            tenants = [str(t) for t in spec["tenants"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: token {name!r} needs sha256 and tenants") from exc
        if len(digest) != 32:
            raise ConfigError(f"{path}: token {name!r}: sha256 must be 64 hex digits")
        if isinstance(spec["tenants"], str) or not tenants:
            raise ConfigError(f"{path}: token {name!r}: tenants must be a non-empty list")
        grants.append(Grant(name, digest, None if "*" in tenants else frozenset(tenants)))
    return grants


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _iso_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from exc
    else:
        raise ValueError("an ISO 8601 time as a string, such as 2026-11-01T12:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


IsoTime = Annotated[dt.datetime, BeforeValidator(_iso_time)]
EnumValue = StrictStr | StrictInt


class SearchBody(BaseModel):
    """An `AuditQuery` as JSON. Enum fields take names (`EVENT_LOGIN` or `login`) or
    numbers; times are ISO 8601 (UTC when no offset is given)."""

    model_config = ConfigDict(extra="forbid")

    tenant: StrictStr | None = None
    actor: StrictStr | None = None
    resource: StrictStr | None = None
    event_types: list[EnumValue] = Field(default_factory=list)
    outcome: EnumValue | None = None
    min_severity: EnumValue | None = None
    min_sensitivity: EnumValue | None = None
    policy_tags: list[StrictStr] = Field(default_factory=list)
    start: IsoTime | None = None
    end: IsoTime | None = None
    text: StrictStr | None = None
    # A data subject's blind index (`subject_digests`): found also after its erasure.
    subject_digest: StrictStr | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    limit: StrictInt = Field(100, ge=1, le=MAX_LIMIT)
    cursor: StrictStr | None = None

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, values: list[str | int]) -> list[str | int]:
        for value in values:
            _enum("event_types", value)
        return values

    @field_validator("outcome", "min_severity", "min_sensitivity")
    @classmethod
    def _known_value(cls, value: str | int | None, info: Any) -> str | int | None:
        if value is not None:
            _enum(info.field_name, value)
        return value

    @field_validator("cursor")
    @classmethod
    def _valid_cursor(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_cursor(value)
            except QueryError as exc:
                raise ValueError("not a cursor this API handed out") from exc
        return value

    def to_query(self) -> AuditQuery:
        return AuditQuery(**self.model_dump())


def _enum(field_name: str, value: str | int) -> None:
    try:
        check_enum(field_name, value)
    except QueryError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from exc


class NotFoundError(QueryError):
    """The thing asked for does not exist within the caller's scope (404)."""


class ConflictError(QueryError):
    """The thing exists but cannot be given as asked (409), e.g. a proof of an entry
    that does not verify."""


@dataclass
class Backend:
    """What the routes need: a store per caller's scope, the entry verifier, a clock,
    and how a request's grant is found (bearer token, checked and rate limited)."""

    make_store: Callable[[frozenset[str] | None], AuditStore]
    checker: EntryChecker
    authenticate: Callable[[Request], Grant]
    packs: Packs
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def store(self, grant: Grant) -> AuditStore:
        return self.make_store(grant.tenants)

    def verdict(
        self, grant: Grant, event_id: str, chain: str | None = None
    ) -> tuple[dict[str, Any], EntryVerdict]:
        """The stored row of `event_id` (in the grant's scope) and its verdict."""
        store = self.store(grant)
        rows = store.sealed_entries(event_id, chain=chain, limit=2)
        if not rows:
            raise NotFoundError(f"no event {event_id!r} in your tenants")
        if len(rows) > 1:
            raise ConflictError(
                f"event {event_id!r} is stored more than once; give chain= to choose one"
            )
        return rows[0], self.checker.check(store, rows[0], self.now())


def only(*names: str) -> Callable[[Request], None]:
    """A dependency refusing query parameters other than `names` (a mistyped filter
    must not silently widen an audit query)."""

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(names))
        if unknown:
            raise QueryError(f"unknown query parameter {unknown[0]!r}; known: {', '.join(names)}")

    return check


def router(backend: Backend) -> APIRouter:
    # Who asks is found first, before any parameter is checked (a refusal is the
    # caller's, in the access log); the routes' own `caller` reuses that result.
    api = APIRouter(prefix="/v1", tags=["audit"], dependencies=[Depends(backend.authenticate)])
    caller = Annotated[Grant, Depends(backend.authenticate)]

    @api.get("/queries", summary="The named compliance queries and their parameters")
    def list_queries(grant: caller) -> dict[str, Any]:
        return {
            q.name: {
                "description": q.description,
                "params": [p.name for p in q.params],
                "required": [p.name for p in q.params if p.required],
            }
            for q in QUERIES.values()
        }

    @api.get("/queries/{name}", summary="Run a named query; its parameters as query string")
    def run_query(name: str, request: Request, grant: caller) -> dict[str, Any]:
        if name not in QUERIES:
            raise NotFoundError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}")
        params = dict(request.query_params)
        tenant = params.pop("tenant", None)
        return {"rows": backend.store(grant).named(name, params, tenant=tenant)}

    @api.get(
        "/entries",
        summary="Events in a time range, newest first",
        dependencies=[Depends(only("start", "end", "tenant", "limit", "cursor"))],
    )
    def list_entries(
        grant: caller,
        start: Annotated[IsoTime | None, Query()] = None,
        end: Annotated[IsoTime | None, Query()] = None,
        tenant: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        body = SearchBody(tenant=tenant, start=start, end=end, limit=limit, cursor=cursor)
        page = backend.store(grant).query(body.to_query())
        return {"rows": page.rows, "next_cursor": page.next_cursor}

    @api.get(
        "/entries/{event_id}",
        summary="One event's stored columns",
        dependencies=[Depends(only("tenant"))],
    )
    def get_entry(
        event_id: str, grant: caller, tenant: Annotated[str | None, Query()] = None
    ) -> dict[str, Any]:
        entry = backend.store(grant).get_entry(event_id, tenant=tenant)
        if entry is None:
            raise NotFoundError(f"no event {event_id!r} in your tenants")
        return entry

    @api.get(
        "/entries/{event_id}/verification",
        summary="Whether the event verifies: body, chain link, signed checkpoint",
        dependencies=[Depends(only("chain"))],
    )
    def verify_entry(
        event_id: str, grant: caller, chain: Annotated[str | None, Query()] = None
    ) -> dict[str, Any]:
        return backend.verdict(grant, event_id, chain)[1].to_json()

    @api.get(
        "/entries/{event_id}/proof",
        summary="The event's inclusion proof bundle, for `auditstream verify-proof`",
        dependencies=[Depends(only("chain"))],
    )
    def prove_entry(
        event_id: str, grant: caller, chain: Annotated[str | None, Query()] = None
    ) -> dict[str, Any]:
        return proof_of(backend.verdict(grant, event_id, chain)[1])

    @api.post("/search", summary="Search events with an AuditQuery")
    def search(body: SearchBody, grant: caller) -> dict[str, Any]:
        page = backend.store(grant).query(body.to_query())
        return {"rows": page.rows, "next_cursor": page.next_cursor}

    @api.get(
        "/reports",
        summary="The frameworks evidence packs are written for, and their controls",
        dependencies=[Depends(only())],
    )
    def list_reports(grant: caller) -> dict[str, Any]:
        return {"configured": backend.packs.configured, "frameworks": backend.packs.frameworks()}

    @api.get(
        "/reports/{framework}",
        summary="A signed evidence pack (zip) of one tenant and period; "
        "check it with `auditstream report verify`",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
    )
    def get_report(framework: str, request: Request, grant: caller) -> Response:
        backend.packs.check_configured()
        asked = parse_request(framework, dict(request.query_params), grant.tenants)
        return zip_response(backend.packs.zip(asked), asked)

    return api


def zip_response(data: bytes, asked: PackRequest) -> Response:
    disposition = f'attachment; filename="{asked.file_name()}.zip"'
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": disposition}
    )


def proof_of(verdict: EntryVerdict) -> dict[str, Any]:
    """The proof bundle of a verified entry; ConflictError saying why when the entry
    does not verify (its proof might still be valid, but the entry is not intact)."""
    if verdict.bundle is None or verdict.status is not Status.VERIFIED:
        reasons = [f.detail for f in verdict.findings] or [
            c.detail for c in verdict.checks if c.ok is not True
        ]
        raise ConflictError("no valid inclusion proof: " + "; ".join(reasons))
    return verdict.bundle
