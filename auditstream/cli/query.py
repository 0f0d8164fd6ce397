"""`auditstream query`: named compliance queries, from a store or through the API."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.cli.render import render
from auditstream.clickhouse.client import connect
from auditstream.errors import ConfigError, QueryError
from auditstream.query.named import QUERIES
from auditstream.query.store import AuditStore


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run a named compliance query",
        description="Queries: " + ", ".join(sorted(QUERIES)),
    )
    common.add_settings_args(parser)
    common.add_clickhouse_args(parser)
    parser.add_argument("name", nargs="?", help="named query (see --list)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="query parameter"
    )
    parser.add_argument("--tenant", help="restrict to one tenant")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--sql", help="raw SQL on a read-only connection (needs --clickhouse)")
    parser.add_argument("--api", help="query API URL (e.g. http://127.0.0.1:8088)")
    parser.add_argument("--token-file", type=Path, help="file holding the API bearer token")
    parser.add_argument("--list", action="store_true", help="list the named queries")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for query in QUERIES.values():
            names = ", ".join(p.name + ("" if p.required else "?") for p in query.params)
            print(f"{query.name:20} {query.description}  ({names})")
        return 0
    params = dict(_pair(p) for p in args.param)
    if args.sql:
        if args.api:
            raise QueryError("raw SQL is not offered over the API; use --clickhouse")
        rows = _store(args).sql(args.sql)
    elif not args.name:
        raise QueryError("name a query (see --list) or give --sql")
    elif args.api:
        rows = _via_api(args, params)
    else:
        rows = _store(args).named(args.name, params, tenant=args.tenant)
    print(render(rows, args.format))
    return 0


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise QueryError(f"--param {text!r}: expected KEY=VALUE")
    return key, value


def _store(args: argparse.Namespace) -> AuditStore:
    settings = common.settings_from(args)
    client = connect(
        args.clickhouse or settings.effective_clickhouse_dsn,
        create=False,
        auth=settings.clickhouse,
    )
    return AuditStore(client, args.database or settings.clickhouse_database)


def _via_api(args: argparse.Namespace, params: dict[str, str]) -> list[dict[str, Any]]:
    if args.token_file is None:
        raise ConfigError("--api needs --token-file")
    try:
        token = args.token_file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read token file {args.token_file}: {exc.strerror}") from exc
    if args.tenant:
        params["tenant"] = args.tenant
    url = f"{args.api.rstrip('/')}/v1/queries/{args.name}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return list(json.loads(response.read())["rows"])
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise QueryError(f"API answered {exc.code}: {detail}") from exc
