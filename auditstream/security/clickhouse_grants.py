"""Least privilege in ClickHouse: SQL for a server's access control.

Two roles on the audit database: `auditstream_sink` may read and insert (the sinks
check what a chain already holds before inserting) and nothing else — no ALTER, DELETE,
DROP, TRUNCATE or CREATE; `auditstream_reader` may only read, under a settings profile
with `readonly = 2` (settings may change, data may not). Migrations run as an admin.
Users are the operator's; they get a role with `GRANT <role> TO <user>`.

Embedded ClickHouse (chdb) has no users: there the query layer sends its queries with
`readonly = 1` (`query.store`), and only the sinks and `migrate` write.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditstream.clickhouse.migrations import Target
from auditstream.errors import ConfigError

SINK_ROLE = "auditstream_sink"
READER_ROLE = "auditstream_reader"
READONLY_PROFILE = "auditstream_readonly"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def statements(
    target: Target, sink_users: Sequence[str] = (), reader_users: Sequence[str] = ()
) -> list[str]:
    """The statements, in order; idempotent (IF NOT EXISTS; grants repeat harmlessly)."""
    for user in (*sink_users, *reader_users):
        if not _NAME.fullmatch(user):
            raise ConfigError(f"invalid ClickHouse user name {user!r}")
    on = f" ON CLUSTER {target.cluster}" if target.cluster else ""
    database = target.database
    found = [
        f"CREATE ROLE IF NOT EXISTS {SINK_ROLE}{on}",
        f"GRANT{on} SELECT, INSERT ON {database}.* TO {SINK_ROLE}",
        f"CREATE ROLE IF NOT EXISTS {READER_ROLE}{on}",
        f"GRANT{on} SELECT ON {database}.* TO {READER_ROLE}",
        f"CREATE SETTINGS PROFILE IF NOT EXISTS {READONLY_PROFILE}{on} "
        f"SETTINGS readonly = 2 TO {READER_ROLE}",
    ]
    found += [f"GRANT{on} {SINK_ROLE} TO `{user}`" for user in sink_users]
    found += [f"GRANT{on} {READER_ROLE} TO `{user}`" for user in reader_users]
    return found
