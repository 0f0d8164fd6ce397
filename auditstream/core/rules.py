"""The detection rules: credentials (masked), card numbers (masked), personal data
(detected, not masked) (pure).

A rule is a regular expression (Python `re`, compiled with re.ASCII) and an optional
check of the found value (Luhn for cards, mod 97 for IBANs, Shannon entropy and
allowlists for the rules ported from gitleaks). Which rules run on a text is decided by
`prefilter`.

Sources: the credential rules follow gitleaks' default configuration (most are
generated from it into `gitleaks_rules`) and detect-secrets' plugins (Azure storage
keys, Square OAuth secrets, Basic credentials, secret-named keys); see NOTICE.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from auditstream.core import gitleaks_rules, secret_names

Check = Callable[[str, str], bool]  # (secret, whole match) -> keep it


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: str  # compiled with re.ASCII, as one alternative of the combined pattern
    masked: bool = True
    # The group that holds the secret; 0: the first group that matched, else the whole
    # match. Only the secret is replaced, so `password=` stays readable.
    group: int = 0
    check: Check | None = None
    key_group: int = 0  # a group holding a key name that must name a secret
    # Further (group, kind) pairs masked from the same match: the id of an AWS key pair.
    extra: tuple[tuple[int, str], ...] = ()


# -- checks ----------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
        double = not double
    return total % 10 == 0


# Issuer prefixes (first six digits, as ranges) and the lengths of each network's card
# numbers: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro (16 only:
# its 12-19 would take most long numeric ids for cards).
_NETWORKS: Final = (
    ((400000, 499999), (13, 16, 19)),
    ((510000, 559999), (16,)),
    ((222100, 272099), (16,)),
    ((340000, 349999), (15,)),
    ((370000, 379999), (15,)),
    ((601100, 601199), (16, 17, 18, 19)),
    ((644000, 659999), (16, 17, 18, 19)),
    ((352800, 358999), (16, 17, 18, 19)),
    ((300000, 305999), (14, 15, 16, 17, 18, 19)),
    ((360000, 369999), (14, 15, 16, 17, 18, 19)),
    ((380000, 399999), (16, 17, 18, 19)),
    ((620000, 629999), (16, 17, 18, 19)),
    ((500000, 509999), (16,)),
    ((560000, 699999), (16,)),
)


def _card(text: str, _: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    prefix = int(digits[:6])
    return any(
        low <= prefix <= high and len(digits) in lengths for (low, high), lengths in _NETWORKS
    ) and luhn_ok(digits)


def _iban(text: str, _: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ip(text: str, _: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # Loopback and unspecified addresses identify nobody.
    return not (address.is_loopback or address.is_unspecified)


def _ssn(text: str, _: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone(text: str, _: str) -> bool:
    return 8 <= sum(c.isdigit() for c in text) <= 15


def _basic(text: str, _: str) -> bool:
    """A Basic credential is base64 of `user:password`."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and decoded.isascii() and decoded.decode().isprintable()


def entropy(text: str) -> float:
    """Shannon entropy in bits per character, as gitleaks computes it."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def _gitleaks_check(
    minimum: float,
    secret_allow: tuple[str, ...],
    match_allow: tuple[str, ...],
    stop: frozenset[str],
) -> Check:
    stopwords = tuple(stop | set(gitleaks_rules.GLOBAL_STOPWORDS))

    @functools.cache
    def allowlists() -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
        # Compiled on first use: most rules never see a candidate in a process's life.
        secrets = [re.compile(p, re.ASCII) for p in secret_allow + gitleaks_rules.GLOBAL_ALLOW]
        return secrets, [re.compile(p, re.ASCII) for p in match_allow]

    def check(secret: str, whole: str) -> bool:
        if minimum and entropy(secret) < minimum:
            return False
        secret_patterns, match_patterns = allowlists()
        if any(p.search(secret) for p in secret_patterns):
            return False
        if any(p.search(whole) for p in match_patterns):
            return False
        lowered = secret.lower()
        return not any(word in lowered for word in stopwords)

    return check


# -- rules -----------------------------------------------------------------------------
_NAME_ALTERNATION = "|".join(
    re.escape(a).replace(r"\ ", " ") for a in sorted(secret_names.ANCHORS, key=len, reverse=True)
)
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "APKA")
_AWS_ID = r"(?:A3T[A-Z0-9]|" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}"
_IBAN_COUNTRIES = [
    "AD",
    "AE",
    "AL",
    "AT",
    "AZ",
    "BA",
    "BE",
    "BG",
    "BH",
    "BR",
    "BY",
    "CH",
    "CR",
    "CY",
    "CZ",
    "DE",
    "DK",
    "DO",
    "EE",
    "EG",
    "ES",
    "FI",
    "FO",
    "FR",
    "GB",
    "GE",
    "GI",
    "GL",
    "GR",
    "GT",
    "HR",
    "HU",
    "IE",
    "IL",
    "IQ",
    "IS",
    "IT",
    "JO",
    "KW",
    "KZ",
    "LB",
    "LC",
    "LI",
    "LT",
    "LU",
    "LV",
    "LY",
    "MC",
    "MD",
    "ME",
    "MK",
    "MR",
    "MT",
    "MU",
    "NL",
    "NO",
    "PK",
    "PL",
    "PS",
    "PT",
    "QA",
    "RO",
    "RS",
    "SA",
    "SC",
    "SD",
    "SE",
    "SI",
    "SK",
    "SM",
    "SO",
    "ST",
    "SV",
    "TL",
    "TN",
    "TR",
    "UA",
    "VA",
    "VG",
    "XK",
]

CREDENTIAL_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "private_key",
        # A whole PEM block, or one cut off before its END line (a truncated log line):
        # then its base64 lines, which `\n` escapes may separate.
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END"
        r"[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|(?:(?:\s|\\n)*[A-Za-z0-9+/=]{16,})+)",
    ),
    Rule(
        "aws_secret_key",
        # An access key id with a 40-character secret beside it: `id / secret`, `id:secret`.
        rf"\b({_AWS_ID})\b[\s:=,;|/\"'()\[\]{{}}-]{{1,20}}?([A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])",
        group=2,
        extra=((1, "aws_access_key"),),
    ),
    Rule("aws_access_key", rf"\b({_AWS_ID})\b"),
    Rule(
        "authorization_header",
        # The scheme stays readable. One token after Bearer, Basic and the like; the
        # rest of the line after Digest and the signature schemes, whose credentials
        # hold spaces and commas.
        r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:"
        r"(?:digest|negotiate|ntlm|aws4-hmac-sha256|hoba|mutual|vapid)[ \t]+([^\"'\r\n]+)|"
        r"(?:bearer|basic|token|apikey|sso-key|dpop|gnap|privatetoken|scram-sha-256)[ \t]+"
        r"([^\s\"',;]+)|([^\s\"',;]+))",
    ),
    Rule(
        "url_password",
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:@/\"'<>]{0,128}:([^\s@/\"'<>]{1,256})@"
        r"[^\s/@\"'<>]",
    ),
    Rule(
        "secret_assignment",
        # `key=value`, `key: value`, `"key": "value"`, `Header: value`, `key => value`
        # where the key names a secret (secret_names), whatever the value looks like.
        # Quotes may come escaped (`\"key\": \"value\"`: JSON inside a JSON string).
        rf"(?i)(?<![\w.-])([\w.-]{{0,40}}?(?:{_NAME_ALTERNATION})[\w.-]{{0,30}})(?:\\?[\"'])?"
        r"[ \t]*(?:=>|:=|[=:])[ \t]*(?:\\\"((?:[^\"\\\r\n]|\\[^\"])+)\\\"|\"([^\"\r\n]+)\"|"
        r"'([^'\r\n]+)'|((?:[^\s\"',;&)}\]\\]|\\(?![\"']))+))",
        key_group=1,
    ),
    Rule(
        "jwt",
        r"\bey[JA][A-Za-z0-9_-]{10,}\.ey[JA][A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
    ),
    Rule("bearer_token", r"(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)"),
    Rule("basic_credentials", r"(?i)\bbasic[ \t]+([A-Za-z0-9+/]{6,}={0,2})", check=_basic),
    Rule(
        "azure_storage_key",
        r"(?i)\b(?:AccountKey|SharedAccessKey|PrimaryKey|SecondaryKey)[ \t]*=[ \t]*"
        r"([A-Za-z0-9+/]{20,}={0,2})",
    ),
    Rule("azure_sas_signature", r"(?i)[?&;]sig=([A-Za-z0-9%+/]{16,}(?:%3D|=){0,2})"),
    Rule("stripe_webhook_secret", r"\b(whsec_[A-Za-z0-9]{24,})"),
    Rule("square_oauth_secret", r"\b(sq0csp-[0-9A-Za-z_-]{43})"),
    Rule(
        "braintree_access_token",
        r"\b(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})",
    ),
    Rule("mailgun_api_key", r"\b(key-[0-9a-f]{32})\b"),
    Rule(
        "openai_api_key",
        r"\b(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{48})\b",
    ),
    Rule("anthropic_api_key", r"\b(sk-ant-(?:api|admin|sid|oat)[0-9]{2}-[\w-]{20,})"),
    Rule("google_oauth_token", r"\b(ya29\.[\w-]{20,})"),
    Rule(
        "discord_webhook_url",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/"
        r"([\w-]{60,70})",
    ),
)


def _ported(row: gitleaks_rules.Row) -> Rule:
    kind, pattern, group, minimum, secret_allow, match_allow, stopwords = row
    return Rule(
        kind,
        pattern,
        group=group,
        check=_gitleaks_check(minimum, secret_allow, match_allow, frozenset(stopwords)),
    )


PORTED_RULES: Final = tuple(_ported(row) for row in gitleaks_rules.RULES)

CARD = "card_number"
CARD_RULE: Final = Rule(
    CARD,
    # Real card numbers are contiguous or grouped in fours (Amex and Diners 4-6-5/4-6-4).
    r"\b(?:[0-9]{13,19}|[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{1,7}|"
    r"[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})\b",
    check=_card,
)

PERSONAL_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "email",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b",
        masked=False,
    ),
    Rule(
        "iban",
        rf"\b(?:{'|'.join(_IBAN_COUNTRIES)})[0-9]{{2}}(?: ?[A-Z0-9]{{4}}){{2,7}}"
        r"(?: ?[A-Z0-9]{1,4})?\b",
        masked=False,
        check=_iban,
    ),
    Rule("us_ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", masked=False, check=_ssn),
    Rule(
        "uk_nino",
        r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
        masked=False,
    ),
    Rule(
        "ipv4",
        r"\b(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
        r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\b",
        masked=False,
        check=_ip,
    ),
    Rule(
        "ipv6",
        # Full and `::`-compressed forms; the check parses what the pattern proposes.
        r"(?<![:\w])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|"
        r"(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?|"
        r"::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})(?![:\w])",
        masked=False,
        check=_ip,
    ),
    Rule(
        "phone",
        r"(?<![\w+])\+[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}"
        r"(?:[ .-]?[0-9]{2,4}){1,3}\b",
        masked=False,
        check=_phone,
    ),
    Rule(
        "medical_record",
        r"(?i)\b(?:MRN|medical record(?: number)?)[ \t]*[:#]?[ \t]*[0-9]{6,10}\b",
        masked=False,
    ),
)

# Priority order: where two rules match at the same place, the earlier one wins.
RULES: Final[tuple[Rule, ...]] = CREDENTIAL_RULES + PORTED_RULES + (CARD_RULE,) + PERSONAL_RULES
