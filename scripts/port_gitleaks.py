"""Port gitleaks' default rules into auditstream/core/gitleaks_rules.py.

    python scripts/port_gitleaks.py PATH/TO/gitleaks/config/gitleaks.toml VERSION

gitleaks (MIT, see NOTICE) writes its rules for Go's RE2; Python's `re` differs in two
ways that matter here: a flag group such as `(?i)` may only open a pattern (RE2 lets it
switch case-insensitivity on for the rest of the enclosing group), and the end of text
is `\\Z` (RE2: `\\z`). Rules that auditstream/core/rules.py replaces by its own, and
rules that only name a file path, are left out; the output says which.
"""

from __future__ import annotations

import re
import sys
import tomllib
import warnings
from pathlib import Path

from auditstream.core.prefilter import class_end, group_end

OUT = Path(__file__).resolve().parent.parent / "auditstream" / "core" / "gitleaks_rules.py"
# Replaced by rules of our own (auditstream/core/rules.py), or not about text at all.
SKIPPED = {
    "aws-access-token": "aws_access_key (more prefixes, and the key pair by context)",
    "private-key": "private_key (also masks a PEM key cut off before its END line)",
    "jwt": "jwt (anchored on 'eyJ', not on 'ey')",
    "pkcs12-file": "matches file paths only",
}


def _split_alternatives(body: str) -> list[str]:
    """`body` split at its top-level `|`."""
    parts, depth, i, last = [], 0, 0, 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = class_end(body, i)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(body[last:i])
            last = i + 1
        i += 1
    parts.append(body[last:])
    return parts


def _scope_flags(pattern: str) -> str:
    """Turn every `(?i)` that does not open the pattern into scoped `(?i:...)` groups."""
    while True:
        found = [m.start() for m in re.finditer(r"\(\?i\)", pattern) if m.start() > 0]
        found = [p for p in found if pattern[p - 1] != "\\"]
        if not found:
            return pattern
        start = found[0]
        end = group_end(pattern, start + 4)
        rest = _split_alternatives(pattern[start + 4 : end])
        scoped = "|".join(f"(?i:{part})" for part in rest)
        pattern = pattern[:start] + scoped + pattern[end:]


def _escape_nested_brackets(pattern: str) -> str:
    """`[` inside a character class is literal in RE2; escape it for Python."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class and char == "[":
            out.append("\\[")
        else:
            if not in_class and char == "[":
                in_class = True
                out.append(char)
                if pattern[i + 1 : i + 2] == "^":
                    out.append("^")
                    i += 1
                if pattern[i + 1 : i + 2] == "]":
                    out.append("\\]")
                    i += 1
                i += 1
                continue
            if in_class and char == "]":
                in_class = False
            out.append(char)
        i += 1
    return "".join(out)


def convert(pattern: str) -> str:
    pattern = pattern.replace("\\z", "\\Z")
    pattern = re.sub(r"\(\?P<\w+>", "(", pattern)  # names would clash in a combined pattern
    pattern = _escape_nested_brackets(pattern)
    if pattern.startswith("(?i)") and "(?i)" in pattern[4:]:
        pattern = pattern[:4] + pattern[4:].replace("(?i)", "")
    head = "(?i)" if pattern.startswith("(?i)") else ""
    return head + _scope_flags(pattern[len(head) :])


def main(source: str, version: str) -> None:
    doc = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    rows = []
    for rule in doc["rules"]:
        rule_id = rule["id"]
        if rule_id in SKIPPED or "regex" not in rule:
            print(f"skipped {rule_id}: {SKIPPED.get(rule_id, 'no regex')}")
            continue
        pattern = convert(rule["regex"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            re.compile(pattern, re.ASCII)
        secret_allow: list[str] = []
        match_allow: list[str] = []
        stopwords: list[str] = []
        for allow in rule.get("allowlists", []):
            if "paths" in allow or allow.get("regexTarget") == "line":
                continue  # about files and lines, which audit events do not have
            target = match_allow if allow.get("regexTarget") == "match" else secret_allow
            target.extend(convert(r) for r in allow.get("regexes", []))
            stopwords.extend(w.lower() for w in allow.get("stopwords", []))
        rows.append(
            (
                rule_id.replace("-", "_"),
                pattern,
                int(rule.get("secretGroup", 0)),
                float(rule.get("entropy", 0.0)),
                tuple(secret_allow),
                tuple(match_allow),
                tuple(sorted(set(stopwords))),
            )
        )
    allow = doc["allowlist"]
    lines = [
        f'"""Secret rules ported from gitleaks {version}, config/gitleaks.toml (MIT; see NOTICE).',
        "",
        "Generated by scripts/port_gitleaks.py; do not edit. Each row: kind, pattern (Python",
        "`re`, compiled with re.ASCII), secret group, minimum Shannon entropy of the secret,",
        "allowlist patterns for the secret and for the whole match, stop words. gitleaks'",
        "keywords are not kept: auditstream.core.prefilter decides which rules run.",
        '"""',
        "",
        "from typing import Final",
        "",
        "Row = tuple[str, str, int, float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]",
        "",
        "RULES: Final[tuple[Row, ...]] = (",
    ]
    lines += [f"    {row!r}," for row in rows]
    lines += [")", ""]
    lines.append(
        "GLOBAL_ALLOW: Final[tuple[str, ...]] = "
        f"{tuple(convert(r) for r in allow.get('regexes', []))!r}"
    )
    lines.append(
        "GLOBAL_STOPWORDS: Final[tuple[str, ...]] = "
        f"{tuple(w.lower() for w in allow.get('stopwords', []))!r}"
    )
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rules to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
