"""What an evidence-pack request may ask for (pure): packaged frameworks only, a tenant
of the grant, an ordered ISO 8601 period, known formats; each refusal names its field."""

from __future__ import annotations

import datetime as dt

import pytest

from auditstream.errors import QueryError
from auditstream.query.store import AccessDeniedError
from auditstream.web.packs import parse_request

PERIOD = {"from": "2026-11-01T00:00:00", "to": "2026-12-01T00:00:00+01:00"}
ONE = frozenset({"acme"})


def test_a_one_tenant_grant_gets_its_tenant_and_the_default_formats() -> None:
    asked = parse_request("pci-dss", PERIOD, ONE)
    assert asked.tenant == "acme"
    assert asked.formats == {"md", "html", "json"}
    assert asked.start == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # no offset: UTC
    assert asked.end == dt.datetime(2026, 11, 30, 23, tzinfo=dt.UTC)
    assert asked.file_name() == "evidence-pci-dss-acme-20261101T000000Z-20261130T230000Z"
    assert parse_request("soc2", PERIOD | {"format": "pdf"}, ONE).formats == {"pdf", "json"}


@pytest.mark.parametrize(
    ("framework", "params", "tenants", "field"),
    [
        ("nope", PERIOD, ONE, "framework"),
        ("soc2.toml", PERIOD, ONE, "framework"),
        ("/etc/passwd.toml", PERIOD, ONE, "framework"),
        ("soc2", PERIOD, None, "tenant"),
        ("soc2", PERIOD, frozenset({"a", "b"}), "tenant"),
        ("soc2", PERIOD | {"tenant": "a b"}, None, "tenant"),
        ("soc2", {"to": PERIOD["to"]}, ONE, "from"),
        ("soc2", {"from": PERIOD["from"], "to": "  "}, ONE, "to"),
        ("soc2", {"from": PERIOD["to"], "to": PERIOD["from"]}, ONE, "from"),
        ("soc2", PERIOD | {"format": "md,docx"}, ONE, "format"),
        ("soc2", PERIOD | {"format": " , "}, ONE, "format"),
        ("soc2", PERIOD | {"limit": "3"}, ONE, "unknown"),
    ],
)
def test_bad_requests_name_their_field(
    framework: str, params: dict[str, str], tenants: frozenset[str] | None, field: str
) -> None:
    with pytest.raises(QueryError) as raised:
        parse_request(framework, params, tenants)
    assert not isinstance(raised.value, AccessDeniedError)
    assert str(raised.value).split(" ", 1)[0].rstrip(":") == field, raised.value


def test_another_tenant_is_denied() -> None:
    with pytest.raises(AccessDeniedError, match="other"):
        parse_request("soc2", PERIOD | {"tenant": "other"}, ONE)
