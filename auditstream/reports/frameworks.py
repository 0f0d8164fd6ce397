"""Framework mappings and evidence queries, read from their TOML files (pure parsing).

One TOML file per framework (`auditstream/schemas/frameworks/<id>.toml`) maps control
ids to what the system records, the evidence the control rests on and the rule that
turns that evidence into a status; `queries.toml` holds the evidence queries the rules
name. Problems are `ConfigError`s naming the file and the control or query.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from auditstream.errors import ConfigError
from auditstream.settings.resources import schemas_dir

# Evidence that is not SQL over audit_events: gathered by `reports.sources`.
SOURCES: Final = frozenset({"verification", "archive", "dead_letters"})
RULE_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "present": frozenset({"evidence", "count", "at_least"}),
    "shares": frozenset({"evidence", "columns", "at_least", "total"}),
    "limits": frozenset({"checks"}),
    "verified": frozenset({"evidence"}),
    "archived": frozenset({"evidence"}),
    "locked": frozenset({"evidence"}),
    "retention": frozenset({"evidence", "tiers", "min_days", "online_days"}),
    "cadence": frozenset({"evidence", "every_days"}),
    "not_covered": frozenset(),
}
CHECK_FIELDS: Final = frozenset({"evidence", "column", "at_most", "label"})
CONTROL_FIELDS: Final = frozenset(
    {"id", "title", "records", "needs", "gaps", "rule", "sample", "matrix"}
)
FRAMEWORK_FIELDS: Final = frozenset(
    {"id", "name", "framework_version", "mapping_version", "source", "controls"}
)
QUERY_FIELDS: Final = frozenset(
    {"title", "where", "select", "group_by", "order_by", "sql", "over_time"}
)
PLACEHOLDERS: Final = ("{table}", "{checkpoints}", "{scope}", "{period}")


@dataclass(frozen=True)
class Query:
    """An evidence query: events selected by `where`, or a whole statement (`sql`)."""

    name: str
    title: str
    where: str = ""
    select: str = ""
    group_by: str = ""
    order_by: str = ""
    sql: str = ""
    over_time: bool = False

    @property
    def counts_events(self) -> bool:
        """Whether the query is about a set of events (which can be sampled)."""
        return bool(self.where)


@dataclass(frozen=True)
class Catalog:
    version: str
    queries: Mapping[str, Query]


@dataclass(frozen=True)
class Rule:
    kind: str
    params: Mapping[str, Any]

    def evidence(self) -> list[str]:
        """The evidence items the rule reads, in order."""
        names: list[str] = []
        for key in ("evidence", "tiers"):
            if key in self.params:
                names.append(str(self.params[key]))
        for check in self.params.get("checks", ()):
            names.append(str(check["evidence"]))
        if self.kind == "retention":
            names.append("archive")  # its oldest segment, stated beside the others
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    records: str
    rule: Rule
    needs: str = ""
    gaps: tuple[str, ...] = ()
    sample: str = ""  # the query whose events the proofs sample ("" : none)
    matrix: str = ""  # the coverage matrix the control is a row of


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    framework_version: str
    mapping_version: str
    source: str
    controls: tuple[Control, ...] = field(default_factory=tuple)
    text: str = ""  # the TOML the mapping was read from, as read

    def evidence(self) -> list[str]:
        """Every evidence item the controls read, and the queries they sample."""
        names: list[str] = []
        for control in self.controls:
            names += control.rule.evidence()
            if control.sample:
                names.append(control.sample)
        return list(dict.fromkeys(names))


def _load(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _text(doc: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return value


def _unknown(doc: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")


def parse_catalog(text: str, where: str = "queries.toml") -> Catalog:
    doc = _load(text, where)
    version = _text(doc, "version", where)
    conditions = doc.get("conditions", {})
    if not isinstance(conditions, dict) or not all(isinstance(v, str) for v in conditions.values()):
        raise ConfigError(f"{where}: [conditions] must map names to SQL strings")
    specs = doc.get("queries")
    if not isinstance(specs, dict) or not specs:
        raise ConfigError(f"{where}: no [queries]")
    queries = {}
    for name, spec in specs.items():
        at = f"{where}: query {name!r}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{at}: must be a table")
        _unknown(spec, QUERY_FIELDS, at)
        parts = {
            key: _expand(_text(spec, key, at, required=False), conditions, at)
            for key in ("where", "select", "group_by", "order_by", "sql")
        }
        if bool(parts["where"]) == bool(parts["sql"]):
            raise ConfigError(f"{at}: give either 'where' (a set of events) or 'sql'")
        if parts["sql"] and any(parts[k] for k in ("select", "group_by", "order_by")):
            raise ConfigError(f"{at}: 'select', 'group_by' and 'order_by' go with 'where'")
        over_time = spec.get("over_time", False)
        if not isinstance(over_time, bool) or (over_time and parts["select"]):
            raise ConfigError(f"{at}: 'over_time' is true or false, for counting queries")
        queries[name] = Query(
            name, _text(spec, "title", at), **{k: v.strip() for k, v in parts.items()},
            over_time=over_time,
        )  # fmt: skip
    return Catalog(version, queries)


def _expand(sql: str, conditions: Mapping[str, str], where: str) -> str:
    for name, condition in conditions.items():
        sql = sql.replace("{" + name + "}", condition)
    leftover = sql
    for placeholder in PLACEHOLDERS:
        leftover = leftover.replace(placeholder, "")
    start = leftover.find("{")
    while start >= 0:
        end = leftover.find("}", start)
        token = leftover[start : end + 1] if end > 0 else leftover[start:]
        if ":" not in token:  # {name:Type} is a bound parameter
            raise ConfigError(f"{where}: unknown placeholder {token}")
        start = leftover.find("{", start + 1)
    return sql


def parse_framework(text: str, catalog: Catalog, where: str = "framework") -> Framework:
    doc = _load(text, where)
    _unknown(doc, FRAMEWORK_FIELDS, where)
    header = {
        key: _text(doc, key, where)
        for key in ("id", "name", "framework_version", "mapping_version", "source")
    }
    specs = doc.get("controls")
    if not isinstance(specs, list) or not specs:
        raise ConfigError(f"{where}: no [[controls]]")
    controls = [
        _control(spec, catalog, f"{where}: control #{n + 1}") for n, spec in enumerate(specs)
    ]
    seen: set[str] = set()
    for control in controls:
        if control.id in seen:
            raise ConfigError(f"{where}: control {control.id!r} is listed twice")
        seen.add(control.id)
    return Framework(**header, controls=tuple(controls), text=text)


def _control(spec: Any, catalog: Catalog, where: str) -> Control:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a table")
    if isinstance(spec.get("id"), str):
        where = f"{where.rsplit(': ', 1)[0]}: control {spec['id']!r}"
    _unknown(spec, CONTROL_FIELDS, where)
    gaps = spec.get("gaps", [])
    if not isinstance(gaps, list) or not all(isinstance(g, str) and g for g in gaps):
        raise ConfigError(f"{where}: 'gaps' must be a list of strings")
    rule = _rule(spec.get("rule"), catalog, where)
    sample = _text(spec, "sample", where, required=False)
    if not sample:
        primary = rule.params.get("evidence")
        query = catalog.queries.get(str(primary))
        sample = query.name if query is not None and query.counts_events else ""
    elif sample not in catalog.queries or not catalog.queries[sample].counts_events:
        raise ConfigError(f"{where}: sample {sample!r} is not a query of events")
    control = Control(
        id=_text(spec, "id", where),
        title=_text(spec, "title", where),
        records=_text(spec, "records", where),
        rule=rule,
        needs=_text(spec, "needs", where),
        gaps=tuple(gaps),
        sample=sample,
        matrix=_text(spec, "matrix", where, required=False),
    )
    return control


def _rule(spec: Any, catalog: Catalog, where: str) -> Rule:
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise ConfigError(f"{where}: 'rule' must be a table with a 'kind'")
    kind = spec["kind"]
    if kind not in RULE_FIELDS:
        raise ConfigError(f"{where}: unknown rule kind {kind!r}; known: {', '.join(RULE_FIELDS)}")
    params = {k: v for k, v in spec.items() if k != "kind"}
    _unknown(params, RULE_FIELDS[kind], f"{where}: rule {kind!r}")
    rule = Rule(kind, params)
    _check_params(rule, f"{where}: rule {kind!r}")
    for name in rule.evidence():
        if name not in catalog.queries and name not in SOURCES:
            raise ConfigError(f"{where}: rule {kind!r} names unknown evidence {name!r}")
    return rule


def _check_params(rule: Rule, where: str) -> None:
    params = rule.params
    needs_evidence = rule.kind not in ("limits", "not_covered")
    if needs_evidence and not isinstance(params.get("evidence"), str):
        raise ConfigError(f"{where}: needs 'evidence' (a query or source name)")
    for key in ("at_least", "min_days", "online_days", "every_days"):
        if key in params and (
            isinstance(params[key], bool) or not isinstance(params[key], int | float)
        ):
            raise ConfigError(f"{where}: {key!r} must be a number")
    if rule.kind == "shares":
        columns = params.get("columns")
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) for c in columns)
        ):
            raise ConfigError(f"{where}: 'columns' must be a list of column names")
    if rule.kind == "retention" and "min_days" not in params:
        raise ConfigError(f"{where}: needs 'min_days'")
    if rule.kind == "cadence" and not (
        isinstance(params.get("every_days"), int) and params["every_days"] >= 1
    ):
        raise ConfigError(f"{where}: 'every_days' must be a whole number of days, at least 1")
    if rule.kind == "limits":
        checks = params.get("checks")
        if not isinstance(checks, list) or not checks:
            raise ConfigError(f"{where}: 'checks' must be a list of tables")
        for check in checks:
            if not isinstance(check, dict):
                raise ConfigError(f"{where}: each check must be a table")
            _unknown(check, CHECK_FIELDS, f"{where}: check")
            if not all(isinstance(check.get(k), str) for k in ("evidence", "column", "label")):
                raise ConfigError(f"{where}: each check needs 'evidence', 'column' and 'label'")
            limit = check.get("at_most")
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise ConfigError(f"{where}: check {check['label']!r} needs 'at_most' (a number)")


def packaged_dir() -> Path:
    return schemas_dir() / "frameworks"


def load_catalog(folder: Path | None = None) -> Catalog:
    path = (folder or packaged_dir()) / "queries.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_catalog(text, str(path))


def framework_ids(folder: Path | None = None) -> list[str]:
    """The packaged frameworks, by id (their file names)."""
    found = sorted(p.stem for p in (folder or packaged_dir()).glob("*.toml"))
    return [name for name in found if name != "queries"]


def load_framework(name: str, catalog: Catalog, folder: Path | None = None) -> Framework:
    """A packaged framework by id, or a mapping file given by its path."""
    known = framework_ids(folder)
    if name in known:
        path = (folder or packaged_dir()) / f"{name}.toml"
    elif name.endswith(".toml"):
        path = Path(name)
    else:
        raise ConfigError(
            f"unknown framework {name!r}; known: {', '.join(known)} (or a .toml path)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read framework file {path}: {exc.strerror}") from exc
    return parse_framework(text, catalog, str(path))
