"""Files shipped beside the package: migrations and policy defaults in `schemas/`."""

from __future__ import annotations

from pathlib import Path

from auditstream.errors import ConfigError

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def schemas_dir() -> Path:
    """The `schemas/` folder of a source checkout or image (not part of a wheel)."""
    if not SCHEMAS.is_dir():
        raise ConfigError(
            f"{SCHEMAS} not found: pass explicit paths (--policy, --migrations) when "
            "auditstream is installed without its source tree"
        )
    return SCHEMAS


def default_policy_file() -> Path:
    return schemas_dir() / "policy.toml"
