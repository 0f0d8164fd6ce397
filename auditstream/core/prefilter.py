"""Which rules can match somewhere in a text: one RE2 pass for all of them (pure).

Every rule is turned into a looser RE2 pattern that matches wherever the rule does
(`loosen`, `for_re2`); an RE2 Set runs them all in one linear pass over the bytes and
says which matched. Only those rules then run, as Python patterns with their checks
(`detectors.Scanner`). Passes over serialized protobuf are sound too: a message holds
its strings verbatim, so a match inside one of them is a match in the whole.

Why RE2 and not literal anchors: decision 0012.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import re2

# An optional run that opens a pattern (gitleaks' `[\w.-]{0,50}?` before a keyword):
# whether the pattern matches somewhere does not depend on it.
_OPTIONAL_LEAD = re.compile(r"^((?:\(\?i\))?(?:\((?:\?[:i]+)?)*)\[\\w\.-\]\{0,\d+\}\??")
_COUNTED = re.compile(r"\{(\d+)(?:,\d*)?\}")
# Python's ASCII `\s` also matches the vertical tab; RE2's does not.
_SPACE = r"\t\n\v\f\r "
_MIN_REPEAT_CAP = 16
MAX_MEMORY = 256 << 20  # RE2's DFA cache for the whole set


def loosen(pattern: str) -> str:
    """`pattern` without its zero-width assertions (word boundaries, ^, $, lookarounds)
    and without an optional run that opens it: it matches somewhere wherever `pattern`
    does (at the same place or later), and in more texts."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            pair = pattern[i : i + 2]
            if pair not in ("\\b", "\\B", "\\A", "\\Z"):
                out.append(pair)
            i += 2
        elif char == "[":
            end = class_end(pattern, i)
            out.append(pattern[i : end + 1])
            i = end + 1
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = group_end(pattern, i + 1) + 1
        else:
            if char not in "^$":
                out.append(char)
            i += 1
    return _OPTIONAL_LEAD.sub(r"\1", "".join(out))


def group_end(pattern: str, inside: int) -> int:
    """Index of the `)` closing the innermost group that contains `inside`, or the
    pattern's length when none does."""
    depth, i = 0, inside
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = class_end(pattern, i)
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return len(pattern)


def class_end(pattern: str, start: int) -> int:
    """Index of the `]` closing the character class opened at `start`."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def for_re2(pattern: str) -> str:
    """A loosened Python pattern as RE2 reads it, over Latin-1 bytes (one character per
    byte), so a Python character may be up to four: counted repeats become "at least
    min(n, 16)" (small automata are fast too), a single atom that matches non-ASCII
    (`.`, `[^...]`, `\\S`) one to four bytes; `\\s` includes `\\v` as Python's does."""

    def widen(found: re.Match[str]) -> str:
        return f"{{{min(int(found.group(1)), _MIN_REPEAT_CAP)},}}"

    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            pair = pattern[i : i + 2]
            # RE2's `\S` already includes `\v`, so only `\s` needs widening.
            out.append(f"[{_SPACE}]" if pair == "\\s" else pair)
            i += 2
            wide = pair in ("\\S", "\\W", "\\D")
        elif char == "[":
            end = class_end(pattern, i)
            body = pattern[i + 1 : end].replace("\\s", _SPACE)
            out.append(f"[{body}]")
            wide = body.startswith("^")
            i = end + 1
        else:
            out.append(char)
            i += 1
            wide = char == "."
        if wide:
            # One character of Python may be up to four bytes here.
            following = pattern[i : i + 1]
            if following == "?":
                out.append("{0,4}")
                i += 1
            elif following not in ("*", "+", "{"):
                out.append("{1,4}")
    return _COUNTED.sub(widen, "".join(out))


class Prefilter:
    """An RE2 Set over `patterns` (Python patterns of rules, in order), then `markers`
    (RE2 patterns used as they are). Compiled on construction."""

    def __init__(self, patterns: Sequence[str], markers: Sequence[str] = ()) -> None:
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        options.never_capture = True
        options.max_mem = MAX_MEMORY
        self._set = re2.Set.SearchSet(options)
        for pattern in patterns:
            self._set.Add(for_re2(loosen(pattern)))
        for marker in markers:
            self._set.Add(marker)
        # Always matches: its absence from a result means RE2 gave up (its DFA ran out
        # of memory) and said nothing about the other patterns.
        self._sentinel = len(patterns) + len(markers)
        self._set.Add("")
        self._set.Compile()
        self._everything = (1 << self._sentinel) - 1

    def matching(self, data: bytes) -> int:
        """A bit per pattern and marker (in that order) that matches somewhere in `data`;
        every bit when RE2 could not tell."""
        found = self._set.Match(data) or ()
        if self._sentinel not in found:
            return self._everything
        bits = 0
        for index in found:
            bits |= 1 << index
        return bits & self._everything
