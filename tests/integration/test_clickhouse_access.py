"""Least privilege in ClickHouse: the roles and grants for a server parse with
ClickHouse's own parser (chdb has no access control to apply them to)."""

from __future__ import annotations

from typing import Any

import pytest

from auditstream.clickhouse.migrations import Target
from auditstream.security import clickhouse_grants

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cluster", ["", "audit_cluster"])
def test_the_grants_parse_with_clickhouse_itself(clickhouse: Any, cluster: str) -> None:
    found = clickhouse_grants.statements(Target("audit", cluster), ["sink-1"], ["auditor"])
    kinds = []
    for statement in found:
        rows = clickhouse.query(f"EXPLAIN AST {statement}").result_rows
        kinds.append(rows[0][0].split()[0])
    assert kinds == [
        "CreateRoleQuery",
        "GrantQuery",
        "CreateRoleQuery",
        "GrantQuery",
        "CreateSettingsProfileQuery",
        "GrantQuery",
        "GrantQuery",
    ]
    assert not any(word in " ".join(found) for word in ("ALTER", "DROP", "DELETE", "TRUNCATE"))
