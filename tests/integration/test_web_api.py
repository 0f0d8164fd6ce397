"""The JSON API of the web application on real ClickHouse over HTTPS: every route
answers bad input with a JSON 4xx naming what is wrong (never a dropped connection, and
the server stays up), answers stay inside the token's tenants, proofs verify offline
with `auditstream verify-proof`, a row changed in the store stops verifying, and with an
access log every answered request is an audit event on real Kafka."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.query.access import COMPONENT, AccessLog
from auditstream.query.named import QUERIES
from auditstream.settings.connection import KafkaConnection
from tests.support import console_kit as kit
from tests.support.pipeline import create_pipeline, read_topic

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def served(clickhouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.Served]:
    with (
        kit.loaded(clickhouse, "web_api") as database,
        kit.serving(clickhouse, database, tmp_path_factory.mktemp("web")) as running,
    ):
        yield running


class Client:
    def __init__(self, served: kit.Served, token: str | None) -> None:
        self.served = served
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = urllib.parse.urlsplit(self.served.url)
        conn = http.client.HTTPSConnection(
            url.hostname, url.port, context=self.served.context(), timeout=60
        )
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def json(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        status, headers, data = self.request(method, path, body)
        assert headers["content-type"].startswith("application/json"), (path, headers)
        return status, json.loads(data)


BAD_BODIES = [
    (b'{"bogus": 1}', "bogus"),
    (b'{"limit": "many"}', "limit"),
    (b'{"limit": true}', "limit"),
    (b'{"limit": 0}', "limit"),
    (b'{"limit": 10001}', "limit"),
    (b'{"tenant": 5}', "tenant"),
    (b'{"event_types": "EVENT_LOGIN"}', "event_types"),
    (b'{"event_types": ["EVENT_NOPE"]}', "event_types"),
    (b'{"event_types": [{"a": 1}]}', "event_types"),
    (b'{"outcome": "sideways"}', "outcome"),
    (b'{"min_severity": 99}', "min_severity"),
    (b'{"policy_tags": [1, 2]}', "policy_tags"),
    (b'{"start": "yesterday"}', "start"),
    (b'{"end": 1700000000}', "end"),
    (b'{"start": "2026-13-40T00:00:00"}', "start"),
    (b'{"cursor": "not-a-cursor"}', "cursor"),
    (b'{"cursor": "WyJ4IiwgInkiXQ=="}', "cursor"),
    (b"[1, 2]", "body"),
    (b"[]", "body"),
    (b'"text"', "body"),
    (b"null", "body"),
    (b"{", "body"),
    (b"\xff\xfe", "body"),
    (b"", "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[repr(b[:24]) for b, _ in BAD_BODIES])
def test_search_refuses_bad_bodies_naming_the_field(
    served: kit.Served, body: bytes, field: str
) -> None:
    status, answer = Client(served, served.tokens.a).json("POST", "/v1/search", body)
    assert status == 400, answer
    assert answer["field"] == field, answer
    assert answer["error"]


BAD_GETS = [
    ("/v1/entries?start=noon", 400, "start"),
    ("/v1/entries?end=2026-02-30", 400, "end"),
    ("/v1/entries?limit=abc", 400, "limit"),
    ("/v1/entries?limit=0", 400, "limit"),
    ("/v1/entries?limit=99999", 400, "limit"),
    ("/v1/entries?cursor=%%%", 400, "cursor"),
    ("/v1/entries?bogus=1", 400, None),
    ("/v1/entries?tenant=tenant-001", 403, None),
    ("/v1/queries/no_such_query", 404, None),
    ("/v1/queries/failed_logins?start=yesterday", 400, None),
    ("/v1/queries/failed_logins?limit=-1", 400, None),
    ("/v1/queries/failed_logins?x=1", 400, None),
    ("/v1/queries/actor_timeline", 400, None),
    ("/v1/queries/failed_logins?tenant=tenant-001", 403, None),
    ("/v1/entries/no-such-event", 404, None),
    ("/v1/entries/no-such-event?x=1", 400, None),
    ("/v1/entries/no-such-event/verification", 404, None),
    ("/v1/entries/no-such-event/proof", 404, None),
    ("/v1/entries/no-such-event/proof?chain=tenant-001", 404, None),
    ("/v1/nothing-here", 404, None),
    ("/v1/queries/%00", 404, None),
]


@pytest.mark.parametrize(("path", "status", "field"), BAD_GETS, ids=[p for p, _, _ in BAD_GETS])
def test_get_routes_refuse_bad_input_with_json(
    served: kit.Served, path: str, status: int, field: str | None
) -> None:
    answer_status, answer = Client(served, served.tokens.a).json("GET", path)
    assert answer_status == status, answer
    assert answer["error"]
    if field is not None:
        assert answer["field"] == field


def test_credentials_methods_and_sizes_are_refused_as_json(served: kit.Served) -> None:
    anonymous = Client(served, None)
    for method, path in (("GET", "/v1/queries"), ("POST", "/v1/search"), ("GET", "/v1/entries")):
        status, answer = anonymous.json(method, path, b"{}" if method == "POST" else None)
        assert status == 401 and "bearer token" in answer["error"]
    status, headers, _ = Client(served, "Basic abc").request(
        "GET", "/v1/queries", headers={"Authorization": "Basic abc"}
    )
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, answer = Client(served, served.tokens.a).json("DELETE", "/v1/search")
    assert status == 405 and answer["error"]
    status, answer = Client(served, served.tokens.a).json(
        "POST", "/v1/search", b'{"text": "' + b"x" * 70_000 + b'"}'
    )
    assert status == 413 and "larger than" in answer["error"]


def test_an_oversize_chunked_body_gets_413(served: kit.Served) -> None:
    url = urllib.parse.urlsplit(served.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=served.context(), timeout=60)
    # 72 KiB, just over the 64 KiB limit: small enough to be sent whole before the server
    # answers 413 and closes (160 KiB once met the closed connection mid-send).
    chunks = (b"x" * 8192 for _ in range(9))
    conn.request(
        "POST", "/v1/search", body=chunks, encode_chunked=True,
        headers={"Authorization": f"Bearer {served.tokens.a}", "Content-Type": "application/json"},
    )  # fmt: skip
    response = conn.getresponse()
    assert response.status == 413
    assert "larger than" in json.loads(response.read())["error"]
    conn.close()


def test_the_server_is_still_up_and_every_answer_has_the_security_headers(
    served: kit.Served,
) -> None:
    client = Client(served, served.tokens.a)
    for method, path, body in (
        ("GET", "/health", None), ("GET", "/v1/queries", None), ("GET", "/v1/nothing", None),
        ("POST", "/v1/search", b"[1]"), ("GET", "/signin", None), ("GET", "/search", None),
        ("GET", "/metrics", None), ("GET", "/static/console.css", None),
    ):  # fmt: skip
        status, headers, _ = client.request(method, path, body)
        assert status < 500, path
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["strict-transport-security"].startswith("max-age=")
    status, health = client.json("GET", "/health")
    assert status == 200 and health["ok"] is True
    status, headers, metrics = client.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b"# TYPE" in metrics


def test_openapi_describes_every_route_and_the_search_body(served: kit.Served) -> None:
    status, doc = Client(served, None).json("GET", "/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/v1/queries", "/v1/queries/{name}", "/v1/entries", "/v1/entries/{event_id}",
        "/v1/entries/{event_id}/verification", "/v1/entries/{event_id}/proof", "/v1/search",
        "/v1/reports", "/v1/reports/{framework}",
    }  # fmt: skip
    body = doc["components"]["schemas"]["SearchBody"]
    assert body["additionalProperties"] is False
    assert {"tenant", "event_types", "start", "cursor", "limit"} <= set(body["properties"])


def test_answers_stay_inside_the_tokens_tenants(served: kit.Served) -> None:
    a, everyone = Client(served, served.tokens.a), Client(served, served.tokens.everyone)
    status, page = a.json("GET", "/v1/entries?limit=10000")
    assert status == 200 and page["rows"]
    assert {r["tenant_id"] for r in page["rows"]} == {kit.TENANT_A}
    _, all_rows = everyone.json("GET", "/v1/entries?limit=10000")
    assert {r["tenant_id"] for r in all_rows["rows"]} == {kit.TENANT_A, kit.TENANT_B}
    status, found = a.json("POST", "/v1/search", json.dumps({"text": kit.B_SECRET}).encode())
    assert status == 200 and found["rows"] == []
    b_event = "hostile-tenant-001-2"
    for path in (
        f"/v1/entries/{b_event}",
        f"/v1/entries/{b_event}/verification",
        f"/v1/entries/{b_event}/proof",
    ):
        status, answer = a.json("GET", path)
        assert status == 404, path
        assert kit.B_SECRET not in json.dumps(answer)
    status, _ = a.json("POST", "/v1/search", json.dumps({"tenant": kit.TENANT_B}).encode())
    assert status == 403
    for name, query in QUERIES.items():
        params = {p.name: "x" for p in query.params if p.required}
        status, answer = a.json("GET", f"/v1/queries/{name}?{urllib.parse.urlencode(params)}")
        assert status == 200, (name, answer)
        text = json.dumps(answer)
        assert kit.TENANT_B not in text and kit.B_SECRET not in text, name


def test_pages_of_a_search_follow_the_cursor_without_overlap(served: kit.Served) -> None:
    client = Client(served, served.tokens.a)
    seen: list[str] = []
    cursor = None
    while True:
        body = {"limit": 97, **({"cursor": cursor} if cursor else {})}
        status, page = client.json("POST", "/v1/search", json.dumps(body).encode())
        assert status == 200
        seen += [r["event_id"] for r in page["rows"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    status, whole = client.json("GET", "/v1/entries?limit=10000")
    assert seen == [r["event_id"] for r in whole["rows"]]


def verify_proof(proof: Path, pubkey: Path) -> subprocess.CompletedProcess[str]:
    """`auditstream verify-proof`, run as an auditor runs it."""
    return subprocess.run(
        [sys.executable, "-m", "auditstream", "verify-proof", str(proof),
         "--public-keys", str(pubkey)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip


def covered_event(client: Client) -> dict[str, Any]:
    _, page = client.json("GET", "/v1/entries?limit=10000")
    return next(r for r in page["rows"] if r["seq"] < 100)


def test_a_proof_from_the_api_verifies_offline_and_a_changed_row_stops_verifying(
    served: kit.Served, clickhouse: Any, tmp_path: Path
) -> None:
    client = Client(served, served.tokens.a)
    event = covered_event(client)
    status, verdict = client.json("GET", f"/v1/entries/{event['event_id']}/verification")
    assert status == 200 and verdict["status"] == "verified", verdict
    status, bundle = client.json("GET", f"/v1/entries/{event['event_id']}/proof")
    assert status == 200
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(bundle))
    checked = verify_proof(proof, served.pubkey)
    assert checked.returncode == 0 and checked.stdout.startswith("VALID"), checked

    clickhouse.command(
        f"ALTER TABLE {served.database}.audit_events UPDATE actor_id = 'someone-else' "
        "WHERE event_id = {e:String} SETTINGS mutations_sync = 2",
        parameters={"e": event["event_id"]},
    )
    status, verdict = client.json("GET", f"/v1/entries/{event['event_id']}/verification")
    assert verdict["status"] == "not verified"
    assert [f["kind"] for f in verdict["findings"]] == ["column_mismatch"]
    assert "actor_id" in verdict["findings"][0]["detail"]
    status, answer = client.json("GET", f"/v1/entries/{event['event_id']}/proof")
    assert status == 409 and "actor_id" in answer["error"]


def test_failed_tokens_are_rate_limited_and_never_logged(
    clickhouse: Any, served: kit.Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with kit.serving(clickhouse, served.database, tmp_path) as own:  # a limiter of its own
        wrong = "wrong-token-" + "z" * 20
        answers = [Client(own, wrong).json("GET", "/v1/queries")[0] for _ in range(12)]
        assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
        status, headers, _ = Client(own, own.tokens.a).request("GET", "/v1/queries")
        assert status == 429 and int(headers["retry-after"]) > 0  # the address, not the token
    assert "failed sign-in" in caplog.text
    assert wrong not in caplog.text and own.tokens.a not in caplog.text


def test_the_access_log_records_each_answered_request_as_an_audit_event(
    clickhouse: Any, served: kit.Served, kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, _ = create_pipeline(kafka_bootstrap, 1, tmp_path)
    producer = AuditProducer(
        ProducerConfig(
            kafka=KafkaConnection(kafka_bootstrap),
            topic=topics.raw,
            spool_dir=tmp_path / "spool",
            tenant_id="ops",
            component=COMPONENT,
        )
    )
    try:
        with kit.serving(
            clickhouse, served.database, tmp_path, access_log=AccessLog(producer)
        ) as own:
            a = Client(own, own.tokens.a)
            status, page = a.json("GET", f"/v1/entries?tenant={kit.TENANT_A}&limit=7")
            assert status == 200 and len(page["rows"]) == 7
            assert a.json("GET", f"/v1/entries?tenant={kit.TENANT_B}")[0] == 403
            garbage, _ = a.json("GET", "/v1/entries?tenant=..%2Fx%00%ff&limit=abc&%zz=1")
            assert garbage in (400, 403)
            assert a.json("POST", "/v1/search", b'{"limit": 3}')[0] == 200
            assert Client(own, "wrong-token").json("GET", "/v1/queries")[0] == 401
            assert a.json("POST", "/v1/search", b'{"text": "' + b"x" * 70_000 + b'"}')[0] == 413
            for path in ("/health", "/metrics", "/static/console.css"):  # not reads of events
                assert a.request("GET", path)[0] == 200, path
            status, headers, _ = a.request(
                "POST", "/signin", f"token={own.tokens.a}&next=/search".encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            assert status == 303
            cookie = headers["set-cookie"].split(";", 1)[0]
            assert a.request("GET", "/search?text=x", headers={"Cookie": cookie})[0] == 200
        assert producer.flush(30)
    finally:
        producer.close()
    values = read_topic(kafka_bootstrap, topics.raw, 8, timeout=60, quiet=2)
    entries = [pb.LogEntry.FromString(v) for v in values if isinstance(v, bytes)]
    events = [e for e in entries if e.event_type != pb.EVENT_PRODUCER_HEARTBEAT]
    seen = [
        (
            e.tenant_id, e.actor_id, e.data.fields["method"].string_value,
            e.data.fields["path"].string_value, int(e.data.fields["status"].number_value),
            int(e.data.fields["rows"].number_value) if "rows" in e.data.fields else None,
        )
        for e in events
    ]  # fmt: skip
    assert seen == [
        (kit.TENANT_A, "auditor-a", "GET", "/v1/entries", 200, 7),
        (kit.TENANT_B, "auditor-a", "GET", "/v1/entries", 403, None),
        ("ops", "auditor-a", "GET", "/v1/entries", garbage, None),  # not a tenant id
        (kit.TENANT_A, "auditor-a", "POST", "/v1/search", 200, 3),  # the token's one tenant
        ("ops", "unauthenticated", "GET", "/v1/queries", 401, None),
        ("ops", "unauthenticated", "POST", "/v1/search", 413, None),  # refused unread
        (kit.TENANT_A, "auditor-a", "POST", "/signin", 303, None),
        (kit.TENANT_A, "auditor-a", "GET", "/search", 200, None),
    ], seen
    assert {e.component for e in events} == {COMPONENT}
    assert {e.action for e in events} == {"audit_log.read"}
    assert [e.outcome for e in events[:2]] == [pb.OUTCOME_SUCCESS, pb.OUTCOME_FAILURE_DENIED]
    assert events[0].data.fields["client_address"].string_value == "127.0.0.1"
    assert events[0].data.fields["parameters"].struct_value.fields["limit"].string_value == "7"
    assert all(own.tokens.a not in str(e) for e in events)  # the sign-in form is not a param
