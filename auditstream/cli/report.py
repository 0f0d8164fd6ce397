"""`auditstream report` (write a signed evidence pack) and `auditstream report verify`
(check one offline).

Exit codes: 0 pack written (or valid), 1 the pack does not verify, 2 usage, input or
IO error. Checkpoint public keys always come from the caller, never from a store or a
pack; the report key signs the manifest and is never printed.
"""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path
from typing import Any

from auditstream.archive.store import open_archive
from auditstream.cli import common
from auditstream.clickhouse.client import connect, redact
from auditstream.core.keys import NoteVerifier
from auditstream.errors import ConfigError
from auditstream.query.access import is_tenant_id
from auditstream.reports import frameworks, sources
from auditstream.reports.pack import FORMATS, PackOptions, Stores, build_pack
from auditstream.reports.queries import Scope
from auditstream.reports.verify import verify_pack
from auditstream.settings import keyfiles
from auditstream.settings.resources import default_policy_file

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2
MAX_SAMPLE = 50


def _formats(text: str) -> frozenset[str]:
    found = frozenset(f.strip() for f in text.split(",") if f.strip())
    unknown = sorted(found - set(FORMATS))
    if unknown or not found:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or text!r}; use {', '.join(FORMATS)} (comma list)"
        )
    return found | {"json"}


def _checkpoint_keys_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint-pubkey",
        type=Path,
        metavar="FILE",
        help="trusted checkpoint verifier keys (default AUDITSTREAM_PUBLIC_KEYS_FILE)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a signed compliance evidence pack for a framework (or verify one)",
        description="Frameworks: " + ", ".join(frameworks.framework_ids()),
    )
    common.add_settings_args(parser)
    common.add_clickhouse_args(parser)
    parser.add_argument("--framework", help="framework id, or a mapping .toml file")
    parser.add_argument("--tenant", help="the tenant the pack is about")
    parser.add_argument(
        "--from", dest="start", type=common.iso_time, metavar="TIME", help="period start"
    )
    parser.add_argument("--to", dest="end", type=common.iso_time, metavar="TIME", help="period end")
    parser.add_argument(
        "--format",
        type=_formats,
        default=frozenset({"md", "html", "json"}),
        help="md, html, pdf, json, comma separated (report.json is always written)",
    )
    parser.add_argument("--out", type=Path, help="pack folder to create (must be new or empty)")
    parser.add_argument("--report-key", type=Path, help="Ed25519 signer key file for the manifest")
    _checkpoint_keys_arg(parser)
    parser.add_argument(
        "--archive", metavar="URL", help="also verify this archive (s3:// or file://)"
    )
    parser.add_argument(
        "--dead-letters", action="store_true", help="read the dead-letter topic for the period"
    )
    parser.add_argument("--policy", type=Path, help="retention policy file (default: packaged)")
    parser.add_argument("--sample", type=int, default=3, help="inclusion proofs per control")
    parser.add_argument("--seed", type=int, help="sample seed (default: random, printed)")
    parser.add_argument("--list", action="store_true", help="list the frameworks and controls")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    check = actions.add_parser("verify", help="check an evidence pack offline with public keys")
    check.add_argument("pack", type=Path, metavar="PACK")
    check.add_argument(
        "--pubkey", type=Path, metavar="FILE", required=True, help="trusted report verifier keys"
    )
    _checkpoint_keys_arg(check)
    check.add_argument("--config", type=Path, help="TOML settings file")
    check.add_argument("--json", action="store_true", help="print the outcome as JSON")
    check.set_defaults(func=run_verify)


def _checkpoint_keys(args: argparse.Namespace) -> list[NoteVerifier]:
    return common.checkpoint_verifiers(args, args.checkpoint_pubkey, "--checkpoint-pubkey")


def _list() -> int:
    catalog = frameworks.load_catalog()
    for name in frameworks.framework_ids():
        framework = frameworks.load_framework(name, catalog)
        print(f"{name:12} {framework.name} {framework.framework_version}")
        for control in framework.controls:
            print(f"  {control.id:22} {control.title[:90]}")
    return EXIT_OK


def _require(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--framework", args.framework),
        ("--tenant", args.tenant),
        ("--from", args.start),
        ("--to", args.end),
        ("--out", args.out),
        ("--report-key", args.report_key),
    ):
        if value is None:
            raise ConfigError(f"give {flag} (see auditstream report --help)")
    if not is_tenant_id(args.tenant):
        raise ConfigError(f"--tenant {args.tenant[:80]!r} is not a valid tenant id")
    if args.start >= args.end:
        raise ConfigError(
            f"--from {args.start.isoformat()} is not before --to {args.end.isoformat()}"
        )
    if not 0 <= args.sample <= MAX_SAMPLE:
        raise ConfigError(f"--sample {args.sample} must be between 0 and {MAX_SAMPLE}")
    if args.seed is not None and not 0 <= args.seed < 2**64:
        raise ConfigError(f"--seed {args.seed} must be between 0 and 2**64 - 1")


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    _require(args)
    settings = common.settings_from(args)
    catalog_path = frameworks.packaged_dir() / "queries.toml"
    catalog = frameworks.load_catalog()
    framework = frameworks.load_framework(args.framework, catalog)
    signer = keyfiles.load_signer(args.report_key)
    verifiers = _checkpoint_keys(args)
    policy_path = settings.policy_file or default_policy_file()
    policy = common.policy(settings)
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    database = args.database or settings.clickhouse_database
    archive = open_archive(args.archive, settings.s3, must_exist=True) if args.archive else None
    scope = Scope(args.tenant, args.start, args.end, database)
    stores = Stores(
        connect(dsn, create=False, auth=settings.clickhouse),
        verifiers,
        archive,
        described=redact(dsn),
    )
    if args.dead_letters:
        letters = sources.dead_letters(
            settings.kafka, settings.topics.deadletter, args.tenant, args.start, args.end
        )
        stores = Stores(stores.client, verifiers, archive, letters, stores.described)
    seed = args.seed if args.seed is not None else secrets.randbits(63)
    options = PackOptions(
        framework=framework,
        catalog=catalog,
        catalog_text=catalog_path.read_text("utf-8"),
        scope=scope,
        policy_text=policy_path.read_text("utf-8"),
        policy_version=policy.version,
        seed=seed,
        sample_size=args.sample,
        formats=args.format,
    )
    doc = build_pack(options, stores, signer, args.out)
    summary = doc["summary"]
    print(
        f"{framework.name} evidence pack for tenant {args.tenant}: {summary['met']} met, "
        f"{summary['attention']} attention, {summary['not_covered']} not covered; "
        f"sample seed {seed}\nwrote {args.out}"
    )
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    report_keys = keyfiles.load_verifiers(args.pubkey)
    outcome = verify_pack(args.pack, report_keys, _checkpoint_keys(args))
    if args.json:
        print(
            json.dumps(
                {"ok": outcome.ok, "checked": outcome.checked, "problems": outcome.problems},
                indent=2,
            )
        )
    else:
        for line in outcome.checked:
            print(f"ok       {line}")
        for line in outcome.problems:
            print(f"INVALID  {line}")
        print(f"{'VALID' if outcome.ok else 'INVALID'}: {args.pack}")
    return EXIT_OK if outcome.ok else EXIT_INVALID
