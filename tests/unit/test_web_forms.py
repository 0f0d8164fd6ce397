"""The console's form fields become the same AuditQuery the API takes (presets, lists,
empty fields), and bad fields are named; sessions and the failed sign-in limit."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from auditstream.errors import ConfigError
from auditstream.query.api import Grant, load_tokens, token_digest
from auditstream.web import forms
from auditstream.web.auth import IDLE_S, Authenticator, FailureLimiter, Unauthorized

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_a_full_form_becomes_the_query() -> None:
    body = forms.search_body(
        {
            "tenant": ["acme"], "actor": [" alice "], "event_types": ["EVENT_LOGIN", "logout"],
            "outcome": ["OUTCOME_FAILURE_DENIED"], "min_severity": ["4"],
            "policy_tags": ["PCI, HIPAA ,"], "preset": ["7d"], "limit": ["50"],
            "text": [""], "resource": [],
        },
        NOW,
    )  # fmt: skip
    query = body.to_query()
    assert query.tenant == "acme" and query.actor == "alice"
    assert list(query.event_types) == ["EVENT_LOGIN", "logout"]
    assert query.min_severity == 4 and list(query.policy_tags) == ["PCI", "HIPAA"]
    assert query.start == NOW - dt.timedelta(days=7) and query.end is None
    assert query.limit == 50 and query.text is None and query.resource is None


def test_an_explicit_start_wins_over_the_preset_and_naive_times_are_utc() -> None:
    body = forms.search_body({"preset": ["24h"], "start": ["2026-11-01T08:30"]}, NOW)
    assert body.start == dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"preset": ["fortnight"]}, "preset"),
        ({"limit": ["ten"]}, "limit"),
        ({"limit": ["0"]}, "limit"),
        ({"start": ["noon"]}, "start"),
        ({"outcome": ["sideways"]}, "outcome"),
        ({"event_types": ["EVENT_LOGIN", "EVENT_NOPE"]}, "event_types"),
        ({"min_sensitivity": ["99"]}, "min_sensitivity"),
        ({"cursor": ["abc"]}, "cursor"),
        ({"bogus": ["1"]}, "bogus"),
    ],
)
def test_bad_fields_are_named(form: dict[str, list[str]], field: str) -> None:
    with pytest.raises(forms.FormError) as raised:
        forms.search_body(form, NOW)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_download_names_keep_only_safe_characters() -> None:
    assert forms.download_name('a"b\r\n/../c') == "proof-a_b___.._c.json"
    assert forms.download_name("") == "proof-event.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_tokens_lock_the_address_out_for_the_window_only() -> None:
    clock = Clock()
    limiter = FailureLimiter(limit=3, window_s=60, clock=clock)
    auth = Authenticator([Grant("a", token_digest("right"), None)], limiter, clock)
    for _ in range(3):
        with pytest.raises(Unauthorized) as refused:
            auth.bearer("Bearer wrong", "10.0.0.1")
        assert refused.value.retry_after is None
    with pytest.raises(Unauthorized) as limited:
        auth.bearer("Bearer right", "10.0.0.1")  # even the right token, until the window ends
    assert limited.value.retry_after == 61
    assert auth.bearer("Bearer right", "10.0.0.2").name == "a"  # another address
    clock.now += 61
    assert auth.bearer("Bearer right", "10.0.0.1").name == "a"


def test_sessions_end_on_sign_out_and_when_idle() -> None:
    clock = Clock()
    auth = Authenticator([Grant("a", token_digest("t"), frozenset({"x"}))], clock=clock)
    cookie, session = auth.sign_in("t", "c")
    assert cookie != "t" and auth.session(cookie) is session
    assert auth.session(cookie + "x") is None
    auth.sign_out(cookie)
    assert auth.session(cookie) is None
    cookie, _ = auth.sign_in("t", "c")
    clock.now += IDLE_S + 1
    assert auth.session(cookie) is None
    with pytest.raises(Unauthorized):
        auth.sign_in("not-it", "c")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tokens = 5\n", "[tokens] must be a table"),
        ('[tokens.a]\nsha256 = "zz"\ntenants = ["x"]\n', "needs sha256 and tenants"),
        ('[tokens.a]\nsha256 = "ab"\ntenants = ["x"]\n', "64 hex digits"),
        (f'[tokens.a]\nsha256 = "{"ab" * 32}"\ntenants = "x"\n', "non-empty list"),
        (f'[tokens.a]\nsha256 = "{"ab" * 32}"\ntenants = []\n', "non-empty list"),
        ("[tokens.a\n", "tokens file"),
    ],
)
def test_bad_tokens_files_are_refused_naming_the_problem(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_tokens(path)


def test_reprs_hold_no_digest_and_no_csrf_token() -> None:
    grant = Grant("a", token_digest("t"), None)
    auth = Authenticator([grant])
    _, session = auth.sign_in("t", "c")
    assert token_digest("t").hex() not in repr(grant) and str(token_digest("t")) not in repr(grant)
    assert session.csrf not in repr(session)
