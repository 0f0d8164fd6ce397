"""Retention policy: which class an event belongs to and until when it is kept (pure).

The policy is TOML (see auditstream/schemas/policy.toml): named classes with a number
of days, and rules with conditions. Every matching rule contributes its class; the
longest retention wins (between equals, the earlier rule), and nothing goes below the
default class, so no rule can shorten what another requires. A matching rule may also
set legal hold.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditstream.errors import ConfigError
from auditstream.proto.v1 import log_entry_pb2 as pb

DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class RetentionClass:
    name: str
    days: int
    description: str = ""
    # Optional move to colder storage after `transition_days` (S3 lifecycle).
    transition_days: int = 0
    storage_class: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    retention_class: str
    legal_hold: bool = False
    severity_at_least: int = 0
    event_types: frozenset[int] = frozenset()
    policy_tags: frozenset[str] = frozenset()
    components: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    actors: frozenset[str] = frozenset()

    def matches(self, facts: Facts) -> bool:
        if self.severity_at_least and facts.severity < self.severity_at_least:
            return False
        if self.event_types and facts.event_type not in self.event_types:
            return False
        if self.policy_tags and self.policy_tags.isdisjoint(facts.policy_tags):
            return False
        if self.components and facts.component not in self.components:
            return False
        if self.tenants and facts.tenant_id not in self.tenants:
            return False
        return not (self.actors and facts.actor_id not in self.actors)


class Facts(NamedTuple):
    """The fields rules look at."""

    severity: int
    event_type: int
    policy_tags: tuple[str, ...]
    component: str
    tenant_id: str
    actor_id: str


class Decision(NamedTuple):
    retention_class: str
    retain_until_ns: int
    legal_hold: bool


MEMO_LIMIT = 65_536  # distinct fact combinations remembered; then the memo starts over


@dataclass(frozen=True)
class Policy:
    version: str
    classes: Mapping[str, RetentionClass]
    default_class: str
    rules: tuple[Rule, ...]
    # Facts -> (class name, days, legal hold): the rules are pure, and a stream repeats
    # few facts.
    _memo: dict[tuple[object, ...], tuple[str, int, bool]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def decide(self, entry: pb.LogEntry, start_ns: int) -> Decision:
        """Class, retain-until and legal hold for `entry`, counting from `start_ns`."""
        uses = self._uses
        # Only the facts some rule looks at are read (reading a field has its cost).
        key = (
            entry.severity if uses[0] else 0,
            entry.event_type if uses[1] else 0,
            tuple(entry.policy_tags[:]) if uses[2] else (),
            entry.component if uses[3] else "",
            entry.tenant_id if uses[4] else "",
            entry.actor_id if uses[5] else "",
        )
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            chosen, hold = self._class_for(Facts(*key))
            found = self._memo[key] = (chosen.name, chosen.days * DAY_NS, hold)
        name, span_ns, hold = found
        return Decision(name, start_ns + span_ns, hold)

    @functools.cached_property
    def _uses(self) -> tuple[bool, bool, bool, bool, bool, bool]:
        """Which of the facts (severity, event type, tags, component, tenant, actor) any
        rule looks at."""
        rules = self.rules
        return (
            any(r.severity_at_least for r in rules),
            any(r.event_types for r in rules),
            any(r.policy_tags for r in rules),
            any(r.components for r in rules),
            any(r.tenants for r in rules),
            any(r.actors for r in rules),
        )

    def _class_for(self, facts: Facts) -> tuple[RetentionClass, bool]:
        default = self.classes[self.default_class]
        chosen: RetentionClass | None = None
        hold = False
        for rule in self.rules:
            if rule.matches(facts):
                candidate = self.classes[rule.retention_class]
                if chosen is None or candidate.days > chosen.days:
                    chosen = candidate  # ties: the earlier rule's class
                hold = hold or rule.legal_hold
        if chosen is None or chosen.days < default.days:
            chosen = default  # rules lengthen retention, never shorten it
        return chosen, hold

    @property
    def longest_days(self) -> int:
        return max(c.days for c in self.classes.values())


def _enum_value(enum: Any, name: str, where: str) -> int:
    try:
        return int(enum.Value(name))
    except ValueError as exc:
        raise ConfigError(f"{where}: unknown value {name!r}") from exc


def _names(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a string or a list of strings")


_RULE_KEYS = {
    "name",
    "class",
    "legal_hold",
    "severity_at_least",
    "event_types",
    "policy_tags",
    "components",
    "tenants",
    "actors",
}


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse and check a policy document; raises `ConfigError` naming the problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    classes: dict[str, RetentionClass] = {}
    for name, spec in doc.get("classes", {}).items():
        days = spec.get("days") if isinstance(spec, dict) else None
        if not isinstance(days, int) or days < 1:
            raise ConfigError(f"{source}: class {name!r} needs a positive whole number of days")
        transition = spec.get("transition_days", 0)
        storage = str(spec.get("storage_class", ""))
        if not isinstance(transition, int) or transition < 0 or bool(transition) != bool(storage):
            raise ConfigError(
                f"{source}: class {name!r}: transition_days and storage_class go together"
            )
        classes[name] = RetentionClass(
            name, days, str(spec.get("description", "")), transition, storage
        )
    if not classes:
        raise ConfigError(f"{source}: no retention classes defined")
    default = doc.get("default_class", "")
    if default not in classes:
        raise ConfigError(f"{source}: default_class {default!r} is not a defined class")
    rules = tuple(
        _parse_rule(i, spec, classes, source) for i, spec in enumerate(doc.get("rules", []))
    )
    return Policy(str(doc.get("version", "unversioned")), classes, default, rules)


def _parse_rule(
    index: int, spec: Mapping[str, Any], classes: Mapping[str, RetentionClass], source: str
) -> Rule:
    where = f"{source}: rule {spec.get('name', index)!r}"
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    target = spec.get("class")
    if target not in classes:
        raise ConfigError(f"{where}: class {target!r} is not defined")
    severity = spec.get("severity_at_least")
    return Rule(
        name=str(spec.get("name", f"rule-{index}")),
        retention_class=str(target),
        legal_hold=bool(spec.get("legal_hold", False)),
        severity_at_least=_enum_value(pb.Severity, severity, where) if severity else 0,
        event_types=frozenset(
            _enum_value(pb.EventType, n, where) for n in _names(spec.get("event_types", []), where)
        ),
        policy_tags=frozenset(_names(spec.get("policy_tags", []), where)),
        components=frozenset(_names(spec.get("components", []), where)),
        tenants=frozenset(_names(spec.get("tenants", []), where)),
        actors=frozenset(_names(spec.get("actors", []), where)),
    )
