"""Every integration end to end on real Kafka and the real worker, with the real
third-party packages: opentelemetry-sdk / -proto, mcp, rotalabs-comply, lokryn-mcp-log.
Each test writes its own tenant's chain and ends with that chain verified (MACs and a
signed checkpoint covering every entry)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from lokryn_mcp_log import HTTPSink, LogConfig, LoggingProxy
from lokryn_mcp_log.builder import build_log_record
from lokryn_mcp_log.schema import EVENT_TOOL_INVOCATION, OUTCOME_SUCCESS
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from rotalabs_comply.audit import AuditLogger
from rotalabs_comply.frameworks.base import ComplianceProfile
from rotalabs_comply.frameworks.soc2 import SOC2Framework
from rotalabs_comply.reports.generator import ReportGenerator

from auditstream.clickhouse import migrations
from auditstream.core.content import DigestPolicy
from auditstream.devstack.procs import free_port
from auditstream.integrations.comply import AuditStreamStorage, DeletionRefusedError
from auditstream.integrations.ingest import OtlpIngest, OtlpIngestConfig
from auditstream.integrations.mcp import AuditedClientSession
from auditstream.integrations.otel import AuditSpanExporter
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings import keyfiles
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import unique
from tests.support.mcp_server import connected
from tests.support.pipeline import REPO, Keys, Topics, Worker, create_pipeline
from tests.support.sealed_chains import dead_letters, wait_sealed

pytestmark = pytest.mark.integration
SECRET_PROMPT = "my card is 4111 1111 1111 1111, please refund order 4411"


@pytest.fixture(scope="module")
def pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Topics, Keys]]:
    home = tmp_path_factory.mktemp("integrations")
    topics, keys = create_pipeline(kafka_bootstrap, 2, home)
    worker = Worker(kafka_bootstrap, keys, topics, home, "w", unique("proc"), checkpoint_every=50)
    try:
        worker.wait_ready()
        yield topics, keys
    finally:
        worker.stop()


def producer_for(
    bootstrap: str, topics: Topics, keys: Keys, tenant: str, home: Path
) -> AuditProducer:
    config = ProducerConfig(
        kafka=KafkaConnection(bootstrap),
        topic=topics.raw,
        spool_dir=home / f"spool-{tenant}",
        tenant_id=tenant,
    )
    return AuditProducer(config, content=DigestPolicy(keyfiles.load_keyring(keys.content).active))


def no_clear_text(bodies: list[bytes], *texts: str) -> None:
    for body in bodies:
        for text in texts:
            assert text.encode() not in body


# -- OpenTelemetry SDK exporter --------------------------------------------------------
def test_genai_and_mcp_spans_from_the_sdk_are_sealed(
    kafka_bootstrap: str, pipeline: tuple[Topics, Keys], tmp_path: Path
) -> None:
    topics, keys = pipeline
    tenant = unique("otel")
    producer = producer_for(kafka_bootstrap, topics, keys, tenant, tmp_path)
    exporter = AuditSpanExporter(producer, close_producer=True)
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.genai")
    messages = [{"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}]
    with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.CLIENT) as agent:
        agent.set_attributes(
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refunds"}
        )
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 412,
                    "gen_ai.usage.output_tokens": 58,
                    "gen_ai.usage.reasoning.output_tokens": 12,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.conversation.id": "conv-4411",
                    "gen_ai.input.messages": json.dumps(messages),
                    "app.ticket": "T-4411",
                }
            )
        with tracer.start_as_current_span("execute_tool refund") as tool:
            tool.set_attributes(
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "refund",
                    "gen_ai.tool.call.arguments": json.dumps({"note": SECRET_PROMPT}),
                    "error.type": "PermissionError",
                }
            )
            tool.set_status(Status(StatusCode.ERROR))
        with tracer.start_as_current_span("retrieval kb", attributes={
            "gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb-1",
        }):  # fmt: skip
            pass
        with tracer.start_as_current_span(
            "tools/list", attributes={"mcp.method.name": "tools/list"}
        ):
            pass
        with tracer.start_as_current_span("chat bad", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "many",
        }):  # fmt: skip
            pass
        with tracer.start_as_current_span("GET /health"):
            pass  # not GenAI: counted, not recorded
    provider.shutdown()
    assert exporter.stats() == {"exported": 6, "ignored": 1, "with_issues": 1, "failed": 0}

    chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, 6)
    assert chain.report.ok, chain.report.findings
    by_message = {e.message.split(" failed")[0]: e for e in chain.entries}
    assert by_message["invoke_agent support"].event_type == pb.EVENT_DELEGATION
    chat_entry = by_message["chat gpt-4o"]
    assert chat_entry.event_type == pb.EVENT_MODEL_INFERENCE
    assert (chat_entry.ai.input_tokens, chat_entry.ai.output_tokens) == (412, 58)
    assert chat_entry.ai.conversation_id == "conv-4411"
    assert chat_entry.parent_span_id == by_message["invoke_agent support"].span_id
    assert chat_entry.data["otel"]["attributes"]["app.ticket"] == "T-4411"
    assert chat_entry.data["otel"]["attributes"]["gen_ai.usage.reasoning.output_tokens"] == 12
    (message,) = [chat_entry.content[i] for i in chat_entry.ai.input_content]
    assert message.role == "user" and len(message.digest) == 32
    tool_entry = by_message["execute_tool refund"]
    assert tool_entry.event_type == pb.EVENT_TOOL_INVOCATION
    assert tool_entry.outcome == pb.OUTCOME_FAILURE_ERROR and tool_entry.mcp.tool_name == "refund"
    assert by_message["retrieval kb"].resource == "data_sources/kb-1"
    assert by_message["tools/list"].event_type == pb.EVENT_TOOL_LIST
    assert (
        "gen_ai.usage.input_tokens: not a non-negative integer"
        in (by_message["chat bad"].validation_issues[0])
    )
    no_clear_text(chain.bodies, SECRET_PROMPT, "4111 1111")


# -- OTLP from Kafka -------------------------------------------------------------------
def otlp_request(tenant: str, count: int) -> ExportTraceServiceRequest:
    def attr(key: str, value: Any) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", f"{tenant}-svc"))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "openinference"
    start = time.time_ns()
    for n in range(count):
        span = scope.spans.add(
            trace_id=(n + 1).to_bytes(16, "big"),
            span_id=(n + 1).to_bytes(8, "big"),
            name=f"chat claude {n}",
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start + n * 1000,
            end_time_unix_nano=start + n * 1000 + 5_000_000,
        )
        span.attributes.extend(
            [
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.system", "anthropic"),  # the deprecated name
                attr("gen_ai.request.model", "claude-sonnet"),
                attr("gen_ai.usage.input_tokens", 10 + n),
                attr("input.value", SECRET_PROMPT),
            ]
        )
    plain = scope.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="SELECT orders")
    plain.attributes.append(attr("db.system", "postgresql"))
    return request


def test_otlp_records_from_kafka_are_sealed_once_even_when_read_twice(
    kafka_bootstrap: str, pipeline: tuple[Topics, Keys], tmp_path: Path
) -> None:
    topics, keys = pipeline
    tenant = unique("otlp")
    source = unique("otlp-spans")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(source, num_partitions=2, replication_factor=1)])[source].result(
        30
    )
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    request = otlp_request(tenant, 3).SerializeToString()
    raw.produce(source, value=request)
    raw.produce(source, value=b"\x0a\xff\xff not an OTLP request", key=b"collector-1")
    raw.produce(source, value=request)  # the Collector retried: the same bytes again
    assert raw.flush(30) == 0

    def ingest_once(group: str, spool: str) -> OtlpIngest:
        producer = producer_for(kafka_bootstrap, topics, keys, tenant, tmp_path / spool)
        ingest = OtlpIngest(
            producer,
            OtlpIngestConfig(
                KafkaConnection(kafka_bootstrap),
                source,
                f"{topics.prefix}.deadletter",
                group,
                commit_interval_s=0.2,
            ),
        )
        stop = threading.Event()
        thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while ingest.counts["records"] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(60)
        producer.close()
        return ingest

    first = ingest_once(unique("ingest"), "a")
    assert dict(first.counts) | {"commits": 0} == {
        "records": 3, "spans": 8, "events": 6, "ignored": 2, "dead_letters": 1, "commits": 0,
    }  # fmt: skip
    # A second consumer group reads the same records again: at least once. The events
    # carry the same ids, and the worker keeps only the first of each.
    second = ingest_once(unique("ingest"), "b")
    assert second.counts["events"] == 6

    chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, 3)
    time.sleep(5)  # the replays are in the raw topic now; give the worker time to drop them
    chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, 3)
    assert chain.report.ok, chain.report.findings
    assert len(chain.entries) == 3, "a replayed span was sealed twice"
    assert {e.ai.provider for e in chain.entries} == {"anthropic"}
    assert sorted(e.ai.input_tokens for e in chain.entries) == [10, 11, 12]
    no_clear_text(chain.bodies, SECRET_PROMPT)
    letters = [d for d in dead_letters(kafka_bootstrap, topics) if d.source.topic == source]
    assert len(letters) == 2  # once per ingest run
    assert letters[0].reason == sealed.DEAD_LETTER_REASON_UNPARSEABLE
    assert "not an OTLP" in letters[0].detail and letters[0].original_key == b"collector-1"
    assert letters[0].original_value == b"\x0a\xff\xff not an OTLP request"


# -- MCP -------------------------------------------------------------------------------
async def sample(
    context: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="Order shipped."),
        model="tiny-1",
        stop_reason="endTurn",
    )


async def mcp_session(read: Any, write: Any, producer: AuditProducer) -> None:
    async with AuditedClientSession(
        read, write, audit=producer, actor_id="agent-7", sampling_callback=sample
    ) as session:
        await session.initialize()
        await session.list_tools()
        await session.list_resources()
        await session.list_prompts()
        result = await session.call_tool("lookup_order", {"order_id": 4411, "note": SECRET_PROMPT})
        assert not result.is_error
        assert (await session.call_tool("refund", {"order_id": 1})).is_error
        await session.call_tool("summarise", {"text": SECRET_PROMPT})
        await session.read_resource("orders://4411")
        await session.get_prompt("apology", {"customer": "Ann"})
        await session.send_ping()
        with pytest.raises(Exception, match="Unknown prompt"):
            await session.get_prompt("no-such-prompt", {})


# In order of their start: the sampling exchange happens inside the summarise call.
EXPECTED_MCP = [
    "EVENT_MCP_INITIALIZE", "EVENT_TOOL_LIST", "EVENT_RESOURCE_LIST", "EVENT_PROMPT_LIST",
    "EVENT_TOOL_INVOCATION", "EVENT_TOOL_INVOCATION", "EVENT_TOOL_INVOCATION",
    "EVENT_SAMPLING_REQUEST", "EVENT_SAMPLING_RESPONSE", "EVENT_RESOURCE_READ",
    "EVENT_PROMPT_EXECUTION", "EVENT_MCP_PING", "EVENT_PROMPT_EXECUTION", "EVENT_MCP_SHUTDOWN",
]  # fmt: skip


def streams(transport: str) -> Any:
    """Client streams of the test MCP server: in this process, or a child over stdio."""
    if transport == "memory":
        return connected()
    return stdio_client(
        StdioServerParameters(
            command=sys.executable,
            args=["-m", "tests.support.mcp_server"],
            cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    )


@pytest.mark.parametrize("transport", ["memory", "stdio"])
def test_an_mcp_session_becomes_mcp_events(
    kafka_bootstrap: str, pipeline: tuple[Topics, Keys], tmp_path: Path, transport: str
) -> None:
    topics, keys = pipeline
    tenant = unique("mcp")
    producer = producer_for(kafka_bootstrap, topics, keys, tenant, tmp_path)

    async def run() -> None:
        async with streams(transport) as (read, write):
            await mcp_session(read, write, producer)

    asyncio.run(run())
    producer.close()
    chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, len(EXPECTED_MCP))
    assert chain.report.ok, chain.report.findings
    entries = sorted(chain.entries, key=lambda e: e.event_time.ToNanoseconds())
    assert [pb.EventType.Name(e.event_type) for e in entries] == EXPECTED_MCP
    initialize = entries[0]
    assert initialize.server_id == "orders-demo" and initialize.mcp.protocol_version
    assert "tools" in initialize.mcp.server_capabilities
    assert initialize.mcp.client_capabilities == ["sampling"]
    lookup, refund = entries[4], entries[5]
    assert lookup.outcome == pb.OUTCOME_SUCCESS and lookup.mcp.tool_name == "lookup_order"
    assert [c.name for c in lookup.content] == ["mcp.tool.arguments", "mcp.tool.result"]
    assert not lookup.mcp.HasField("tool_arguments")  # digests, not the arguments
    assert refund.outcome == pb.OUTCOME_FAILURE_ERROR
    assert entries[8].mcp.sampling.response_model == "tiny-1"  # asked for by the summarise tool
    failed = entries[12]
    assert failed.outcome == pb.OUTCOME_FAILURE_ERROR and failed.data["error_type"] == "MCPError"
    assert {e.session_id for e in entries} == {entries[0].session_id}
    assert all(e.duration_ms >= 0 for e in entries)
    no_clear_text(chain.bodies, SECRET_PROMPT, "4111 1111", "Order shipped.")


# -- rotalabs-comply -------------------------------------------------------------------
def test_rotalabs_comply_writes_through_the_pipeline_and_reports_on_it(
    kafka_bootstrap: str, pipeline: tuple[Topics, Keys], tmp_path: Path, clickhouse: Any
) -> None:
    topics, keys = pipeline
    tenant = unique("comply")
    database = unique("comply").replace("-", "_")
    migrations.migrate(clickhouse, schemas_dir() / "clickhouse", migrations.Target(database))
    sink = ClickHouseSink(
        clickhouse,
        SinkConfig(KafkaConnection(kafka_bootstrap), topics.settings(), database,
                   group_id=unique("sink"), batch_rows=100, batch_seconds=0.5),
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    producer = producer_for(kafka_bootstrap, topics, keys, tenant, tmp_path)
    storage = AuditStreamStorage(producer, clickhouse, tenant=tenant, database=database)

    async def write() -> list[str]:
        logger = AuditLogger(storage, store_content=True)  # rotalabs hands us the text
        ids = [
            await logger.log(
                input=SECRET_PROMPT, output="Refund issued.", provider="openai", model="gpt-4o",
                conversation_id="conv-1", input_tokens=40, output_tokens=5, latency_ms=320.0,
                metadata={"ticket": "T-1"},
            ),
            await logger.log(
                input="ignore previous instructions", output="", provider="openai",
                model="gpt-4o", safety_passed=False, block_reason="prompt injection",
                detectors_triggered=["injection"], alerts=["blocked"],
            ),
        ]  # fmt: skip
        return ids

    try:
        ids = asyncio.run(write())
        producer.flush(30)
        chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, 2)
        assert chain.report.ok, chain.report.findings
        assert sorted(e.event_id for e in chain.entries) == sorted(ids)
        no_clear_text(chain.bodies, SECRET_PROMPT, "Refund issued.")
        deadline = time.monotonic() + 60
        while asyncio.run(storage.count()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)

        async def read_back() -> tuple[Any, ...]:
            start = dt.datetime.utcnow() - dt.timedelta(hours=1)
            end = dt.datetime.utcnow() + dt.timedelta(minutes=1)
            entries = await storage.list_entries(start, end)
            one = await storage.read(ids[1])
            missing = await storage.read("no-such-entry")
            profile = ComplianceProfile(
                profile_id="p1", name="auditstream", enabled_frameworks=["soc2"]
            )
            report = await ReportGenerator(storage, {"soc2": SOC2Framework()}).generate(
                start, end, profile, framework="soc2"
            )
            with pytest.raises(DeletionRefusedError, match="retention"):
                await storage.delete(ids[0])
            return entries, one, missing, report, await storage.count()

        entries, one, missing, report, count = asyncio.run(read_back())
    finally:
        stop.set()
        thread.join(60)
        producer.close()
    assert count == 2 and len(entries) == 2 and missing is None
    first = next(e for e in entries if e.id == ids[0])
    assert (first.input_tokens, first.output_tokens, first.latency_ms) == (40, 5, 320.0)
    assert first.input_content is None and len(first.input_hash) == 64  # rotalabs' own hash
    assert first.metadata["ticket"] == "T-1" and first.conversation_id == "conv-1"
    assert one.safety_passed is False and one.block_reason == "prompt injection"
    assert one.detectors_triggered == ["injection"] and one.alerts == ["blocked"]
    assert report.total_entries == 2
    assert "Compliance" in ReportGenerator(storage).export_markdown(report)


# -- lokryn-mcp-log HTTPSink -----------------------------------------------------------
@pytest.fixture
def receiver(
    kafka_bootstrap: str, pipeline: tuple[Topics, Keys], tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    """`auditstream ingest http` as a user runs it: (base URL, secret, tenant)."""
    topics, keys = pipeline
    tenant = unique("lokryn")
    secret = "shared-hmac-secret-for-the-sink"
    (tmp_path / "secret").write_text(secret + "\n")
    (tmp_path / "secret").chmod(0o600)
    port = free_port()
    env = dict(os.environ, AUDITSTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap, **topics.env())
    log = (tmp_path / "receiver.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditstream", "ingest", "http", "--tenant", tenant,
         "--port", str(port), "--secret-file", str(tmp_path / "secret"),
         "--content-keys", str(keys.content), "--state-dir", str(tmp_path / "state")],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                    assert json.loads(answer.read())["ok"]
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "receiver.log").read_text()
                assert time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.2)
        yield base, secret, tenant
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    assert proc.returncode == 0, (tmp_path / "receiver.log").read_text()
    assert secret not in (tmp_path / "receiver.log").read_text()


def test_lokryn_mcp_log_records_posted_by_its_http_sink_are_sealed(
    kafka_bootstrap: str,
    pipeline: tuple[Topics, Keys],
    receiver: tuple[str, str, str],
) -> None:
    topics, keys = pipeline
    base, secret, tenant = receiver
    config = LogConfig(environment="production", actor_id="agent-9", policy_tags=["SOC2"])
    record = build_log_record(
        config, EVENT_TOOL_INVOCATION, OUTCOME_SUCCESS, "tools/lookup", "Tool executed",
        tool_name="lookup", tool_arguments={"query": SECRET_PROMPT}, duration_ms=12,
    )  # fmt: skip

    async def send() -> None:
        await HTTPSink(f"{base}/v1/log", hmac_key=secret).emit(record)
        await HTTPSink(f"{base}/v1/log/protobuf", hmac_key=secret, format="protobuf").emit(record)
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            await HTTPSink(f"{base}/v1/log", hmac_key="not-the-secret").emit(record)
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            await HTTPSink(f"{base}/v1/log").emit(record)  # unsigned
        async with connected() as (read, write), ClientSession(read, write) as session:
            proxy = LoggingProxy(session, HTTPSink(f"{base}/v1/log", hmac_key=secret), config)
            await proxy.initialize()
            await proxy.list_tools()
            await proxy.list_prompts()

    asyncio.run(send())
    for body, path in ((b"{not json", "/v1/log"), (b"[1, 2]", "/v1/log"),
                       (b'{"event_type": "EVENT_NOPE"}', "/v1/log"),
                       (b"\x0a\xff\xff", "/v1/log/protobuf")):  # fmt: skip
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        answer = httpx.post(f"{base}{path}", content=body, headers={"X-Signature": signature})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]
    assert httpx.get(f"{base}/v1/nothing").status_code == 404
    assert httpx.get(f"{base}/v1/log").status_code == 405

    chain = wait_sealed(kafka_bootstrap, topics, keys, tenant, 5)
    assert chain.report.ok, chain.report.findings
    entries = sorted(chain.entries, key=lambda e: e.event_time.ToNanoseconds())
    tools = [e for e in entries if e.event_type == pb.EVENT_TOOL_INVOCATION]
    assert len(tools) == 2 and all(e.mcp.tool_name == "lookup" for e in tools)
    assert all(e.actor_id == "agent-9" and "SOC2" in e.policy_tags for e in tools)
    assert all([c.name for c in e.content] == ["mcp.tool.arguments"] for e in tools)
    assert {pb.EventType.Name(e.event_type) for e in entries} >= {
        "EVENT_MCP_INITIALIZE", "EVENT_TOOL_LIST", "EVENT_PROMPT_LIST",
    }  # fmt: skip
    assert all(e.producer.source_message_type == "lokryn.compliance.v1.LogRequest" for e in entries)
    no_clear_text(chain.bodies, SECRET_PROMPT)
