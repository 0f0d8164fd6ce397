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
from auditstream.archive.tlog import ArchiveLog
from auditstream.cli import common
from auditstream.cli.render import print_report
from auditstream.clickhouse.client import connect, redact
from auditstream.core import note
from auditstream.core.cosignature import CosignatureVerifier, WitnessPolicy
from auditstream.core.keys import Keyring, NoteVerifier
from auditstream.core.proofs import Checked, check_consistency, check_inclusion
from auditstream.errors import ConfigError, KeyMaterialError
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


def _witness_key(text: str) -> CosignatureVerifier:
    try:
        return CosignatureVerifier.parse(text)
    except KeyMaterialError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _quorum(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a quorum is a whole number of at least 1, not {text!r}")
    return int(text)


def _witness_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--witness-key",
        dest="witness_keys",
        metavar="VKEY",
        type=_witness_key,
        action="append",
        default=[],
        help="a trusted witness's cosignature/v1 verifier key (repeatable); checkpoints "
        "need --quorum valid cosignatures from these",
    )
    parser.add_argument(
        "--quorum",
        type=_quorum,
        metavar="N",
        help="valid cosignatures each checkpoint needs (default 1 with --witness-key)",
    )


def register(subparsers: Any) -> None:
    verify = subparsers.add_parser(
        "verify",
        help="verify stored chains, checkpoints, columns and producer completeness "
        "(exit 1 on tampering or on producer events never sealed)",
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
    _witness_args(verify)
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
    prove.add_argument(
        "--archive",
        metavar="URL",
        help="add the witness cosignatures the archive (s3:// or file://) holds for the checkpoint",
    )
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
    _witness_args(check)
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
    return common.checkpoint_verifiers(args, args.public_keys, "--public-keys")


def _witnesses(args: argparse.Namespace) -> WitnessPolicy | None:
    if not args.witness_keys:
        if args.quorum is not None:
            raise ConfigError("--quorum needs the witness keys to count: give --witness-key")
        return None
    return WitnessPolicy.of(args.witness_keys, args.quorum)


def run_verify(args: argparse.Namespace) -> int:
    if not args.clickhouse and not args.archive:
        print("auditstream verify: give --clickhouse DSN and/or --archive URL", file=sys.stderr)
        return EXIT_ERROR
    report = _verify(args)  # a store that cannot be read is an error (exit 2), not a finding
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, sys.stdout)
    return EXIT_OK if report.ok and report.complete else EXIT_FINDINGS


def _verify(args: argparse.Namespace) -> Report:
    settings = common.settings_from(args)
    verifiers = _verifiers(args)
    witnesses = _witnesses(args)
    keyring: Keyring | None = keyfiles.load_keyring(args.keys) if args.keys else None
    sources: list[Source] = []
    if args.clickhouse:
        log.debug("verifying ClickHouse %s (%s)", redact(args.clickhouse), args.database)
        sources.append(
            ClickHouseSource(
                connect(args.clickhouse, create=False, auth=settings.clickhouse),
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
        witnesses=witnesses,
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
    return proofs.ProofSource(connect(dsn, create=False, auth=settings.clickhouse), args.database)


def run_prove(args: argparse.Namespace) -> int:
    bundle = proofs.build_inclusion(
        _proof_source(args),
        args.event_id,
        tenant=args.tenant,
        tree_size=args.tree_size,
        with_body=args.with_body,
    )
    if args.archive:
        _add_cosignatures(bundle, args.archive, common.settings_from(args))
    _write(bundle, args.out)
    return EXIT_OK


def _add_cosignatures(bundle: dict[str, Any], url: str, settings: Any) -> None:
    """Append to the bundle's checkpoint the cosignatures stored beside it in the
    archive (a verifier still checks them against the witness keys it trusts)."""
    archive = open_archive(url, settings.s3, must_exist=True)
    chain_log = ArchiveLog(archive, str(bundle["chain_id"]))
    signed = str(bundle["checkpoint"]).encode()
    for dated in chain_log.history():
        if dated.size == bundle["tree_size"]:
            cosigned = chain_log.cosigned(dated)
            if cosigned is not None:
                signed = note.merge([signed, cosigned])[0]
    bundle["checkpoint"] = signed.decode()


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
    witnesses = _witnesses(args)
    return _verdict(check_inclusion(_read_bundle(args.file), _verifiers(args), witnesses))


def run_verify_consistency(args: argparse.Namespace) -> int:
    held = None
    if args.held is not None:
        try:
            held = args.held.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.held}: {exc.strerror}") from exc
    return _verdict(check_consistency(_read_bundle(args.file), _verifiers(args), held))
