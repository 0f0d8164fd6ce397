"""`auditstream verify`, `prove`, `prove-consistency`, `verify-proof` and
`verify-consistency`.

Exit codes: 0 intact (or proof valid), 1 tampering found (or proof invalid), 2 usage or
IO error. The checkpoint public keys always come from the caller, never from a store.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from auditstream.archive.store import open_archive
from auditstream.cli import common
from auditstream.cli.render import print_report
from auditstream.clickhouse.client import connect, redact
from auditstream.core.keys import Keyring, NoteVerifier
from auditstream.core.proofs import Checked, check_consistency, check_inclusion
from auditstream.errors import ConfigError
from auditstream.settings import keyfiles
from auditstream.verification import proofs
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Progress, Report, verify_sources
from auditstream.verification.sources import Source

log = logging.getLogger(__name__)
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _public_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-keys",
        "--pubkey",
        dest="public_keys",
        metavar="FILE",
        type=Path,
        help="trusted checkpoint verifier keys, one per line (`auditstream keys "
        "export-public`); default AUDITSTREAM_PUBLIC_KEYS_FILE",
    )


def register(subparsers: Any) -> None:
    verify = subparsers.add_parser(
        "verify", help="verify stored chains, checkpoints and columns (exit 1 on tampering)"
    )
    common.add_settings_args(verify)
    verify.add_argument("--clickhouse", metavar="DSN", help="verify this ClickHouse store")
    verify.add_argument("--database", default="auditstream", help="its database")
    verify.add_argument("--archive", metavar="URL", help="verify this archive (s3:// or file://)")
    verify.add_argument("--tenant", help="only this tenant's chains")
    verify.add_argument("--chain", help="only this chain")
    verify.add_argument(
        "--from", dest="start", type=common.iso_time, metavar="TIME", help="received from"
    )
    verify.add_argument(
        "--to", dest="end", type=common.iso_time, metavar="TIME", help="received before"
    )
    verify.add_argument("--keys", type=Path, metavar="FILE", help="HMAC keyring: check MACs too")
    _public_key_args(verify)
    verify.add_argument(
        "--no-columns", action="store_true", help="skip comparing ClickHouse columns with bodies"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, help="progress on stderr"
    )
    verify.set_defaults(func=run_verify)

    prove = subparsers.add_parser("prove", help="inclusion proof bundle for one event (JSON)")
    common.add_settings_args(prove)
    prove.add_argument("event_id", metavar="EVENT_ID")
    prove.add_argument("--clickhouse", metavar="DSN", help="store to read (default: settings)")
    prove.add_argument("--database", default="auditstream")
    prove.add_argument("--tenant", help="the event's tenant")
    prove.add_argument("--tree-size", type=int, help="prove against this checkpoint")
    prove.add_argument("--with-body", action="store_true", help="include the sealed body")
    prove.add_argument("--out", type=Path, help="write here instead of stdout")
    prove.set_defaults(func=run_prove)

    consistency = subparsers.add_parser(
        "prove-consistency", help="consistency proof bundle between two checkpoints (JSON)"
    )
    common.add_settings_args(consistency)
    consistency.add_argument("--chain", required=True)
    consistency.add_argument("--clickhouse", metavar="DSN")
    consistency.add_argument("--database", default="auditstream")
    consistency.add_argument("--old", type=int, help="older tree size (default: oldest)")
    consistency.add_argument("--new", type=int, help="newer tree size (default: newest)")
    consistency.add_argument("--out", type=Path, help="write here instead of stdout")
    consistency.set_defaults(func=run_prove_consistency)

    check = subparsers.add_parser(
        "verify-proof", help="check an inclusion proof offline with a public key"
    )
    check.add_argument("file", type=Path, metavar="FILE")
    _public_key_args(check)
    check.set_defaults(func=run_verify_proof)

    check_consistency = subparsers.add_parser(
        "verify-consistency", help="check a consistency proof offline with a public key"
    )
    check_consistency.add_argument("file", type=Path, metavar="FILE")
    _public_key_args(check_consistency)
    check_consistency.add_argument(
        "--held", type=Path, metavar="NOTE", help="a checkpoint you kept: must be the old one"
    )
    check_consistency.set_defaults(func=run_verify_consistency)


def _verifiers(args: argparse.Namespace) -> list[NoteVerifier]:
    path = args.public_keys or common.settings_from(args).public_keys_file
    if path is None:
        raise ConfigError(
            "give the checkpoint public key(s) with --public-keys FILE; verification never "
            "takes them from the store it verifies"
        )
    return keyfiles.load_verifiers(path)


def run_verify(args: argparse.Namespace) -> int:
    if not args.clickhouse and not args.archive:
        print("auditstream verify: give --clickhouse DSN and/or --archive URL", file=sys.stderr)
        return EXIT_ERROR
    report = _verify(args)  # a store that cannot be read is an error (exit 2), not a finding
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _verify(args: argparse.Namespace) -> Report:
    settings = common.settings_from(args)
    verifiers = _verifiers(args)
    keyring: Keyring | None = keyfiles.load_keyring(args.keys) if args.keys else None
    sources: list[Source] = []
    if args.clickhouse:
        log.debug("verifying ClickHouse %s (%s)", redact(args.clickhouse), args.database)
        sources.append(
            ClickHouseSource(
                connect(args.clickhouse, create=False),
                args.database,
                tenant=args.tenant,
                start=args.start,
                end=args.end,
                columns=not args.no_columns,
            )
        )
    if args.archive:
        archive = open_archive(args.archive, settings.s3, must_exist=True)
        log.debug("verifying archive %s", archive.url)
        sources.append(ArchiveSource(archive, tenant=args.tenant, start=args.start, end=args.end))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    return verify_sources(
        sources,
        note_verifiers=verifiers,
        keyring=keyring,
        chain=args.chain,
        progress=Progress(sys.stderr if show else None),
    )


def _write(doc: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def _proof_source(args: argparse.Namespace) -> proofs.ProofSource:
    settings = common.settings_from(args)
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    return proofs.ProofSource(connect(dsn, create=False), args.database)


def run_prove(args: argparse.Namespace) -> int:
    bundle = proofs.build_inclusion(
        _proof_source(args),
        args.event_id,
        tenant=args.tenant,
        tree_size=args.tree_size,
        with_body=args.with_body,
    )
    _write(bundle, args.out)
    return EXIT_OK


def run_prove_consistency(args: argparse.Namespace) -> int:
    bundle = proofs.build_consistency(_proof_source(args), args.chain, args.old, args.new)
    _write(bundle, args.out)
    return EXIT_OK


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} is not a proof bundle")
    return doc


def _verdict(checked: Checked) -> int:
    print(("VALID: " if checked.ok else "INVALID: ") + checked.message)
    return EXIT_OK if checked.ok else EXIT_FINDINGS


def run_verify_proof(args: argparse.Namespace) -> int:
    return _verdict(check_inclusion(_read_bundle(args.file), _verifiers(args)))


def run_verify_consistency(args: argparse.Namespace) -> int:
    held = None
    if args.held is not None:
        try:
            held = args.held.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.held}: {exc.strerror}") from exc
    return _verdict(check_consistency(_read_bundle(args.file), _verifiers(args), held))
