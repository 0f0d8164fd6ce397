"""Framework mappings and evidence queries as data: every packaged file parses, lists the
controls the issue names, and refuses garbage naming the file, control and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.errors import ConfigError
from auditstream.reports import frameworks

ISSUE_CONTROLS = {
    "pci-dss": [
        *(f"10.2.1.{n}" for n in range(1, 8)),
        "10.2.2",
        *(f"10.3.{n}" for n in range(1, 5)),
        "10.4.1",
        "10.5.1",
        "10.6",
        "10.7.1",
        "10.7.2",
        "10.7.3",
    ],
    "soc2": ["CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC7.3", "CC8.1"],
    "hipaa": ["164.312(b)", "164.308(a)(1)(ii)(D)"],
    "gdpr": ["Art. 30", "Art. 32", "Art. 17"],
    "eu-ai-act": ["Art. 12(1)", "Art. 12(2)", "Art. 12(3)", "Art. 19(1)", "Art. 26(6)"],
    "iso-42001": ["A.6.2.8"],
    "nist-ai-rmf": ["MEASURE 2.4", "MANAGE 4.1"],
}
CATALOG = frameworks.load_catalog()
GOOD_CONTROL = """
[[controls]]
id = "X.1"
title = "t"
records = "r"
needs = "n"
rule = { kind = "present", evidence = "all_events" }
"""
HEADER = """id = "x"
name = "X"
framework_version = "1"
mapping_version = "1"
source = "s"
"""


def test_every_packaged_framework_lists_the_issues_controls_in_order() -> None:
    assert frameworks.framework_ids() == sorted(ISSUE_CONTROLS)
    for name, ids in ISSUE_CONTROLS.items():
        framework = frameworks.load_framework(name, CATALOG)
        assert [c.id for c in framework.controls] == ids
        assert framework.id == name and framework.mapping_version


def test_every_control_names_evidence_that_exists_and_says_what_would_cover_it() -> None:
    for name in ISSUE_CONTROLS:
        for control in frameworks.load_framework(name, CATALOG).controls:
            for item in control.rule.evidence():
                assert item in CATALOG.queries or item in frameworks.SOURCES, (name, control.id)
            assert control.needs and control.records
            if control.sample:
                assert CATALOG.queries[control.sample].counts_events


def test_a_mapping_file_may_be_given_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(HEADER + GOOD_CONTROL)
    framework = frameworks.load_framework(str(path), CATALOG)
    assert [c.id for c in framework.controls] == ["X.1"]
    assert framework.controls[0].sample == "all_events"  # the rule's own query of events


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (HEADER, "no [[controls]]"),
        (HEADER + "colour = 'red'\n" + GOOD_CONTROL, "unknown keys ['colour']"),
        (HEADER.replace('name = "X"\n', "") + GOOD_CONTROL, "'name' must be a non-empty string"),
        (HEADER + GOOD_CONTROL + GOOD_CONTROL, "control 'X.1' is listed twice"),
        (HEADER + GOOD_CONTROL.replace("present", "vibes"), "unknown rule kind 'vibes'"),
        (
            HEADER + GOOD_CONTROL.replace("all_events", "no_such_query"),
            "unknown evidence 'no_such_query'",
        ),
        (HEADER + GOOD_CONTROL.replace('needs = "n"\n', ""), "control 'X.1': 'needs'"),
        (
            HEADER
            + GOOD_CONTROL.replace(
                'evidence = "all_events"', 'evidence = "all_events", at_least = "many"'
            ),
            "'at_least' must be a number",
        ),
        (
            HEADER
            + GOOD_CONTROL.replace(
                'kind = "present", evidence = "all_events"',
                'kind = "limits", checks = '
                '[{ evidence = "all_events", column = "events", label = "l" }]',
            ),
            "check 'l' needs 'at_most'",
        ),
        (
            HEADER
            + GOOD_CONTROL.replace(
                'kind = "present", evidence = "all_events"',
                'kind = "cadence", evidence = "audit_log_reviews", every_days = 0',
            ),
            "'every_days' must be a whole number",
        ),
        (
            HEADER + GOOD_CONTROL + 'sample = "checkpoint_lag"\n',
            "sample 'checkpoint_lag' is not a query of events",
        ),
        (HEADER + GOOD_CONTROL.replace('title = "t"', "title = ["), "framework"),
    ],
)
def test_garbage_mappings_are_refused_naming_the_problem(text: str, names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        frameworks.parse_framework(text, CATALOG, "framework")
    assert names in str(caught.value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[queries.a]\ntitle = 't'\nwhere = '1'\n", "'version' must be a non-empty string"),
        ("version = '1'\n", "no [queries]"),
        ("version = '1'\n[queries.a]\ntitle = 't'\n", "give either 'where'"),
        ("version = '1'\n[queries.a]\ntitle = 't'\nwhere = '1'\nsql = 'SELECT 1'\n", "give either"),
        (
            "version = '1'\n[queries.a]\ntitle = 't'\nwhere = '{nope}'\n",
            "unknown placeholder {nope}",
        ),
        ("version = '1'\n[queries.a]\ntitle = 't'\nsql = 'x'\ngroup_by = 'y'\n", "go with 'where'"),
        (
            "version = '1'\n[queries.a]\ntitle = 't'\nwhere = '1'\nlimit = 3\n",
            "unknown keys ['limit']",
        ),
        (
            "version = '1'\n[conditions]\nc = 3\n[queries.a]\ntitle = 't'\nwhere = '1'\n",
            "[conditions]",
        ),
    ],
)
def test_garbage_catalogs_are_refused_naming_the_problem(text: str, names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        frameworks.parse_catalog(text, "queries.toml")
    assert names in str(caught.value)


def test_bound_parameters_survive_and_conditions_are_expanded() -> None:
    catalog = frameworks.parse_catalog(
        "version = '1'\n[conditions]\nmine = \"x = 1\"\n"
        "[queries.a]\ntitle = 't'\nwhere = '{mine} AND y = {y:String}'\n"
    )
    assert catalog.queries["a"].where == "x = 1 AND y = {y:String}"


def test_unknown_framework_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown framework 'sox'.*pci-dss"):
        frameworks.load_framework("sox", CATALOG)
