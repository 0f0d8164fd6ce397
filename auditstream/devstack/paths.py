"""Where downloads, builds and per-stack state live."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "AUDITSTREAM_CACHE_DIR"


def cache_dir() -> Path:
    """Shared cache for jars and binaries: $AUDITSTREAM_CACHE_DIR, else the user cache."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "auditstream"


def resource(name: str) -> Path:
    return Path(__file__).resolve().parent / "resources" / name
