"""Options shared by several commands, and turning them into Settings."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import signal
import threading
from dataclasses import replace
from pathlib import Path

from auditstream.core.content import DigestPolicy
from auditstream.core.keys import Keyring, NoteSigner, NoteVerifier
from auditstream.core.retention import Policy, parse_policy
from auditstream.errors import ConfigError
from auditstream.privacy.protect import SubjectProtection
from auditstream.privacy.vault import LocalKek, SubjectVault
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings, load_settings
from auditstream.settings.resources import default_policy_file


def iso_time(text: str) -> dt.datetime:
    """An argparse type: an ISO 8601 time, UTC when it names no zone."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text[:60]!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


_KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def kafka_name(text: str) -> str:
    """An argparse type: a name that Kafka takes in topic, group, transactional and
    group member ids (ASCII letters, digits, '.', '_' and '-'; at most 100 of them)."""
    if not _KAFKA_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be 1 to 100 ASCII letters, digits, '.', '_' or '-', not {text[:120]!r}"
        )
    return text


def positive_count(text: str) -> int:
    """An argparse type: a whole number above zero."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above zero, not {text!r}")
    return int(text)


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (flags override AUDITSTREAM_* variables)")
    group.add_argument("--config", type=Path, help="TOML settings file")
    group.add_argument("--bootstrap", help="Kafka bootstrap servers")
    group.add_argument(
        "--kafka-security-protocol",
        choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        help="how to connect to Kafka (passwords: AUDITSTREAM_KAFKA_PASSWORD or the TOML file)",
    )
    group.add_argument(
        "--kafka-sasl-mechanism", choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    )
    group.add_argument("--kafka-username", help="the SASL user")
    group.add_argument("--kafka-ca-file", type=Path, help="CA bundle (PEM) to trust")
    group.add_argument("--kafka-cert-file", type=Path, help="client certificate (mTLS)")
    group.add_argument("--kafka-key-file", type=Path, help="client certificate's key (mTLS)")
    group.add_argument("--state-dir", type=Path, help="local state folder")


def add_key_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("keys (files, or AUDITSTREAM_* variables)")
    group.add_argument("--hmac-keys", type=Path, help="chain MAC keyring file")
    group.add_argument("--checkpoint-key", type=Path, help="checkpoint signer key file")
    group.add_argument("--content-keys", type=Path, help="content digest salt keyring file")
    group.add_argument("--policy", type=Path, help="retention policy file (TOML)")


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(config_file=getattr(args, "config", None))
    kafka = {
        "bootstrap": getattr(args, "bootstrap", None),
        "security_protocol": getattr(args, "kafka_security_protocol", None),
        "sasl_mechanism": getattr(args, "kafka_sasl_mechanism", None),
        "username": getattr(args, "kafka_username", None),
        "ca_file": getattr(args, "kafka_ca_file", None),
        "cert_file": getattr(args, "kafka_cert_file", None),
        "key_file": getattr(args, "kafka_key_file", None),
    }
    settings = replace(
        settings, kafka=replace(settings.kafka, **{k: v for k, v in kafka.items() if v is not None})
    )
    overrides = {
        "state_dir": getattr(args, "state_dir", None),
        "hmac_keys_file": getattr(args, "hmac_keys", None),
        "checkpoint_key_file": getattr(args, "checkpoint_key", None),
        "content_keys_file": getattr(args, "content_keys", None),
        "policy_file": getattr(args, "policy", None),
        "dead_letter_key_file": getattr(args, "dead_letter_key", None),
        "subject_vault_dir": getattr(args, "subject_vault", None),
        "subject_keks_file": getattr(args, "subject_keks", None),
    }
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def keyring(settings: Settings) -> Keyring:
    return keyfiles.load_keyring(settings.hmac_keys_file)


def signer(settings: Settings) -> NoteSigner:
    return keyfiles.load_signer(settings.checkpoint_key_file)


def checkpoint_verifiers(
    args: argparse.Namespace, given: Path | None, flag: str
) -> list[NoteVerifier]:
    """The trusted checkpoint keys: the file of the command's `flag` (`given`), else the
    settings' public keys file; never taken from what is being verified."""
    path = given or settings_from(args).public_keys_file
    if path is None:
        raise ConfigError(
            f"give the checkpoint public key(s) with {flag} FILE; they are never taken from "
            "the store or the pack being verified"
        )
    return keyfiles.load_verifiers(path)


def add_subject_args(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument(
        "--subject-vault",
        type=Path,
        help=f"{purpose} (default: AUDITSTREAM_SUBJECT_VAULT_DIR)",
    )
    parser.add_argument(
        "--subject-keks",
        type=Path,
        help="keyring of the key-encryption keys that wrap the subject keys "
        "(default: AUDITSTREAM_SUBJECT_KEKS_FILE, or the keyring in AUDITSTREAM_SUBJECT_KEKS)",
    )


def subject_protection(settings: Settings) -> SubjectProtection | None:
    """Per-subject protection when a subject vault is configured, else None."""
    if settings.subject_vault_dir is None:
        if settings.subject_keks_file is not None:
            raise ConfigError("subject key-encryption keys given without a subject vault folder")
        return None
    keks = keyfiles.load_keyring(settings.subject_keks_file, variable=keyfiles.SUBJECT_KEKS_ENV)
    return SubjectProtection(SubjectVault(settings.subject_vault_dir, LocalKek(keks)))


def content_policy(settings: Settings) -> DigestPolicy:
    ring = keyfiles.load_keyring(settings.content_keys_file, variable=keyfiles.CONTENT_KEYS_ENV)
    return DigestPolicy(ring.active)


def policy(settings: Settings) -> Policy:
    path = settings.policy_file or default_policy_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc.strerror}") from exc
    return parse_policy(text, str(path))


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for long-running commands to stop cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def add_clickhouse_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clickhouse",
        metavar="DSN",
        help="chdb:///path or http(s)://... (default: under --state-dir)",
    )
    parser.add_argument("--database", help="ClickHouse database (default: auditstream)")
