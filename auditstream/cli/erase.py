"""`auditstream erase`: erase a data subject on request, with a signed receipt; and
`auditstream verify-receipt`: check such a receipt offline (decision 0022)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.errors import ConfigError

EXIT_PENDING = 3  # erased; the receipt waits for the pipeline: run the command again


def register(subparsers: Any) -> None:
    erase = subparsers.add_parser(
        "erase",
        help="erase a data subject on request: destroy its key, delete its clear copies, "
        "seal the erasure and sign a receipt (idempotent: run again to finish)",
        description="Exit 0: erased, receipt written. Exit 3: erased, the receipt still "
        "waits for the erasure event to be sealed and checkpointed (run it again). Exit 2: "
        "refused (unknown subject, legal hold) or failed before the key was destroyed.",
    )
    common.add_settings_args(erase)
    common.add_clickhouse_args(erase)
    erase.add_argument("--tenant", required=True, help="the subject's tenant")
    erase.add_argument(
        "--subject",
        required=True,
        help="the subject id the producers gave; '-' reads it from standard input (one "
        "line), which keeps it out of the process list and the shell history",
    )
    erase.add_argument("--reason", required=True, help="why (sealed in clear: not the name)")
    erase.add_argument("--requested-by", required=True, help="who asks (sealed as the actor)")
    erase.add_argument("--chain", default="", help="chain of the erasure event (default: tenant)")
    erase.add_argument(
        "--cluster",
        help="ClickHouse cluster: delete on every shard's local table "
        "(default: AUDITSTREAM_CLICKHOUSE_CLUSTER)",
    )
    erase.add_argument(
        "--wait",
        type=common.positive_seconds,
        default=120.0,
        help="seconds to wait for the erasure event to be checkpointed (default 120)",
    )
    erase.add_argument("--receipt-out", type=Path, help="also write the receipt here")
    erase.add_argument("--checkpoint-key", type=Path, help="checkpoint signer key file")
    erase.add_argument("--policy", type=Path, help="retention policy file (names legal holds)")
    common.add_subject_args(erase, "the workers' subject vault")
    erase.set_defaults(func=run_erase)

    check = subparsers.add_parser(
        "verify-receipt", help="check an erasure receipt offline with the checkpoint public key"
    )
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument(
        "--public-keys",
        "--pubkey",
        type=Path,
        metavar="FILE",
        help="trusted checkpoint public key(s) (default: AUDITSTREAM_PUBLIC_KEYS_FILE)",
    )
    check.set_defaults(func=run_verify_receipt)


def run_erase(args: argparse.Namespace) -> int:
    from auditstream.clickhouse.client import connect  # noqa: PLC0415
    from auditstream.clickhouse.personal import ClickHouseErasures  # noqa: PLC0415
    from auditstream.privacy.erase import Eraser, ReceiptPendingError, Request  # noqa: PLC0415

    settings = common.settings_from(args)
    subject = args.subject
    if subject == "-":
        subject = sys.stdin.readline().rstrip("\r\n")
        if not subject:
            raise ConfigError("--subject -: no subject id on standard input")
    request = Request(args.tenant, subject, args.reason, args.requested_by)
    if settings.subject_vault_dir is None:
        raise ConfigError(
            "give the workers' subject vault: --subject-vault DIR --subject-keks FILE"
        )
    if not settings.subject_vault_dir.is_dir():
        raise ConfigError(f"no subject vault at {settings.subject_vault_dir}")
    signer = common.signer(settings)
    policy = common.policy(settings)
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    client = connect(dsn, create=False, auth=settings.clickhouse)
    cluster = settings.clickhouse_cluster if args.cluster is None else args.cluster
    store = ClickHouseErasures(client, args.database or settings.clickhouse_database, cluster)
    protection = common.subject_protection(settings)
    assert protection is not None  # a vault folder is configured
    vault = protection.vault
    sender = _Sender(settings, vault.folder / "erasures" / "spool", request.tenant_id)
    try:
        outcome = Eraser(vault, protection, store, sender.send, [signer], policy).erase(
            request, chain_id=args.chain, wait_s=args.wait
        )
    except ReceiptPendingError as exc:
        print(f"auditstream erase: {exc}", file=sys.stderr)
        return EXIT_PENDING
    finally:
        sender.close()
    if outcome.again:
        print(f"subject {outcome.subject_digest} was erased already (erasure {outcome.erasure_id})")
    else:
        print(
            f"erased subject {outcome.subject_digest} of tenant {request.tenant_id}: "
            f"{outcome.entries} stored entries (erasure {outcome.erasure_id})"
        )
    if outcome.receipt is not None:
        print(f"receipt: {outcome.receipt}")
        if args.receipt_out is not None:
            args.receipt_out.write_bytes(outcome.receipt.read_bytes())
            print(f"receipt copied to {args.receipt_out}")
    return 0


class _Sender:
    """Produces erasure events, started on first use."""

    def __init__(self, settings: Any, spool: Path, tenant_id: str) -> None:
        self._settings = settings
        self._spool = spool
        self._tenant = tenant_id
        self._producer: Any = None

    def send(self, entry: Any, chain_id: str) -> bool:
        from auditstream.producers import AuditProducer, ProducerConfig  # noqa: PLC0415

        if self._producer is None:
            self._producer = AuditProducer(
                ProducerConfig(
                    self._settings.kafka,
                    topic=self._settings.topics.raw,
                    spool_dir=self._spool,
                    tenant_id=self._tenant,
                    heartbeat_interval_s=0,
                    strict=True,
                )
            )
            self._producer.start()
        self._producer.emit(entry, chain_id=chain_id)
        return bool(self._producer.flush(60))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(30)


def run_verify_receipt(args: argparse.Namespace) -> int:
    from auditstream.core.receipts import check_receipt  # noqa: PLC0415

    verifiers = common.checkpoint_verifiers(args, args.public_keys, "--public-keys")
    try:
        doc = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{args.file} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{args.file} is not an erasure receipt")
    checked = check_receipt(doc, verifiers)
    print(("VALID: " if checked.ok else "INVALID: ") + checked.message)
    return 0 if checked.ok else 1
