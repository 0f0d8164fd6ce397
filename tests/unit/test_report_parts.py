"""The pure parts of evidence packs: the signed manifest, evidence items, the access
log's events, the rules' edge cases and escaping for Markdown."""

from __future__ import annotations

import datetime as dt

import pytest

from auditstream.core.keys import NoteSigner
from auditstream.errors import FormatError
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.query.access import COMPONENT, UNAUTHENTICATED, Access, access_entries
from auditstream.reports import manifest
from auditstream.reports.evidence import Item, rows_digest
from auditstream.reports.frameworks import Control, Rule
from auditstream.reports.manifest import PackError
from auditstream.reports.render import md_escape
from auditstream.reports.rules import ATTENTION, MET, NOT_COVERED, Context, Evidence, evaluate

SIGNER = NoteSigner.generate("acme-reports")
FILES = {"report.json": b"{}\n", "evidence/a.json": b"[1]\n"}


def test_manifest_round_trip_lists_every_file_with_its_hash() -> None:
    opened = manifest.open_manifest(manifest.sign_manifest(FILES, SIGNER), [SIGNER.verifier])
    assert opened.hashes == {p: manifest.sha256(d) for p, d in FILES.items()}
    assert opened.signed_by == [f"acme-reports (key hash {SIGNER.key_hash.hex()})"]


def test_a_manifest_signed_by_another_key_names_both_keys() -> None:
    other = NoteSigner.generate("acme-reports")  # same name, another key
    signed = manifest.sign_manifest(FILES, other)
    with pytest.raises(PackError) as caught:
        manifest.open_manifest(signed, [SIGNER.verifier])
    message = str(caught.value)
    assert other.key_hash.hex() in message and SIGNER.key_hash.hex() in message
    assert "not a trusted report key" in message


def test_a_changed_manifest_line_breaks_the_signature() -> None:
    signed = manifest.sign_manifest(FILES, SIGNER)
    changed = signed.replace(manifest.sha256(b"[1]\n").encode(), b"0" * 64)
    with pytest.raises(PackError, match="changed after it was signed"):
        manifest.open_manifest(changed, [SIGNER.verifier])


@pytest.mark.parametrize("path", ["../escape.json", "/abs.json", "a b.json", "x/../y", ""])
def test_manifest_refuses_paths_outside_the_pack(path: str) -> None:
    assert not manifest.safe_path(path)
    with pytest.raises(ValueError, match="not a pack path"):
        manifest.manifest_text({path: "0" * 64})


def test_an_item_read_back_must_hash_to_its_recorded_rows() -> None:
    item = Item("q", "title", "sql", "SELECT 1", [{"events": 3}])
    doc = item.to_json()
    assert Item.from_json(doc, "q.json") == item
    assert doc["rows_sha256"] == rows_digest([{"events": 3}])
    doc["rows"][0]["events"] = 4
    with pytest.raises(FormatError, match=r"q.json: its rows hash to .* not the recorded"):
        Item.from_json(doc, "q.json")


def test_access_events_go_to_the_tenant_read_or_the_logs_own_tenant() -> None:
    def tenants(access: Access) -> list[str]:
        return [e.tenant_id for e in access_entries(access, "ops")]

    asked = Access("GET", "/v1/queries/failed_logins", 200, "auditor", frozenset({"acme"}), "acme")
    assert tenants(asked) == ["acme"]
    assert tenants(Access("GET", "/v1/entries", 200, "auditor", frozenset({"b", "a"}))) == [
        "a",
        "b",
    ]
    assert tenants(Access("GET", "/v1/entries", 200, "operator", None)) == ["ops"]
    assert tenants(Access("GET", "/v1/entries", 401)) == ["ops"]
    assert tenants(Access("GET", "/v1/entries", 403, "x", frozenset({"a"}), "../etc")) == ["ops"]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, pb.OUTCOME_SUCCESS),
        (401, pb.OUTCOME_FAILURE_UNAUTHORIZED),
        (403, pb.OUTCOME_FAILURE_DENIED),
        (400, pb.OUTCOME_FAILURE_ERROR),
        (500, pb.OUTCOME_FAILURE_ERROR),
    ],
)
def test_an_access_event_says_who_read_what_and_how_it_went(status: int, outcome: int) -> None:
    access = Access(
        "GET", "/v1/queries/actor_timeline", status, "auditor" if status != 401 else None,
        frozenset({"acme"}), "acme", {"actor": "x" * 500}, rows=7, client="10.0.0.9",
    )  # fmt: skip
    (entry,) = access_entries(access, "ops")
    assert (entry.event_type, entry.outcome) == (pb.EVENT_RESOURCE_ACCESS, outcome)
    assert entry.component == COMPONENT and entry.action == "audit_log.read"
    assert entry.actor_id == ("auditor" if status != 401 else UNAUTHENTICATED)
    assert entry.resource == "auditstream:/v1/queries/actor_timeline"
    data = entry.data.fields
    assert data["status"].number_value == status and data["rows"].number_value == 7
    assert len(data["parameters"].struct_value.fields["actor"].string_value) == 200
    assert data["client_address"].string_value == "10.0.0.9"


CONTEXT = Context(
    dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
)


def control(rule: Rule, gaps: tuple[str, ...] = ()) -> Control:
    return Control("C", "title", "records", rule, "needs", gaps)


def test_cadence_counts_windows_of_the_period_without_a_review() -> None:
    rule = Rule("cadence", {"evidence": "reviews", "every_days": 1})
    days = [{"day": "2026-12-01", "reads": 2}, {"day": "2026-12-03", "reads": 1}]
    verdict = evaluate(control(rule), {"reviews": Evidence("reviews", days)}, CONTEXT)
    assert verdict.status == ATTENTION and "from 2026-12-02" in verdict.statement
    assert verdict.figures == {"windows": 3, "reviewed": 2, "reads": 3}
    weekly = Rule("cadence", {"evidence": "reviews", "every_days": 7})
    assert evaluate(control(weekly), {"reviews": Evidence("reviews", days)}, CONTEXT).status == MET


def test_limits_with_an_input_missing_is_attention_not_met() -> None:
    rule = Rule(
        "limits",
        {
            "checks": [
                {"evidence": "a", "column": "v", "at_most": 1, "label": "a value"},
                {"evidence": "b", "column": "v", "at_most": 1, "label": "b value"},
            ]
        },
    )
    given = {"a": Evidence("a", [{"v": 0}]), "b": Evidence("b", [], False, "b was not read")}
    verdict = evaluate(control(rule), given, CONTEXT)
    assert verdict.status == ATTENTION
    assert "Within limits: a value 0" in verdict.statement
    assert "Not shown: b value: b was not read" in verdict.statement
    given["a"] = Evidence("a", [], False, "a was not read")
    assert evaluate(control(rule), given, CONTEXT).status == NOT_COVERED


def test_a_gap_keeps_a_control_from_being_met() -> None:
    rule = Rule("present", {"evidence": "q"})
    row = {"events": 2, "actors": 1, "failed": 0, "first": "2026-12-01", "last": "2026-12-02"}
    rows = {"q": Evidence("q", [row])}
    assert evaluate(control(rule), rows, CONTEXT).status == MET
    capped = evaluate(control(rule, ("the approvals",)), rows, CONTEXT)
    assert capped.status == ATTENTION and capped.statement.endswith("the approvals.")


def test_unavailable_evidence_is_not_covered_with_its_reason() -> None:
    rule = Rule("present", {"evidence": "q"})
    given = {"q": Evidence("q", [], False, "the topic was not read")}
    verdict = evaluate(control(rule), given, CONTEXT)
    assert (verdict.status, verdict.statement) == (NOT_COVERED, "the topic was not read.")


def test_markdown_escaping_keeps_table_cells_and_links_inert() -> None:
    hostile = "a|b [x](javascript:alert(1)) <script>*bold*\nnext"
    escaped = md_escape(hostile)
    assert "\n" not in escaped and "|" not in escaped.replace("\\|", "")
    assert "\\[x\\]" in escaped and "\\<script\\>" in escaped and "\\*bold\\*" in escaped
