"""Settings: the one place that reads `AUDITSTREAM_*` environment variables and the
optional TOML file. Everything else receives a frozen `Settings`.

Precedence: command-line flags (applied by the CLI with `dataclasses.replace`) over
environment variables over the TOML file (`--config`, or $AUDITSTREAM_CONFIG) over
defaults. Secrets are held as `Secret` and never printed.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from auditstream.errors import ConfigError
from auditstream.settings.connection import CODE_ONLY, KafkaConnection
from auditstream.settings.secret import Secret


@dataclass(frozen=True)
class Topics:
    raw: str = "audit.raw.v1"
    sealed: str = "audit.sealed.v1"
    checkpoints: str = "audit.checkpoints.v1"
    deadletter: str = "audit.deadletter.v1"
    state: str = "audit.processor-state.v1"  # compacted; the processor's chain heads
    partitions: int = 4
    # Copies of each partition; -1: the cluster's default.replication.factor (its
    # min.insync.replicas applies too), which is what a production cluster should set.
    replication_factor: int = -1


@dataclass(frozen=True)
class S3Settings:
    endpoint: str = ""  # empty: the AWS default endpoint
    region: str = "us-east-1"
    access_key: Secret = field(default_factory=lambda: Secret(""))
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    session_token: Secret = field(default_factory=lambda: Secret(""))  # temporary creds
    ca_bundle: Path | None = None  # PEM CAs to trust for an https endpoint


@dataclass(frozen=True)
class ClickHouseAuth:
    """Who auditstream is to a ClickHouse server, and which CA it trusts for https://
    (apart from the DSN, so no password sits in a URL; chdb:// has neither)."""

    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    ca_file: Path | None = None  # PEM CAs for an https:// DSN
    verify: bool = True  # check the server's certificate and host name

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for clickhouse_connect.get_client (password revealed)."""
        out: dict[str, Any] = {}
        if self.username:
            out["username"] = self.username
        if self.password.reveal():
            out["password"] = self.password.reveal()
        if self.ca_file is not None:
            out["ca_cert"] = str(self.ca_file)
        if not self.verify:
            out["verify"] = False
        return out


@dataclass(frozen=True)
class Settings:
    kafka: KafkaConnection = field(default_factory=KafkaConnection)
    topics: Topics = field(default_factory=Topics)
    clickhouse_dsn: str = ""  # default: chdb under the state dir
    clickhouse_database: str = "auditstream"
    # A ClickHouse cluster (its remote_servers name): `migrate` creates Replicated tables
    # on every shard under Distributed ones, `erase` mutates every shard. "": one server.
    clickhouse_cluster: str = ""
    clickhouse: ClickHouseAuth = field(default_factory=ClickHouseAuth)
    archive_url: str = ""  # default: file:// under the state dir
    s3: S3Settings = field(default_factory=S3Settings)
    state_dir: Path = Path(".devstack")
    hmac_keys_file: Path | None = None
    content_keys_file: Path | None = None
    checkpoint_key_file: Path | None = None
    public_keys_file: Path | None = None
    dead_letter_key_file: Path | None = None  # the operator's public key, for the worker
    policy_file: Path | None = None
    # Per-subject protection (decision 0021): the vault of subject data keys, and the
    # keyring of key-encryption keys that wrap them. No vault: sealed in clear.
    subject_vault_dir: Path | None = None
    subject_keks_file: Path | None = None
    metrics_port: int = 0  # 0: no metrics endpoint

    @property
    def effective_clickhouse_dsn(self) -> str:
        return self.clickhouse_dsn or f"chdb://{(self.state_dir / 'clickhouse').resolve()}"

    @property
    def effective_archive_url(self) -> str:
        return self.archive_url or (self.state_dir / "archive").resolve().as_uri()


# Environment variable -> (section, field). docker-compose.yml uses exactly these names;
# a unit test keeps the two in step.
ENV_VARS: Final[Mapping[str, tuple[str, str]]] = {
    "AUDITSTREAM_KAFKA_BOOTSTRAP": ("kafka", "bootstrap"),
    "AUDITSTREAM_KAFKA_SECURITY_PROTOCOL": ("kafka", "security_protocol"),
    "AUDITSTREAM_KAFKA_SASL_MECHANISM": ("kafka", "sasl_mechanism"),
    "AUDITSTREAM_KAFKA_USERNAME": ("kafka", "username"),
    "AUDITSTREAM_KAFKA_PASSWORD": ("kafka", "password"),
    "AUDITSTREAM_KAFKA_CA_FILE": ("kafka", "ca_file"),
    "AUDITSTREAM_KAFKA_CERT_FILE": ("kafka", "cert_file"),
    "AUDITSTREAM_KAFKA_KEY_FILE": ("kafka", "key_file"),
    "AUDITSTREAM_KAFKA_KEY_PASSWORD": ("kafka", "key_password"),
    "AUDITSTREAM_KAFKA_VERIFY_HOSTNAME": ("kafka", "verify_hostname"),
    "AUDITSTREAM_TOPIC_RAW": ("topics", "raw"),
    "AUDITSTREAM_TOPIC_SEALED": ("topics", "sealed"),
    "AUDITSTREAM_TOPIC_CHECKPOINTS": ("topics", "checkpoints"),
    "AUDITSTREAM_TOPIC_DEADLETTER": ("topics", "deadletter"),
    "AUDITSTREAM_TOPIC_STATE": ("topics", "state"),
    "AUDITSTREAM_TOPIC_PARTITIONS": ("topics", "partitions"),
    "AUDITSTREAM_TOPIC_REPLICATION": ("topics", "replication_factor"),
    "AUDITSTREAM_CLICKHOUSE_DSN": ("", "clickhouse_dsn"),
    "AUDITSTREAM_CLICKHOUSE_DATABASE": ("", "clickhouse_database"),
    "AUDITSTREAM_CLICKHOUSE_CLUSTER": ("", "clickhouse_cluster"),
    "AUDITSTREAM_CLICKHOUSE_USER": ("clickhouse", "username"),
    "AUDITSTREAM_CLICKHOUSE_PASSWORD": ("clickhouse", "password"),
    "AUDITSTREAM_CLICKHOUSE_CA_FILE": ("clickhouse", "ca_file"),
    "AUDITSTREAM_CLICKHOUSE_VERIFY": ("clickhouse", "verify"),
    "AUDITSTREAM_ARCHIVE_URL": ("", "archive_url"),
    "AUDITSTREAM_S3_ENDPOINT": ("s3", "endpoint"),
    "AUDITSTREAM_S3_REGION": ("s3", "region"),
    "AUDITSTREAM_S3_ACCESS_KEY": ("s3", "access_key"),
    "AUDITSTREAM_S3_SECRET_KEY": ("s3", "secret_key"),
    "AUDITSTREAM_S3_SESSION_TOKEN": ("s3", "session_token"),
    "AUDITSTREAM_S3_CA_BUNDLE": ("s3", "ca_bundle"),
    "AUDITSTREAM_STATE_DIR": ("", "state_dir"),
    "AUDITSTREAM_HMAC_KEYS_FILE": ("", "hmac_keys_file"),
    "AUDITSTREAM_CONTENT_KEYS_FILE": ("", "content_keys_file"),
    "AUDITSTREAM_CHECKPOINT_KEY_FILE": ("", "checkpoint_key_file"),
    "AUDITSTREAM_PUBLIC_KEYS_FILE": ("", "public_keys_file"),
    "AUDITSTREAM_DEAD_LETTER_KEY_FILE": ("", "dead_letter_key_file"),
    "AUDITSTREAM_POLICY_FILE": ("", "policy_file"),
    "AUDITSTREAM_SUBJECT_VAULT_DIR": ("", "subject_vault_dir"),
    "AUDITSTREAM_SUBJECT_KEKS_FILE": ("", "subject_keks_file"),
    "AUDITSTREAM_METRICS_PORT": ("", "metrics_port"),
}
# Read elsewhere, by name, because they carry key material (auditstream.settings.keyfiles).
SECRET_ENV_VARS: Final = (
    "AUDITSTREAM_HMAC_KEYS",
    "AUDITSTREAM_CHECKPOINT_KEY",
    "AUDITSTREAM_CONTENT_KEYS",
    "AUDITSTREAM_DEAD_LETTER_KEY",
    "AUDITSTREAM_SUBJECT_KEKS",
)
CONFIG_ENV = "AUDITSTREAM_CONFIG"


def kafka_environment(kafka: KafkaConnection) -> dict[str, str]:
    """The AUDITSTREAM_KAFKA_* variables that give a child process this connection
    (secrets revealed: for a child's environment only, never for output)."""
    env: dict[str, str] = {}
    for var, (section, name) in ENV_VARS.items():
        if section != "kafka":
            continue
        value = getattr(kafka, name)
        if isinstance(value, Secret):
            value = value.reveal()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            continue
        env[var] = str(value)
    return env


TOML_SECTIONS: Final = {
    "": Settings,
    "kafka": KafkaConnection,
    "topics": Topics,
    "s3": S3Settings,
    "clickhouse": ClickHouseAuth,
}


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _field_types(cls: type) -> dict[str, Any]:
    """The settable fields of a settings class and their types (fields marked
    `CODE_ONLY`, such as a token callback, can only be given in code)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if not f.metadata.get(CODE_ONLY)}


def parser_for(kind: Any) -> Callable[[Any], Any] | None:
    """How a raw value (a TOML value, or an environment string) becomes `kind`; None
    for a kind no setting may have."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return lambda raw: _literal(raw, args)
    if typing.get_origin(kind) in (types.UnionType, typing.Union) and type(None) in args:
        inner = parser_for(next(a for a in args if a is not type(None)))
        if inner is None:
            return None
        return lambda raw: None if raw == "" else inner(raw)
    return _PARSERS.get(kind)


def _literal(raw: Any, allowed: tuple[Any, ...]) -> Any:
    if raw not in allowed:
        raise ValueError(f"one of {', '.join(map(repr, allowed))}")
    return raw


def _int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError("an integer")
    try:
        return int(raw)
    except ValueError:
        raise ValueError("an integer") from None


def _float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("a number")
    try:
        return float(raw)
    except ValueError:
        raise ValueError("a number") from None


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise ValueError("true or false")


def _str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("a string")
    return raw


_PARSERS: Final[dict[Any, Callable[[Any], Any]]] = {
    int: _int,
    float: _float,
    bool: _bool,
    str: _str,
    Path: lambda raw: Path(_str(raw)),
    Secret: lambda raw: Secret(_str(raw)),
}


def _coerce(cls: type, name: str, raw: Any, source: str) -> Any:
    kinds = _field_types(cls)
    if name not in kinds:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    parse = parser_for(kinds[name])
    assert parse is not None  # every field type is checked when this module is imported
    try:
        return parse(raw)
    except ValueError as exc:
        # Never echo the raw value: it may be a secret put under the wrong name.
        raise ConfigError(f"{source}: {name} must be {exc}") from None


def _apply(settings: Settings, section: str, name: str, value: Any) -> Settings:
    if not section:
        return replace(settings, **{name: value})
    nested = replace(getattr(settings, section), **{name: value})
    return replace(settings, **{section: nested})


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Defaults, then the TOML file, then the environment."""
    environ = os.environ if env is None else env
    settings = Settings()
    path = config_file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        for key, value in doc.items():
            if isinstance(value, dict):
                cls = TOML_SECTIONS.get(key)
                if cls is None or key == "":
                    raise ConfigError(f"{path}: unknown section [{key}]")
                for name, raw in value.items():
                    settings = _apply(settings, key, name, _coerce(cls, name, raw, str(path)))
            else:
                settings = _apply(settings, "", key, _coerce(Settings, key, value, str(path)))
    for var, (section, name) in ENV_VARS.items():
        raw = environ.get(var)
        if raw is not None and raw != "":
            cls = TOML_SECTIONS[section]
            settings = _apply(settings, section, name, _coerce(cls, name, raw, var))
    return settings


def check_field_types(classes: Iterable[type]) -> None:
    """Every setting must have a type `_coerce` can parse, so that a new one of another
    type fails when this module is imported instead of silently staying a string."""
    for cls in classes:
        for name, kind in _field_types(cls).items():
            if dataclasses.is_dataclass(kind) or parser_for(kind) is not None:
                continue
            raise TypeError(f"setting {cls.__name__}.{name} has a type settings cannot parse")


check_field_types(TOML_SECTIONS.values())
