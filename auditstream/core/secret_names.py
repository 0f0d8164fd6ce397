"""Whether a key names a secret: `password`, `db_pass`, `X-Api-Key`, `SecretAccessKey` (pure).

A key is split into words at `_`, `.`, `-`, spaces and camelCase humps, compared in
lowercase. It names a secret when
- its last word is a secret noun (`password`, `token`, `apikey`, ...) or ends in one
  (`dbpassword`, `awssecretaccesskey`), or its last two words are a key pair (`api key`,
  `access key`, `private key`, ...), or
- any word is a password or secret word and the last word does not say the value is
  only about the secret (`password_confirmation` yes, `password_changed_at` no).

`ANCHORS` are the lowercase literals one of which every such key contains; the scanner
uses them to skip texts that cannot hold a secret-named key.
"""

from __future__ import annotations

import re
from typing import Final

_STRONG: Final = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "secrets"})
_NOUNS: Final = _STRONG | frozenset(
    {"pass", "token", "credential", "credentials", "authorization", "passcode"}
)
_KEY_KINDS: Final = ("api", "access", "private", "secret", "account", "signing", "encryption")
_PAIRS: Final = frozenset((kind, "key") for kind in _KEY_KINDS) | {("client", "secret")}
# Nouns that also name a secret as the end of one word: "dbpassword", "xapikey".
_SUFFIXES: Final = tuple(
    sorted(
        (_STRONG - {"pwd"}) | {"token", "credentials", "credential"} | {a + b for a, b in _PAIRS}
    )
)
# Last words that make a key about the secret, not the secret itself.
_ABOUT: Final = frozenset(
    [
        "name",
        "names",
        "id",
        "ids",
        "arn",
        "ref",
        "hint",
        "policy",
        "policies",
        "type",
        "kind",
        "length",
        "len",
        "size",
        "min",
        "max",
        "expiry",
        "expires",
        "expired",
        "expiration",
        "age",
        "at",
        "time",
        "date",
        "ts",
        "timestamp",
        "version",
        "count",
        "changed",
        "updated",
        "reset",
        "rotated",
        "rotation",
        "required",
        "enabled",
        "set",
        "strength",
        "path",
        "file",
        "url",
        "uri",
        "manager",
        "store",
        "vault",
        "label",
        "description",
        "prompt",
        "field",
        "mode",
        "status",
        "state",
        "question",
        "rule",
        "rules",
        "format",
        "algorithm",
    ]
)
_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^A-Za-z0-9_.\- ]+")

_SEPARATORS: Final = ("", " ", "_", "-", ".")
ANCHORS: Final = tuple(
    sorted(
        {"pass", "pwd", "secret", "token", "credential", "authorization"}
        | {f"{a}{sep}{b}" for a, b in _PAIRS for sep in _SEPARATORS}
    )
)


def words(key: str) -> list[str]:
    """`key` split at separators and camelCase humps, in lowercase."""
    return [w.lower() for w in _WORDS.findall(key)]


def is_secret_name(key: str) -> bool:
    parts = words(key)
    if not parts:
        return False
    last = parts[-1]
    if last in _NOUNS or last.endswith(_SUFFIXES):
        return True
    if len(parts) > 1 and (parts[-2], last) in _PAIRS:
        # Only with at most one separator between the two words, as ANCHORS has them.
        lowered = key.lower()
        return any(f"{parts[-2]}{sep}{last}" in lowered for sep in _SEPARATORS) or (
            any(part in _STRONG for part in parts) and last not in _ABOUT
        )
    return last not in _ABOUT and any(part in _STRONG for part in parts)
