"""How the web access log counts the rows of an answer: only a JSON object's "rows" list."""

from __future__ import annotations

import pytest

from auditstream.web.access import rows_in


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b'{"rows": [{"a": 1}, {"a": 2}], "next_cursor": null}', 2),
        (b'{"rows": []}', 0),
        (b'{"rows": "not a list"}', None),
        (b'[{"rows": [1]}]', None),
        (b'{"error": "no event \\"rows\\""}', None),
        (b'{"rows": [1, 2', None),
        (b"", None),
        (b'{"ok": true}', None),
    ],
)
def test_rows_are_counted_only_in_a_rows_list(body: bytes, rows: int | None) -> None:
    assert rows_in(body) == rows
