"""A corpus per detector: what it must find, and near misses it must not."""

from __future__ import annotations

import pytest

from auditstream.core import detectors

POSITIVE: dict[str, list[str]] = {
    "email": ["contact jane.doe+audit@example.co.uk now", "x@y.io"],
    "phone": ["call +1 415 555 0100", "+44 20 7946 0958", "+4915112345678"],
    "us_ssn": ["ssn 123-45-6789 on file"],
    "uk_nino": ["NI number AB 12 34 56 C", "AB123456C"],
    "card_number": [
        "visa 4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500005555555559",
        "378282246310005",
    ],
    "iban": ["IBAN DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "ipv4": ["from 203.0.113.42 port", "10.1.2.3"],
    "ipv6": ["peer 2001:db8::1 connected".replace("::", ":0:0:0:0:0:"), "fe80:0:0:0:0:0:0:1"],
    "aws_access_key": ["key AKIAIOSFODNN7EXAMPLE used"],
    "private_key": [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    ],
    "jwt": [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ],
    "bearer_token": ["Authorization: Bearer abcdef0123456789abcdef0123456789"],
    "github_token": ["ghp_" + "a" * 36],
    "slack_token": ["xoxb-123456789012-abcdefghijkl"],
    "google_api_key": ["AIza" + "B" * 35],
    "password_assignment": ["password=hunter2hunter2", "api_key: s3cr3t-v@lue"],
    "medical_record": ["MRN: 00123456 admitted"],
}

NEGATIVE: dict[str, list[str]] = {
    "email": ["user at example dot com", "@handle", "foo@bar"],
    "phone": ["version 1.2.3", "call 555", "+12"],
    "us_ssn": ["000-12-3456", "666-12-3456", "123-00-4567", "912-34-5678", "123456789"],
    "card_number": ["4111 1111 1111 1112", "1234 5678 9012 3456", "order 12345678901234 shipped"],
    "iban": ["DE89 3704 0044 0532 0130 01", "XX00"],
    "ipv4": ["256.1.1.1", "127.0.0.1", "0.0.0.0", "1.2.3"],
    "aws_access_key": ["AKIA123", "akiaiosfodnn7example"],
    "private_key": ["-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"],
    "jwt": ["eyJ.eyJ.x", "header.payload.signature"],
    "bearer_token": ["bearer of bad news", "Bearer short"],
    "password_assignment": ["password reset requested", "pwd=abc"],
    "medical_record": ["MRN pending"],
    "uk_nino": ["QQ123456C", "AB123456E"],
}


def kinds(text: str) -> list[str]:
    return [m.kind for m in detectors.scan(text)]


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in POSITIVE.items() for t in texts])
def test_detects(kind: str, text: str) -> None:
    assert kind in kinds(text), kinds(text)


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in NEGATIVE.items() for t in texts])
def test_near_misses_are_not_detected(kind: str, text: str) -> None:
    assert kind not in kinds(text), kinds(text)


def test_every_detector_has_a_corpus() -> None:
    missing = set(detectors.KINDS) - set(POSITIVE)
    assert not missing


def test_luhn() -> None:
    assert detectors.luhn_ok("79927398713")
    assert not detectors.luhn_ok("79927398710")


def test_masks_keep_only_what_is_safe() -> None:
    (card,) = list(detectors.scan("pay 4111 1111 1111 1111"))
    assert detectors.mask(card) == "[card_number:****1111]"
    (key,) = list(detectors.scan("AKIAIOSFODNN7EXAMPLE"))
    assert detectors.mask(key) == "[REDACTED:aws_access_key]"


def test_plain_text_is_cheap_and_clean() -> None:
    assert kinds("User authenticated via SSO") == []
    assert kinds("") == []
