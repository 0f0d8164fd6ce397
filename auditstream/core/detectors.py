"""Finding credentials and personal data in text: one pass per text (pure).

One RE2 pass over a text finds the rules that can match in it (`prefilter`); only
those rules are joined into one alternation, which then scans the text once, left to
right. Where two rules match at the same place the earlier rule of
`rules.RULES` wins; a match its rule's check refuses (a Luhn failure, low entropy, a key
that does not name a secret) leaves its place to the later rules, then to the next
character. The prefilter only decides which rules run: `scan_unfiltered` runs every
rule, and a property test checks that both give the same result.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from auditstream.core import rules as rulebook
from auditstream.core.prefilter import Prefilter
from auditstream.core.rules import CARD, Rule
from auditstream.core.secret_names import ANCHORS as NAME_LITERALS
from auditstream.core.secret_names import is_secret_name

KINDS: Final = tuple(
    dict.fromkeys(
        [rule.kind for rule in rulebook.RULES] + [k for r in rulebook.RULES for _, k in r.extra]
    )
)
MASKED_KINDS: Final = frozenset(
    [r.kind for r in rulebook.RULES if r.masked] + [k for r in rulebook.RULES for _, k in r.extra]
)
CREDENTIAL_KINDS: Final = MASKED_KINDS - {CARD}


@dataclass(frozen=True, slots=True)
class Match:
    kind: str
    start: int
    end: int
    text: str
    masked: bool


class _Alternation:
    """The rules of one candidate set joined into one pattern, with where each rule's
    groups start in it."""

    __slots__ = ("group_base", "pattern", "positions")

    def __init__(self, indexes: Sequence[int], compiled: Sequence[re.Pattern[str]]) -> None:
        parts: list[str] = []
        self.group_base: dict[int, tuple[int, int]] = {}  # outer group -> (rule, base)
        self.positions = tuple(indexes)
        group = 1
        for index in indexes:
            body = compiled[index].pattern
            if body.startswith("(?i)"):
                body = f"(?i:{body[4:]})"
            parts.append(f"({body})")
            self.group_base[group] = (index, group)
            group += 1 + compiled[index].groups
        self.pattern = re.compile("|".join(parts), re.ASCII)


# Markers: not rules, but what the prefilter also reports. A key that may name a secret
# (Struct keys are no `key: value` text a rule sees), the health words of HIPAA, and a
# backslash (a JSON escape may hide a secret from the bytes).
NAMED_KEY = "named_key"
HEALTH_WORD = "health_word"
BACKSLASH = "backslash"
HEALTH_WORDS: Final = ("diagnosis", "patient", "prescription", "medical record", "icd-10", "phi")
MARKERS: Final = {
    NAMED_KEY: "(?i)" + "|".join(re.escape(n) for n in NAME_LITERALS),
    HEALTH_WORD: "(?i)" + "|".join(re.escape(w) for w in HEALTH_WORDS),
    BACKSLASH: r"\\",
}


class Scanner:
    """Scans texts with `rules` (default: all of `rules.RULES`). Compiles its patterns
    when constructed; keep one per process."""

    def __init__(self, rules: Sequence[Rule] = rulebook.RULES, cache_size: int = 4096) -> None:
        self.rules = tuple(rules)
        self._compiled = [re.compile(rule.pattern, re.ASCII) for rule in self.rules]
        self._prefilter = Prefilter([rule.pattern for rule in self.rules], list(MARKERS.values()))
        self.all_rules = (1 << len(self.rules)) - 1
        self.markers = {name: 1 << (len(self.rules) + i) for i, name in enumerate(MARKERS)}
        self._cache: dict[int, _Alternation] = {}
        self._cache_size = cache_size

    # -- which rules can match -----------------------------------------------------
    def candidates(self, data: bytes) -> int:
        """The rules (a bit per index) that can match somewhere in `data` (UTF-8 bytes
        of one text, or a serialized message holding many: more text only adds rules),
        and the bits of `markers` that occur."""
        return self._prefilter.matching(data)

    # -- scanning --------------------------------------------------------------------
    def scan(self, text: str, candidates: int | None = None) -> list[Match]:
        """Every detection in `text`, left to right, non-overlapping. `candidates` is
        what `candidates` gave for a text containing this one (default: this text's)."""
        if not text:
            return []
        if candidates is None:
            candidates = self.candidates(text.encode("utf-8", "surrogatepass"))
        candidates &= self.all_rules
        if not candidates:
            return []
        return self._scan(text, candidates)

    def scan_unfiltered(self, text: str) -> list[Match]:
        """`scan` with every rule, prefilter or not: the reference the prefilter must equal."""
        return self._scan(text, self.all_rules) if text else []

    def _alternation(self, candidates: int) -> _Alternation:
        found = self._cache.get(candidates)
        if found is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            indexes = [i for i in range(len(self.rules)) if candidates >> i & 1]
            found = self._cache[candidates] = _Alternation(indexes, self._compiled)
        return found

    def _scan(self, text: str, candidates: int) -> list[Match]:
        alternation = self._alternation(candidates)
        pattern = alternation.pattern
        out: list[Match] = []
        pos = 0
        while pos <= len(text):
            found = pattern.search(text, pos)
            if found is None:
                break
            assert found.lastindex is not None
            index, base = alternation.group_base[found.lastindex]
            accepted = self._accept(index, found, base)
            if accepted is None:
                accepted = self._later_rules(text, found.start(), index, alternation.positions)
            if accepted is None:
                pos = found.start() + 1
                continue
            matches, end = accepted
            out.extend(matches)
            pos = max(found.start() + 1, end)
        return out

    def _later_rules(
        self, text: str, start: int, refused: int, positions: Iterable[int]
    ) -> tuple[list[Match], int] | None:
        """The match at `start` of the first rule after `refused` that matches there and
        whose check accepts it."""
        for index in positions:
            if index <= refused:
                continue
            found = self._compiled[index].match(text, start)
            if found is not None:
                accepted = self._accept(index, found, 0)
                if accepted is not None:
                    return accepted
        return None

    def _accept(
        self, index: int, found: re.Match[str], base: int
    ) -> tuple[list[Match], int] | None:
        """The detections of one match (its end too), or None when its rule refuses it."""
        rule = self.rules[index]
        groups = self._compiled[index].groups
        if rule.key_group and not is_secret_name(found.group(base + rule.key_group)):
            return None
        if rule.group:
            where = base + rule.group
        else:
            first = base + rule.key_group + 1
            where = next((g for g in range(first, base + groups + 1) if found.start(g) >= 0), base)
        if found.start(where) < 0:
            where = base
        secret = found.group(where)
        if not secret or (rule.check is not None and not rule.check(secret, found.group(base))):
            return None
        out = [Match(rule.kind, found.start(where), found.end(where), secret, rule.masked)]
        for group, kind in rule.extra:
            if found.start(base + group) >= 0:
                out.append(
                    Match(
                        kind,
                        found.start(base + group),
                        found.end(base + group),
                        found.group(base + group),
                        True,
                    )
                )
        out.sort(key=lambda m: m.start)
        return out, found.end()


@functools.cache
def default_scanner() -> Scanner:
    """The scanner with every rule, built on first use (compiling takes a moment)."""
    return Scanner()


def scan(text: str) -> list[Match]:
    """Every detection in `text`, with the default scanner."""
    return default_scanner().scan(text)


def mask(match: Match) -> str:
    """What replaces a masked match: its kind, and for cards the last four digits."""
    if match.kind == CARD:
        digits = re.sub(r"\D", "", match.text)
        return f"[{CARD}:****{digits[-4:]}]"
    return f"[REDACTED:{match.kind}]"


def redact(text: str, matches: Iterable[Match]) -> str:
    """`text` with every masked match replaced by its mask."""
    parts: list[str] = []
    last = 0
    for match in matches:
        if match.masked:
            parts += (text[last : match.start], mask(match))
            last = match.end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


@dataclass(frozen=True)
class MaskedBytes:
    data: bytes
    matches: list[Match]


def mask_bytes(data: bytes, scanner: Scanner, mask_kinds: frozenset[str]) -> MaskedBytes:
    """`data` with every detection of a masked kind overwritten by `*`, byte for byte.

    Read as Latin-1 (one character per byte), so positions are byte offsets and binary
    framing around the text (protobuf, CBOR) keeps its lengths.
    """
    text = data.decode("latin-1")
    # RE2 reads the bytes as Latin-1 too, so its candidates hold for this text.
    matches = scanner.scan(text, scanner.candidates(data))
    out = bytearray(data)
    for match in matches:
        if match.kind in mask_kinds:
            out[match.start : match.end] = b"*" * (match.end - match.start)
    return MaskedBytes(bytes(out), matches)
