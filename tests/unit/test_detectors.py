"""The rules against a corpus: every family finds its secrets and masks them, near
misses stay, personal data is found but not masked."""

from __future__ import annotations

import pytest

from auditstream.core import detectors, rules
from auditstream.core.detectors import default_scanner, redact
from tests.support.secrets_corpus import NEGATIVE, PERSONAL, PERSONAL_NEGATIVE, POSITIVE, Secret

FAMILIES = [
    "aws",
    "gcp",
    "azure",
    "vcs",
    "chat",
    "payments",
    "messaging",
    "ai",
    "pem",
    "jwt",
    "authorization",
    "url",
    "connection",
    "named",
    "card",
]


def masked(text: str) -> str:
    return redact(text, detectors.scan(text))


@pytest.mark.parametrize("item", POSITIVE, ids=lambda s: f"{s.family}:{s.text[:40]}")
def test_every_corpus_secret_is_masked(item: Secret) -> None:
    found = [m for m in detectors.scan(item.text) if m.masked]
    assert any(m.start <= item.text.index(item.secret) < m.end for m in found), found
    assert item.secret not in masked(item.text)


@pytest.mark.parametrize(
    ("family", "text"), [(f, t) for f, texts in NEGATIVE.items() for t in texts]
)
def test_near_misses_are_left_alone(family: str, text: str) -> None:
    assert masked(text) == text, detectors.scan(text)


def test_every_family_has_positives_and_near_misses() -> None:
    assert {s.family for s in POSITIVE} == set(FAMILIES) == set(NEGATIVE)


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, ts in PERSONAL.items() for t in ts])
def test_personal_data_is_found_not_masked(kind: str, text: str) -> None:
    found = detectors.scan(text)
    assert kind in [m.kind for m in found], found
    assert masked(text) == text


@pytest.mark.parametrize(
    ("kind", "text"), [(k, t) for k, ts in PERSONAL_NEGATIVE.items() for t in ts]
)
def test_personal_data_near_misses(kind: str, text: str) -> None:
    assert kind not in [m.kind for m in detectors.scan(text)]


def test_masks_keep_only_what_is_safe() -> None:
    assert masked("pay 4111 1111 1111 1111") == "pay [card_number:****1111]"
    assert masked("password=hunter2 ok") == "password=[REDACTED:secret_assignment] ok"
    assert (
        masked("postgres://audit:pw@db:5432/x")
        == "postgres://audit:[REDACTED:url_password]@db:5432/x"
    )


def test_an_aws_key_pair_masks_both_halves() -> None:
    text = "AKIAGPRQSE4T5ZZHQOUW / 4moUxm/yI5B/KGnplJJpdu0ol29vX6N/631mG8YE"
    assert masked(text) == "[REDACTED:aws_access_key] / [REDACTED:aws_secret_key]"


def test_a_refused_candidate_leaves_its_place_to_later_rules() -> None:
    # "url" is no secret name, so secret_assignment refuses the match at its start;
    # the URL password inside is still found.
    text = "url=postgres://u:pw123@db/x"
    assert masked(text) == "url=postgres://u:[REDACTED:url_password]@db/x"


def test_luhn() -> None:
    assert rules.luhn_ok("79927398713")
    assert not rules.luhn_ok("79927398710")


def test_plain_text_has_no_candidates() -> None:
    scanner = default_scanner()
    for text in ("User authenticated via SSO", "api/v1/records/12", ""):
        assert scanner.candidates(text.encode()) & scanner.all_rules == 0
        assert detectors.scan(text) == []


def test_entropy() -> None:
    assert rules.entropy("aaaa") == 0
    assert rules.entropy("abcd") == 2
