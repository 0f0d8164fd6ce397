"""Retention classes: the default policy, longest-wins, legal hold, bad files."""

from __future__ import annotations

import pytest

from auditstream.core.retention import DAY_NS, parse_policy
from auditstream.errors import ConfigError
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings.resources import default_policy_file

DEFAULT = parse_policy(default_policy_file().read_text())
T0 = 1_767_225_600 * 10**9


def decide(**fields: object) -> tuple[str, int, bool]:
    d = DEFAULT.decide(pb.LogEntry(**fields), T0)  # type: ignore[arg-type]
    return d.retention_class, (d.retain_until_ns - T0) // DAY_NS, d.legal_hold


def test_default_policy_classes() -> None:
    assert decide(event_type=pb.EVENT_LOGIN) == ("standard", 365, False)
    assert decide(policy_tags=["HIPAA"]) == ("hipaa", 2190, False)
    assert decide(policy_tags=["PCI"]) == ("pci", 365, False)
    assert decide(severity=pb.SEVERITY_CRITICAL) == ("critical", 2555, False)
    assert decide(severity=pb.SEVERITY_ERROR) == ("standard", 365, False)
    assert decide(component="payments") == ("pci", 365, False)


def test_longest_matching_class_wins() -> None:
    assert decide(policy_tags=["PCI", "HIPAA", "GDPR"]) == ("hipaa", 2190, False)
    assert decide(policy_tags=["HIPAA"], severity=pb.SEVERITY_EMERGENCY)[0] == "critical"


def test_legal_hold_and_conditions() -> None:
    policy = parse_policy(
        """
        default_class = "short"
        [classes.short]
        days = 30
        [classes.long]
        days = 90
        [[rules]]
        name = "hold"
        tenants = ["acme"]
        actors = ["user-1"]
        class = "short"
        legal_hold = true
        """
    )
    held = policy.decide(pb.LogEntry(tenant_id="acme", actor_id="user-1"), T0)
    assert held.legal_hold and held.retention_class == "short"
    assert not policy.decide(pb.LogEntry(tenant_id="acme", actor_id="user-2"), T0).legal_hold


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default_class = 'x'", "no retention classes"),
        ("default_class = 'x'\n[classes.a]\ndays = 1", "default_class 'x'"),
        ("default_class = 'a'\n[classes.a]\ndays = 0", "positive whole number"),
        ("default_class = 'a'\n[classes.a]\ndays = 1\n[[rules]]\nclass = 'b'", "class 'b'"),
        (
            "default_class = 'a'\n[classes.a]\ndays = 1\n[[rules]]\nclass = 'a'\n"
            "severity_at_least = 'LOUD'",
            "LOUD",
        ),
        (
            "default_class = 'a'\n[classes.a]\ndays = 1\n[[rules]]\nclass = 'a'\ncolour = 'red'",
            "unknown keys",
        ),
        ("not toml [", "policy"),
    ],
)
def test_bad_policies_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(text)
