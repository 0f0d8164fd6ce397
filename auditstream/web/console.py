"""The auditor's console: server-rendered pages over the same backend as the API.

    /signin /signout          a bearer token becomes a session (see `auth`)
    /search                   every AuditQuery field, presets, cursor pages, CSV/JSON
    /event?id=&chain=         decoded fields, classification, chain position, verdict
    /event/proof.json         the inclusion proof bundle `auditstream verify-proof` checks
    /chains                   per chain: entries, last seq, checkpoint, verification
    /verifications/{id}       a range verification's progress and result
    /queries, /queries/{name} the named compliance queries, with charts
    /retention                policy classes, oldest retained data, legal holds
    /reports, /reports/download   a signed evidence pack per framework, as a zip

Plain HTML forms and no script at all: the pages work under a CSP without
'unsafe-inline', and a running verification refreshes itself with a meta refresh.
Jinja2 escapes every value; tenant scope is the session's grant, applied by the store.
"""

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.exceptions import HTTPException

from auditstream.core.retention import Policy
from auditstream.errors import QueryError
from auditstream.query import api
from auditstream.query.named import QUERIES
from auditstream.query.store import ENTRY_COLUMNS, AccessDeniedError, enum_choices, jsonable
from auditstream.reports.pack import FORMATS
from auditstream.verification.entry import Status
from auditstream.web import charts, exports, forms
from auditstream.web.access import note_grant
from auditstream.web.auth import COOKIE, Authenticator, Session, same_token
from auditstream.web.jobs import Jobs
from auditstream.web.packs import parse_request
from auditstream.web.resources import TEMPLATES

API_PREFIXES = ("/v1/", "/v1", "/health", "/metrics", "/static/")
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
ENV.filters["hex"] = forms.hex_or_empty
ENV.globals["STATUS"] = Status


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def render(
    request: Request, template: str, code: int = 200, headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:  # fmt: skip
    values.setdefault("session", None)
    html = ENV.get_template(template).render(request=request, **values)
    return HTMLResponse(html, code, headers=dict(headers or {}))


def error_page(request: Request, status: int, message: str, headers: Mapping[str, str]) -> Response:
    if status == 303 and "location" in {k.lower() for k in headers}:
        return RedirectResponse(headers.get("Location", "/signin"), 303)
    if status in (401, 429) and request.url.path == "/signin":
        return render(request, "signin.html", status, headers, next="/search", message=message)
    return render(request, "error.html", status, headers, status=status, message=message)


class SignInNeeded(HTTPException):
    def __init__(self, request: Request) -> None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        super().__init__(303, "sign in", {"Location": "/signin?" + urlencode({"next": target})})


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/search"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _same_origin(request: Request) -> bool:
    """Whether a form was posted from this site. Browsers say so in Sec-Fetch-Site;
    under `Referrer-Policy: no-referrer` their Origin header is "null", so Origin only
    counts when it names a site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@dataclass
class Console:
    backend: api.Backend
    auth: Authenticator
    jobs: Jobs
    policy: Policy

    def session(self, request: Request) -> Session:
        found = self.auth.session(request.cookies.get(COOKIE))
        if found is None:
            raise SignInNeeded(request)
        note_grant(request, found.grant)
        return found

    def checked_post(self, request: Request, session: Session, csrf: str | None) -> None:
        if not same_token(session.csrf, csrf) or not _same_origin(request):
            raise HTTPException(403, "the form is stale or from another site; reload the page")


def router(console: Console) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    for routes in (
        _session_routes, _search_routes, _event_routes, _chain_routes, _report_routes,
        _pack_routes,
    ):  # fmt: skip
        routes(pages, console)
    return pages


def _page(request: Request, template: str, session: Session, **values: Any) -> HTMLResponse:
    tenants = session.grant.tenants
    return render(
        request, template, session=session,
        tenants=sorted(tenants) if tenants is not None else None, **values,
    )  # fmt: skip


def _session_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]

    @pages.get("/")
    def home(request: Request) -> Response:
        found = console.auth.session(request.cookies.get(COOKIE))
        return RedirectResponse("/search" if found else "/signin", 303)

    @pages.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @pages.get("/signin")
    def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
        return render(request, "signin.html", next=_safe_next(next), message=None)

    @pages.post("/signin")
    def sign_in(
        request: Request,
        token: Annotated[str, Form(max_length=4096)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "sign-in from another site refused")
        session_id, session = console.auth.sign_in(token, _client(request))
        note_grant(request, session.grant)
        response = RedirectResponse(_safe_next(next), 303)
        response.set_cookie(
            COOKIE, session_id, httponly=True, secure=True, samesite="strict", path="/"
        )
        return response

    @pages.post("/signout")
    def sign_out(
        request: Request, session: signed_in, csrf: Annotated[str, Form(max_length=200)] = ""
    ) -> Response:
        console.checked_post(request, session, csrf)
        console.auth.sign_out(request.cookies.get(COOKIE))
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response


def _search_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]
    backend = console.backend

    def search_of(request: Request) -> tuple[Any, dict[str, list[str]]]:
        form = {k: request.query_params.getlist(k) for k in request.query_params}
        return forms.search_body(form, backend.now()).to_query(), form

    choices = {
        name: enum_choices(name)
        for name in ("event_types", "outcome", "min_severity", "min_sensitivity")
    }

    @pages.get("/search")
    def search(request: Request, session: signed_in) -> HTMLResponse:
        values: dict[str, Any] = {
            "form": {}, "rows": [], "next_cursor": None, "error": None, "choices": choices,
            "presets": list(forms.PRESETS), "columns": ENTRY_COLUMNS, "query_string": "",
        }  # fmt: skip
        status = 200
        try:
            query, form = search_of(request)
            values["form"] = form
            page_ = backend.store(session.grant).query(query)
            values |= {"rows": page_.rows, "next_cursor": page_.next_cursor}
            kept = [(k, v) for k, vs in form.items() if k != "cursor" for v in vs]
            values["query_string"] = urlencode(kept)
        except (forms.FormError, QueryError) as exc:
            values["error"] = str(exc)
            status = 400
        response = _page(request, "search.html", session, **values)
        response.status_code = status
        return response

    def export(request: Request, session: Session, kind: str) -> Response:
        try:
            query, _ = search_of(request)
        except forms.FormError as exc:
            raise QueryError(str(exc)) from exc
        query = dataclasses.replace(query, cursor=None)
        store = backend.store(session.grant)
        store.query(dataclasses.replace(query, limit=1))  # refuse a bad scope before streaming
        chunks = (
            exports.csv_chunks(store, query) if kind == "csv" else exports.json_chunks(store, query)
        )
        media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
        disposition = f'attachment; filename="auditstream-events.{kind}"'
        return StreamingResponse(
            chunks, media_type=media, headers={"Content-Disposition": disposition}
        )

    @pages.get("/search/export.csv")
    def export_csv(request: Request, session: signed_in) -> Response:
        return export(request, session, "csv")

    @pages.get("/search/export.json")
    def export_json(request: Request, session: signed_in) -> Response:
        return export(request, session, "json")


def _event_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]
    backend = console.backend

    @pages.get("/event")
    def event(
        request: Request,
        session: signed_in,
        id: str = "",
        chain: str | None = None,
    ) -> HTMLResponse:
        store = backend.store(session.grant)
        rows = store.sealed_entries(id, chain=chain, limit=10) if id else []
        if not rows:
            raise api.NotFoundError(f"no event {id!r} in your tenants")
        if len(rows) > 1:
            return _page(request, "choose.html", session, event_id=id, rows=[
                {"chain_id": r["chain_id"], "seq": r["seq"], "tenant_id": r["tenant_id"]}
                for r in rows
            ])  # fmt: skip
        row = rows[0]
        verdict = backend.checker.check(store, row, backend.now())
        body = verdict.body
        return _page(
            request, "event.html", session,
            row=row, columns={c: jsonable(row[c]) for c in ENTRY_COLUMNS},
            verdict=verdict, fields=forms.body_fields(body) if body else None,
            detections=list(body.classification.detections) if body else [],
            proof_query=urlencode({"id": id, "chain": row["chain_id"]}),
            checkpoint_note=verdict.checkpoint.note.decode() if verdict.checkpoint else None,
            age=_age(backend.now(), verdict.checkpoint_time),
        )  # fmt: skip

    @pages.get("/event/proof.json")
    def event_proof(
        request: Request,
        session: signed_in,
        id: str = "",
        chain: str | None = None,
    ) -> Response:
        bundle = api.proof_of(backend.verdict(session.grant, id, chain)[1])
        disposition = f'attachment; filename="{forms.download_name(id)}"'
        return JSONResponse(bundle, headers={"Content-Disposition": disposition})


def _chain_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]
    backend = console.backend

    @pages.get("/chains")
    def chains(request: Request, session: signed_in) -> HTMLResponse:
        now = backend.now()
        summaries = backend.store(session.grant).chain_summaries()
        last = console.jobs.last_results()
        for row in summaries:
            row["age"] = _age(now, row["checkpoint_time"])
            row["uncovered"] = int(row["last_seq"]) + 1 - row["checkpoint_size"]
            row["last"] = last.get(row["chain_id"])
        return _page(
            request, "chains.html", session, chains=summaries,
            jobs=console.jobs.recent(session.grant.tenants), error=None,
        )  # fmt: skip

    @pages.post("/chains/verify")
    def start_verification(
        request: Request,
        session: signed_in,
        csrf: Annotated[str, Form(max_length=200)] = "",
        chain: Annotated[str, Form(max_length=200)] = "",
        start: Annotated[str, Form(max_length=64)] = "",
        end: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        console.checked_post(request, session, csrf)
        summaries = backend.store(session.grant).chain_summaries()
        known = {row["chain_id"]: row for row in summaries}
        if chain and chain not in known:
            raise api.NotFoundError(f"no chain {chain!r} in your tenants")
        tenants = session.grant.tenants
        tenant = known[chain]["tenant_id"] if chain else None
        if tenant is None and tenants is not None:
            if len(tenants) != 1:
                raise QueryError("chain: choose a chain (your token reads several tenants)")
            tenant = next(iter(tenants))
        try:
            times = forms.search_body({"start": [start], "end": [end]}, backend.now())
        except forms.FormError as exc:
            raise QueryError(str(exc)) from exc
        total = sum(
            int(r["entries"]) for c, r in known.items()
            if (not chain or c == chain) and (tenant is None or r["tenant_id"] == tenant)
        )  # fmt: skip
        job = console.jobs.start(
            tenant=tenant, chain=chain or None, start=times.start, end=times.end,
            total=total, requested_by=session.grant.name,
        )  # fmt: skip
        return RedirectResponse(f"/verifications/{job.id}", 303)

    @pages.get("/verifications/{job_id}")
    def verification(request: Request, session: signed_in, job_id: str) -> HTMLResponse:
        job = console.jobs.get(job_id, session.grant.tenants)
        if job is None:
            raise api.NotFoundError(f"no verification {job_id!r}")
        return _page(request, "verification.html", session, job=job)


def _report_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]
    backend = console.backend

    @pages.get("/queries")
    def query_list(request: Request, session: signed_in) -> HTMLResponse:
        return _page(request, "queries.html", session, queries=list(QUERIES.values()))

    @pages.get("/queries/{name}")
    def named_query(request: Request, session: signed_in, name: str) -> HTMLResponse:
        query = QUERIES.get(name)
        if query is None:
            raise api.NotFoundError(f"unknown query {name!r}")
        given = {k: v for k, v in request.query_params.items() if v.strip()}
        tenant = given.pop("tenant", None)
        preset = given.pop("preset", None)
        rows: list[dict[str, Any]] = []
        error = None
        ran = bool(request.query_params) or not any(p.required for p in query.params)
        try:
            if preset is not None and "start" not in given:
                if preset not in forms.PRESETS:
                    raise QueryError(f"preset must be one of {', '.join(forms.PRESETS)}")
                span = forms.PRESETS[preset]
                if span is not None:
                    given["start"] = (backend.now() - span).isoformat()
            if ran:
                rows = backend.store(session.grant).named(name, given, tenant=tenant)
        except QueryError as exc:
            error = str(exc)
        response = _page(
            request, "query.html", session, query=query, form=dict(request.query_params),
            rows=rows, error=error, chart=charts.chart_for(name, rows), ran=ran,
            presets=list(forms.PRESETS),
        )  # fmt: skip
        response.status_code = 400 if error else 200
        return response

    @pages.get("/retention")
    def retention(request: Request, session: signed_in) -> HTMLResponse:
        store = backend.store(session.grant)
        summary = [
            {k: jsonable(v) for k, v in r.items()} for r in store.retention_summary(backend.now())
        ]
        return _page(
            request, "retention.html", session, policy=console.policy,
            summary=summary, holds=store.legal_holds(100),
        )  # fmt: skip


def _age(now: dt.datetime, then: dt.datetime | None) -> str:
    if then is None:
        return "never"
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    seconds = int((now - then).total_seconds())
    when = "ago" if seconds >= 0 else "in the future (check the clocks)"
    seconds = abs(seconds)
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} {when}"
    return f"{seconds} s {when}"


PACK_PERIOD = dt.timedelta(days=30)


def _pack_routes(pages: APIRouter, console: Console) -> None:
    signed_in = Annotated[Session, Depends(console.session)]
    packs = console.backend.packs

    def form_page(
        request: Request, session: Session, form: dict[str, str], error: str | None
    ) -> HTMLResponse:
        response = _page(
            request, "reports.html", session, form=form, error=error,
            configured=packs.configured, frameworks=packs.frameworks(), formats=FORMATS,
        )  # fmt: skip
        response.status_code = 400 if error else 200
        return response

    @pages.get("/reports")
    def reports(request: Request, session: signed_in) -> HTMLResponse:
        now = console.backend.now().astimezone(dt.UTC).replace(microsecond=0, tzinfo=None)
        form = {
            "framework": "", "tenant": "", "format": "pdf",
            "from": (now - PACK_PERIOD).isoformat(), "to": now.isoformat(),
        }  # fmt: skip
        return form_page(request, session, form, None)

    @pages.get("/reports/download")
    def download(request: Request, session: signed_in) -> Response:
        packs.check_configured()
        params = dict(request.query_params)
        framework = params.pop("framework", "")
        try:
            asked = parse_request(framework, params, session.grant.tenants)
        except AccessDeniedError:
            raise
        except QueryError as exc:
            form = {"framework": framework, "tenant": "", "format": "", "from": "", "to": ""}
            return form_page(request, session, form | params, str(exc))
        return api.zip_response(packs.zip(asked), asked)
