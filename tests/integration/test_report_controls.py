"""Every control mapping, computed from data: for each control, events are sealed by the
production sealer into embedded ClickHouse (and, where the control reads them, a real
archive or real dead letters), the report's own code gathers the control's evidence,
and the status follows. Each control lists the statuses its rule can reach; `met`
cannot be reached by a control with gaps, `attention` not by one that only counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from auditstream.archive.store import FileArchive, S3Archive
from auditstream.clickhouse.client import connect
from auditstream.core.classify import Classifier
from auditstream.core.retention import parse_policy
from auditstream.core.validate import Limits, RawRecord, Validator
from auditstream.processors.engine import EngineConfig, Outputs, PartitionSealer
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.query.access import Access, access_entries
from auditstream.reports import frameworks, sources
from auditstream.reports.evidence import Item
from auditstream.reports.pack import Builder, PackOptions, Stores
from auditstream.reports.queries import Scope
from auditstream.reports.rules import Context, evaluate
from auditstream.settings.config import S3Settings
from tests.support import engine_kit
from tests.support.chains import KEYRING, SIGNER
from tests.support.infra import Infra
from tests.support.store_kit import load_archive, load_clickhouse

pytestmark = [pytest.mark.integration]
CATALOG = frameworks.load_catalog()
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
SHORT_POLICY = parse_policy(
    'version = "short"\ndefault_class = "brief"\n[classes.brief]\ndays = 30\n'
)
Fields = dict[str, Any]


def event(event_type: int, **fields: Any) -> Fields:
    base: Fields = {
        "event_type": event_type,
        "outcome": pb.OUTCOME_SUCCESS,
        "severity": pb.SEVERITY_INFO,
        "actor_id": "user-1",
        "component": "svc",
        "resource": "r/1",
        "message": "ok",
    }
    return base | fields


PLAIN = event(pb.EVENT_FILE_ACCESS, resource="files/x")
MODEL = event(pb.EVENT_MODEL_INFERENCE, ai={"provider": "openai", "request_model": "gpt-4o"})


def access(day: dt.datetime | None = None) -> Fields:
    """An access event as the query API's access log writes it."""
    (entry,) = access_entries(
        Access("GET", "/v1/queries/failed_logins", 200, "auditor", frozenset({"t"}), "t"), "ops"
    )
    return {"entry": entry, "at": day}


@dataclasses.dataclass
class Case:
    """What to store for one tenant, and what the report is given."""

    events: list[Fields] = dataclasses.field(default_factory=list)
    at: dt.datetime = NOW - dt.timedelta(hours=1)
    policy: Any = None
    ahead_ms: int = 0
    tamper: bool = False
    archive: str = ""  # "", file, partial, s3, s3-unlocked
    dead_letter: bool = False  # read the dead letters (one garbage record of the tenant)
    period: tuple[dt.datetime, dt.datetime] = (NOW - DAY, NOW + dt.timedelta(hours=1))


def reviews(days: list[int], span: int) -> Case:
    start = NOW.replace(hour=0, minute=0, second=0) - span * DAY
    return Case(
        [access(start + d * DAY + dt.timedelta(hours=12)) for d in days],
        period=(start, start + span * DAY),
    )


STORED = Case([PLAIN, event(pb.EVENT_LOGIN)])
VERIFIED = {"met": STORED, "attention": Case([PLAIN, PLAIN], tamper=True), "not_covered": Case()}
CASES: dict[tuple[str, str], dict[str, Case]] = {
    ("pci-dss", "10.2.1.1"): {
        "met": Case([event(pb.EVENT_RESOURCE_ACCESS, policy_tags=["PCI"])]),
        "not_covered": Case([PLAIN]),
    },
    ("pci-dss", "10.2.1.2"): {
        "met": Case([event(pb.EVENT_PRIVILEGE_USE)]),
        "not_covered": Case([PLAIN]),
    },
    ("pci-dss", "10.2.1.3"): {"met": Case([access()]), "not_covered": Case([PLAIN])},
    ("pci-dss", "10.2.1.4"): {
        "met": Case([event(pb.EVENT_LOGIN, outcome=pb.OUTCOME_FAILURE_UNAUTHORIZED)]),
        "not_covered": Case([PLAIN, event(pb.EVENT_LOGIN)]),
    },
    ("pci-dss", "10.2.1.5"): {
        "met": Case([event(pb.EVENT_USER_MANAGEMENT)]),
        "not_covered": Case([PLAIN]),
    },
    ("pci-dss", "10.2.1.6"): {
        "met": Case([event(pb.EVENT_PROCESS_START, component="auditstream-worker")]),
        "not_covered": Case([event(pb.EVENT_PROCESS_START, component="nginx", resource="web")]),
    },
    ("pci-dss", "10.2.1.7"): {
        "met": Case([event(pb.EVENT_CONFIG_CHANGE, action="create")]),
        "not_covered": Case([event(pb.EVENT_CONFIG_CHANGE, action="update")]),
    },
    ("pci-dss", "10.2.2"): {
        "met": Case([PLAIN, PLAIN]),
        "attention": Case([PLAIN, event(pb.EVENT_FILE_ACCESS, resource="")]),
        "not_covered": Case(),
    },
    ("pci-dss", "10.3.1"): {"met": Case([access(), access()]), "not_covered": Case([PLAIN])},
    ("pci-dss", "10.3.2"): {
        "met": Case([PLAIN], archive="s3"),
        "attention": Case([PLAIN], archive="s3-unlocked"),
        "not_covered": Case([PLAIN], archive="file"),
    },
    ("pci-dss", "10.3.3"): {
        "met": Case([PLAIN] * 4, archive="file"),
        "attention": Case([PLAIN] * 4, archive="partial"),
        "not_covered": Case([PLAIN] * 4),
    },
    ("pci-dss", "10.3.4"): VERIFIED,
    ("pci-dss", "10.4.1"): {
        "met": reviews([0, 1, 2], 3),
        "attention": reviews([0], 3),
        "not_covered": Case([PLAIN], period=reviews([], 3).period),
    },
    ("pci-dss", "10.5.1"): {
        "met": Case([PLAIN]),
        "attention": Case([PLAIN], policy=SHORT_POLICY),
        "not_covered": Case(),
    },
    ("pci-dss", "10.6"): {
        "met": Case([PLAIN]),
        "attention": Case([PLAIN], ahead_ms=10_000),
        "not_covered": Case(),
    },
    ("pci-dss", "10.7.1"): {"attention": Case([PLAIN], dead_letter=True), "not_covered": Case()},
    ("pci-dss", "10.7.2"): {"attention": Case([PLAIN], dead_letter=True), "not_covered": Case()},
    ("pci-dss", "10.7.3"): {"not_covered": Case([PLAIN], dead_letter=True)},
    ("soc2", "CC6.1"): {"met": Case([event(pb.EVENT_LOGIN)]), "not_covered": Case([PLAIN])},
    ("soc2", "CC6.2"): {
        "met": Case([event(pb.EVENT_USER_MANAGEMENT)]),
        "not_covered": Case([PLAIN]),
    },
    ("soc2", "CC6.3"): {"met": Case([event(pb.EVENT_POLICY_CHANGE)]), "not_covered": Case([PLAIN])},
    ("soc2", "CC7.2"): {
        "attention": Case([event(pb.EVENT_LOGIN, outcome=pb.OUTCOME_FAILURE_DENIED)]),
        "not_covered": Case([PLAIN]),
    },
    ("soc2", "CC7.3"): VERIFIED,
    ("soc2", "CC8.1"): {
        "attention": Case([event(pb.EVENT_CONFIG_CHANGE)]),
        "not_covered": Case([PLAIN]),
    },
    ("hipaa", "164.312(b)"): {
        "met": Case([event(pb.EVENT_FILE_ACCESS, policy_tags=["HIPAA"])]),
        "not_covered": Case([PLAIN]),
    },
    ("hipaa", "164.308(a)(1)(ii)(D)"): {
        "met": reviews([0, 8], 14),
        "attention": reviews([0], 14),
        "not_covered": Case([PLAIN], period=reviews([], 14).period),
    },
    ("gdpr", "Art. 30"): {
        "attention": Case([event(pb.EVENT_DATA_EXPORT, message="sent to alice@example.com")]),
        "not_covered": Case([PLAIN]),
    },
    ("gdpr", "Art. 32"): VERIFIED,
    ("gdpr", "Art. 17"): {"not_covered": Case([PLAIN])},
    ("eu-ai-act", "Art. 12(1)"): {"met": Case([MODEL]), "not_covered": Case([PLAIN])},
    ("eu-ai-act", "Art. 12(2)"): {
        "met": Case([event(pb.EVENT_GUARDRAIL_CHECK)]),
        "not_covered": Case([MODEL]),
    },
    ("eu-ai-act", "Art. 12(3)"): {"attention": Case([MODEL]), "not_covered": Case([PLAIN])},
    ("eu-ai-act", "Art. 19(1)"): {
        "met": Case([MODEL]),
        "attention": Case([MODEL], policy=SHORT_POLICY),
        "not_covered": Case([PLAIN]),
    },
    ("eu-ai-act", "Art. 26(6)"): {
        "met": Case([MODEL]),
        "attention": Case([MODEL], policy=SHORT_POLICY),
        "not_covered": Case([PLAIN]),
    },
    ("iso-42001", "A.6.2.8"): {
        "met": Case([event(pb.EVENT_TOOL_INVOCATION)]),
        "not_covered": Case([PLAIN]),
    },
    ("nist-ai-rmf", "MEASURE 2.4"): {
        "met": Case([MODEL | {"environment": "production"}]),
        "not_covered": Case([MODEL | {"environment": "staging"}]),
    },
    ("nist-ai-rmf", "MANAGE 4.1"): {
        "attention": Case([event(pb.EVENT_AGENT_DECISION)]),
        "not_covered": Case([MODEL]),
    },
}
ALL = [(f, c, s) for (f, c), statuses in CASES.items() for s in statuses]


def entry_of(fields: Fields, tenant: str, n: int) -> pb.LogEntry:
    if "entry" in fields:
        entry = pb.LogEntry()
        entry.CopyFrom(fields["entry"])
        entry.event_id = f"evt-{tenant}-{n}"
    else:
        values = {k: v for k, v in fields.items() if k != "ai"}
        entry = pb.LogEntry(**values, event_id=f"evt-{tenant}-{n}")
        for key, value in fields.get("ai", {}).items():
            setattr(entry.ai, key, value)
    entry.tenant_id = tenant
    return entry


class Unlocked(S3Archive):
    """The same bucket, written without Object Lock retention (as a misconfigured sink)."""

    def put(
        self, key: str, data: bytes, *, retain_until: dt.datetime | None, legal_hold: bool = False
    ) -> bool:
        return super().put(key, data, retain_until=None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, infra: Infra) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("controls")
    # The session's store: embedded ClickHouse opens one path per process.
    client = connect(infra.clickhouse_dsn())
    yield {"home": home, "client": client}


def seal(lab: dict[str, Any], tenant: str, case: Case) -> Outputs:
    engine = PartitionSealer(
        0,
        keyring=KEYRING,
        signer=SIGNER,
        validator=Validator(Limits(), engine_kit.CONTENT),
        classifier=Classifier(),
        policy=case.policy or engine_kit.POLICY,
        config=EngineConfig(checkpoint_every=1000),
    )
    records = []
    for n, fields in enumerate(case.events):
        entry = entry_of(fields, tenant, n)
        at = fields.get("at") or case.at
        received_ms = int(at.timestamp() * 1000) + n
        entry.event_time.FromMilliseconds(received_ms + case.ahead_ms)
        records.append(
            RawRecord("raw", 0, n, received_ms, tenant.encode(), entry.SerializeToString(), ())
        )
    if case.dead_letter:
        records.append(
            RawRecord(
                "raw",
                0,
                len(records),
                int(time.time() * 1000),
                tenant.encode(),
                b"\xff garbage",
                (),
            )
        )
    out = engine.process(records, time.time_ns())
    out.checkpoints += engine.due(time.time_ns() + 3_600_000_000_000).checkpoints
    if out.sealed:
        load_clickhouse(lab["client"], "auditstream", out)
    return out


def archive_of(
    lab: dict[str, Any], case: Case, out: Outputs, s3: Callable[[], tuple[S3Settings, str]]
) -> Any:
    if case.archive in ("file", "partial"):
        store = FileArchive(lab["home"] / f"archive-{time.time_ns()}")
        kept = (
            out
            if case.archive == "file"
            else Outputs(sealed=out.sealed[:2], checkpoints=out.checkpoints)
        )
        load_archive(store, kept, per_segment=2)
        return store
    if case.archive.startswith("s3"):
        settings, bucket = s3()
        kind = Unlocked if case.archive == "s3-unlocked" else S3Archive
        store = kind(bucket, f"controls-{time.time_ns()}", settings)
        load_archive(store, out)
        return store
    return None


@pytest.mark.parametrize(("framework", "control_id", "status"), ALL, ids=[" ".join(c) for c in ALL])
def test_control_status_follows_from_the_data(
    lab: dict[str, Any],
    framework: str,
    control_id: str,
    status: str,
    request: pytest.FixtureRequest,
) -> None:
    case = CASES[(framework, control_id)][status]
    tenant = f"case-{ALL.index((framework, control_id, status))}"
    out = seal(lab, tenant, case)
    if case.tamper:
        lab["client"].command(
            "ALTER TABLE auditstream.audit_events UPDATE actor_id = 'mallory' "
            f"WHERE tenant_id = '{tenant}' AND seq = 1",
            settings={"mutations_sync": 2},
        )

    def s3() -> tuple[S3Settings, str]:
        return request.getfixturevalue("s3_settings"), request.getfixturevalue("lock_bucket")

    mapping = frameworks.load_framework(framework, CATALOG)
    control = next(c for c in mapping.controls if c.id == control_id)
    letters = [sealed.DeadLetter.FromString(v) for _, v in out.dead_letters]
    stores = Stores(
        lab["client"],
        [SIGNER.verifier],
        archive_of(lab, case, out, s3),
        Item("dead_letters", "dead letters", "dead_letters", "the engine's dead letters",
             sources.dead_letter_rows(letters, tenant, *case.period))
        if case.dead_letter
        else sources.dead_letters_unread("not read"),
    )  # fmt: skip
    options = PackOptions(
        framework=dataclasses.replace(mapping, controls=(control,)),
        catalog=CATALOG,
        catalog_text="",
        scope=Scope(tenant, *case.period),
        policy_text="",
        policy_version="",
        seed=1,
    )
    builder = Builder(options, stores, NOW)
    builder.gather()
    evidence = {name: item.evidence() for name, item in builder.items.items()}
    verdict = evaluate(control, evidence, Context(case.period[0], case.period[1], NOW))
    assert verdict.status == status, verdict.statement


def test_every_control_of_every_framework_has_cases() -> None:
    for name in frameworks.framework_ids():
        for control in frameworks.load_framework(name, CATALOG).controls:
            statuses = set(CASES[(name, control.id)])
            assert "not_covered" in statuses, (name, control.id)
            if control.gaps:
                assert "met" not in statuses  # a gap keeps it from being met
            elif control.rule.kind != "not_covered":
                assert "met" in statuses, (name, control.id)
            if control.rule.kind not in ("present", "not_covered"):
                assert "attention" in statuses, (name, control.id)
