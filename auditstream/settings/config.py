"""Settings: the one place that reads `AUDITSTREAM_*` environment variables and the
optional TOML file. Everything else receives a frozen `Settings`.

Precedence: command-line flags (applied by the CLI with `dataclasses.replace`) over
environment variables over the TOML file (`--config`, or $AUDITSTREAM_CONFIG) over
defaults. Secrets are held as `Secret` and never printed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from auditstream.errors import ConfigError


class Secret:
    """A string that does not show itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('****')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class Topics:
    raw: str = "audit.raw.v1"
    sealed: str = "audit.sealed.v1"
    checkpoints: str = "audit.checkpoints.v1"
    deadletter: str = "audit.deadletter.v1"
    state: str = "audit.processor-state.v1"  # compacted; the processor's chain heads
    partitions: int = 4
    replication_factor: int = 1


@dataclass(frozen=True)
class S3Settings:
    endpoint: str = ""  # empty: the AWS default endpoint
    region: str = "us-east-1"
    access_key: Secret = field(default_factory=lambda: Secret(""))
    secret_key: Secret = field(default_factory=lambda: Secret(""))


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    topics: Topics = field(default_factory=Topics)
    clickhouse_dsn: str = ""  # default: chdb under the state dir
    clickhouse_database: str = "auditstream"
    archive_url: str = ""  # default: file:// under the state dir
    s3: S3Settings = field(default_factory=S3Settings)
    state_dir: Path = Path(".devstack")
    hmac_keys_file: Path | None = None
    content_keys_file: Path | None = None
    checkpoint_key_file: Path | None = None
    public_keys_file: Path | None = None
    policy_file: Path | None = None
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
    "AUDITSTREAM_KAFKA_BOOTSTRAP": ("", "kafka_bootstrap"),
    "AUDITSTREAM_TOPIC_RAW": ("topics", "raw"),
    "AUDITSTREAM_TOPIC_SEALED": ("topics", "sealed"),
    "AUDITSTREAM_TOPIC_CHECKPOINTS": ("topics", "checkpoints"),
    "AUDITSTREAM_TOPIC_DEADLETTER": ("topics", "deadletter"),
    "AUDITSTREAM_TOPIC_STATE": ("topics", "state"),
    "AUDITSTREAM_TOPIC_PARTITIONS": ("topics", "partitions"),
    "AUDITSTREAM_TOPIC_REPLICATION": ("topics", "replication_factor"),
    "AUDITSTREAM_CLICKHOUSE_DSN": ("", "clickhouse_dsn"),
    "AUDITSTREAM_CLICKHOUSE_DATABASE": ("", "clickhouse_database"),
    "AUDITSTREAM_ARCHIVE_URL": ("", "archive_url"),
    "AUDITSTREAM_S3_ENDPOINT": ("s3", "endpoint"),
    "AUDITSTREAM_S3_REGION": ("s3", "region"),
    "AUDITSTREAM_S3_ACCESS_KEY": ("s3", "access_key"),
    "AUDITSTREAM_S3_SECRET_KEY": ("s3", "secret_key"),
    "AUDITSTREAM_STATE_DIR": ("", "state_dir"),
    "AUDITSTREAM_HMAC_KEYS_FILE": ("", "hmac_keys_file"),
    "AUDITSTREAM_CONTENT_KEYS_FILE": ("", "content_keys_file"),
    "AUDITSTREAM_CHECKPOINT_KEY_FILE": ("", "checkpoint_key_file"),
    "AUDITSTREAM_PUBLIC_KEYS_FILE": ("", "public_keys_file"),
    "AUDITSTREAM_POLICY_FILE": ("", "policy_file"),
    "AUDITSTREAM_METRICS_PORT": ("", "metrics_port"),
}
# Read elsewhere, by name, because they carry key material (auditstream.settings.keyfiles).
SECRET_ENV_VARS: Final = (
    "AUDITSTREAM_HMAC_KEYS",
    "AUDITSTREAM_CHECKPOINT_KEY",
    "AUDITSTREAM_CONTENT_KEYS",
)
CONFIG_ENV = "AUDITSTREAM_CONFIG"
TOML_SECTIONS: Final = {"": Settings, "topics": Topics, "s3": S3Settings}


def _coerce(cls: type, name: str, raw: Any, source: str) -> Any:
    kinds = {f.name: f.type for f in fields(cls)}
    if name not in kinds:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    kind = str(kinds[name])
    try:
        if kind == "int":
            return int(raw)
        if kind == "Secret":
            return Secret(str(raw))
        if "Path" in kind:
            return Path(str(raw)) if str(raw) else None
    except ValueError:
        raise ConfigError(f"{source}: {name} must be an integer, not {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(f"{source}: {name} must be a string")
    return raw


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
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
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
