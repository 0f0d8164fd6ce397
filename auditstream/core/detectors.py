"""Detectors for personal data and secrets in free text (pure).

Each detector is a regular expression for candidates plus, where one exists, a
validator that rules out look-alikes (Luhn for card numbers, mod 97 for IBANs,
octet ranges for IP addresses). All detectors run as one combined pattern, so a text
is scanned once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Kinds, grouped by what they imply.
CREDENTIAL_KINDS = frozenset(
    {
        "aws_access_key",
        "private_key",
        "jwt",
        "bearer_token",
        "github_token",
        "slack_token",
        "google_api_key",
        "password_assignment",
    }
)
CARD = "card_number"


@dataclass(frozen=True, slots=True)
class Match:
    kind: str
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
        double = not double
    return total % 10 == 0


def _card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    # Issuer prefixes of the major networks: 3 (Amex, Diners, JCB), 4, 5, 2 (Mastercard), 6.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # Loopback and unspecified addresses identify nobody.
    return not (address.is_loopback or address.is_unspecified)


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 8 <= len(digits) <= 15


# (kind, pattern, validator). Order matters where patterns overlap: earlier wins.
_DETECTORS: tuple[tuple[str, str, Callable[[str], bool] | None], ...] = (
    (
        "private_key",
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----",
        None,
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}", None),
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b", None),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b", None),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", None),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", None),
    ("bearer_token", r"(?i:\bbearer\s+)[A-Za-z0-9._~+/-]{16,}=*", None),
    (
        "password_assignment",
        r"(?i:\b(?:password|passwd|pwd|secret|api[_-]?key))\s*[=:]\s*[^\s\"',;]{6,}",
        None,
    ),
    ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b", None),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", _iban),
    (CARD, r"\b(?:\d[ -]?){12,18}\d\b", _card),
    ("us_ssn", r"\b\d{3}-\d{2}-\d{4}\b", _ssn),
    ("uk_nino", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", None),
    (
        "ipv4",
        r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b",
        _ip,
    ),
    ("ipv6", r"(?<![:\w])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![:\w])", _ip),
    (
        "phone",
        r"(?<![\w+])\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}\b",
        _phone,
    ),
    ("medical_record", r"(?i:\b(?:MRN|medical record(?: number)?))\s*[:#]?\s*\d{6,10}\b", None),
)
_COMBINED = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p, _) in enumerate(_DETECTORS)))
_KINDS = {f"g{i}": (kind, check) for i, (kind, _, check) in enumerate(_DETECTORS)}
# Cheap pre-check: texts without any digit, '@', or key-like prefix cannot match.
_MAYBE = re.compile(
    r"[\d@]|-----BEGIN|eyJ|AKIA|ASIA|gh[pousr]_|xox|AIza|(?i:bearer|pass|secret|api)"
)

KINDS = tuple(kind for kind, _, _ in _DETECTORS)


def scan(text: str) -> Iterator[Match]:
    """Every detection in `text`, left to right, non-overlapping."""
    if not text or _MAYBE.search(text) is None:
        return
    for found in _COMBINED.finditer(text):
        group = found.lastgroup
        assert group is not None
        kind, check = _KINDS[group]
        value = found.group()
        if check is None or check(value):
            yield Match(kind, found.start(), found.end(), value)


def mask(match: Match) -> str:
    """What replaces a masked match: its kind, and for cards the last four digits."""
    if match.kind == CARD:
        digits = re.sub(r"\D", "", match.text)
        return f"[{CARD}:****{digits[-4:]}]"
    return f"[REDACTED:{match.kind}]"
