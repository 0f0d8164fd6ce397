"""SQL identifiers: database and table names are interpolated into statements (they
cannot be bound as parameters), so they are checked first. Values are always bound."""

from __future__ import annotations

import re

from auditstream.errors import ConfigError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def ident(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ConfigError(f"{name!r} is not a valid database or table name")
    return name
