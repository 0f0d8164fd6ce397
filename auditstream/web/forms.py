"""Turning the console's form fields into queries, and stored values into what a page
shows (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from auditstream.proto.v1.sealed_pb2 import SealedBody
from auditstream.query.api import SearchBody

PRESETS: Mapping[str, dt.timedelta | None] = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(days=1),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "90d": dt.timedelta(days=90),
    "1y": dt.timedelta(days=365),
    "all": None,
}
SEARCH_FIELDS = (
    "tenant", "actor", "resource", "event_types", "outcome", "min_severity",
    "min_sensitivity", "policy_tags", "preset", "start", "end", "text", "limit", "cursor",
)  # fmt: skip
LIST_FIELDS = ("event_types",)


class FormError(ValueError):
    """A form field holds something the query cannot take; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def search_body(form: Mapping[str, Sequence[str]], now: dt.datetime) -> SearchBody:
    """The search of a console form (field -> values; empty fields are absent).

    `preset` sets the start relative to `now` unless a start is given; `policy_tags`
    is a comma-separated list; `event_types` may repeat."""
    unknown = sorted(set(form) - set(SEARCH_FIELDS))
    if unknown:
        raise FormError(unknown[0], f"unknown field {unknown[0]!r}")
    values: dict[str, Any] = {}
    for name in SEARCH_FIELDS:
        given = [v.strip() for v in form.get(name, ()) if v.strip()]
        if not given:
            continue
        values[name] = given if name in LIST_FIELDS else given[-1]
    preset = values.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise FormError("preset", f"preset must be one of {', '.join(PRESETS)}")
        span = PRESETS[preset]
        if span is not None and "start" not in values:
            values["start"] = (now - span).isoformat()
    if "policy_tags" in values:
        values["policy_tags"] = [t.strip() for t in values["policy_tags"].split(",") if t.strip()]
    if "limit" in values:
        if not values["limit"].isdigit():
            raise FormError("limit", "limit must be a whole number")
        values["limit"] = int(values["limit"])
    for name in ("event_types", "outcome", "min_severity", "min_sensitivity"):
        if name in values:
            values[name] = _numbers(values[name])
    try:
        return SearchBody(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "form"
        raise FormError(name, f"{name}: {first['msg'].removeprefix('Value error, ')}") from exc


def _numbers(value: str | list[str]) -> Any:
    if isinstance(value, list):
        return [int(v) if v.isdigit() else v for v in value]
    return int(value) if value.isdigit() else value


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every leaf of a decoded message, lists by index."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        if not value:
            yield prefix, "[]"
        for index, inner in enumerate(value):
            yield from flatten(inner, f"{prefix}[{index}]")
    else:
        yield prefix, str(value)


def body_fields(body: SealedBody) -> dict[str, list[tuple[str, str]]]:
    """The decoded body, every set field, grouped for the event page: the event, its
    classification (detections apart: they are their own table) and where it was read."""
    entry = MessageToDict(body.entry, preserving_proto_field_name=True)
    classification = MessageToDict(body.classification, preserving_proto_field_name=True)
    classification.pop("detections", None)
    place = MessageToDict(body, preserving_proto_field_name=True)
    for part in ("entry", "classification"):
        place.pop(part, None)
    return {
        "event": list(flatten(entry)),
        "classification": list(flatten(classification)),
        "sealing": list(flatten(place)),
    }


def hex_or_empty(value: Any) -> str:
    return bytes(value).hex() if value else ""


def download_name(event_id: str) -> str:
    """A file name for an event's proof that no header or shell will misread."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in event_id)[:80]
    return f"proof-{safe or 'event'}.json"
