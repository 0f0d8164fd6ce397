"""Files shipped inside the package: migrations and policy defaults in `schemas/`."""

from __future__ import annotations

from pathlib import Path

from auditstream.errors import ConfigError

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def schemas_dir() -> Path:
    """`auditstream/schemas/`: the ClickHouse migrations and the default policy."""
    if not SCHEMAS.is_dir():
        raise ConfigError(
            f"{SCHEMAS} not found: this installation of auditstream is incomplete; "
            "reinstall it, or pass explicit paths (--policy, --migrations)"
        )
    return SCHEMAS


def default_policy_file() -> Path:
    return schemas_dir() / "policy.toml"
