"""`AuditProducer`: one typed call per kind of event.

    producer = AuditProducer(ProducerConfig(KafkaConnection("kafka:9092"), tenant_id="acme"))
    producer.login("user-12345", resource="auth/login", message="User authenticated via SSO",
                   payload={"method": "saml", "provider": "okta", "mfa": True})
    producer.ai_interaction(input=prompt, output=answer, provider="openai", model="gpt-4o")
    with producer.tool_call("agent-001", "database_query") as call:
        call.result = {"rows_returned": 42}

Every method returns the event id and never raises (unless the producer is strict):
in tolerant mode (the default) an event whose arguments cannot be used is still
recorded, with what is known and a `validation_issues` marker, and counted as invalid.
Events go through `Transport` (spool, then Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from auditstream.core.chain import is_valid_chain_id
from auditstream.core.completeness import heartbeat_payload
from auditstream.core.content import DigestPolicy
from auditstream.producers import validation
from auditstream.producers.config import ProducerConfig
from auditstream.producers.events import Clock, build_entry, enum_value, struct_of, uuid7
from auditstream.producers.spool import SpoolFullError
from auditstream.producers.transport import Transport
from auditstream.producers.vault import ContentVault, aad
from auditstream.producers.wire import EntryEncoder
from auditstream.proto.v1 import log_entry_pb2 as pb

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
SDK_NAME = "auditstream-python"
MAX_ACTOR_CHARS = 256
MAX_REMEMBERED_CHAINS = 1024


@functools.cache
def _otel_trace() -> Any:
    """The opentelemetry.trace module, or None when it is not installed (looked up once:
    a failing import searches sys.path every time)."""
    try:
        from opentelemetry import trace  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    return trace


def current_trace() -> tuple[str, str]:
    """(trace_id, span_id) of the active OpenTelemetry span, if OpenTelemetry is
    installed and a span is recording; empty strings otherwise."""
    trace = _otel_trace()
    if trace is None:
        return "", ""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@dataclass
class Call:
    """What a `tool_call` or `inference` block reports; set fields inside the block."""

    result: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class AuditProducer:
    """Producer with a helper for every event type, AI interactions, data changes,
    and context managers that time and record tool calls and model inference.

    Nothing is opened until the first event (or `start()`)."""

    def __init__(
        self,
        config: ProducerConfig,
        *,
        content: DigestPolicy | None = None,
        vault: ContentVault | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        self.config = config
        self.content = content
        self.vault = vault
        self.clock = clock
        self.chain_id = config.chain_id or config.tenant_id
        # Names this instance in every event it sends; with `producer_seq` it lets the
        # worker and the verifier prove that none of them went missing (decision 0020).
        self.producer_id = config.producer_id or uuid7(clock())
        self.transport = Transport(config)
        self._encoder = EntryEncoder(
            tenant_id=config.tenant_id,
            environment=config.environment,
            component=config.component,
            sdk_name=SDK_NAME,
            max_event_bytes=config.limits.max_event_bytes,
            producer_id=self.producer_id,
        )
        self._chain_keys: dict[str, bytes] = {}
        # Per chain: the next producer sequence number (1, 2, ...; `next` on a count is
        # atomic), and the tenant its heartbeats name. Never forgotten: numbering a
        # chain afresh would look like a gap.
        self._sequences: dict[str, Iterator[int]] = {}
        self._chain_tenants: dict[str, str] = {}
        self._sequences_lock = threading.Lock()
        self._heartbeats: threading.Thread | None = None
        self._stop_heartbeats = threading.Event()
        self._invalid = 0  # events recorded with validation issues
        self._dropped = 0  # events not recorded (overflow policy, producer errors)
        self._heartbeats_sent = 0  # the producer's own events, apart from the caller's

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Open the spool, connect, and replay what an earlier run left unacknowledged.
        Called by the first event; call it early to replay at service start."""
        self.transport.start()
        self._start_heartbeats()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until Kafka has acknowledged every event so far; False on timeout."""
        return self.transport.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` (default `config.close_timeout_s`, 5 s) for Kafka, then
        stop. Events not yet acknowledged are safe in the spool for the next start.
        A last heartbeat on each chain says that this producer stops (so its silence
        is not reported)."""
        self._stop_heartbeats.set()
        if self._heartbeats is not None:
            self._heartbeats.join(5)
            self._heartbeats = None
            self._beat(stopping=True)
        self.transport.close(timeout)

    @property
    def problem(self) -> str | None:
        """Why events are not reaching Kafka when the connection settings or the ACLs
        are to blame (wrong password, untrusted certificate, not authorized); None
        otherwise. Events wait in the spool meanwhile and are sent once it is fixed."""
        return self.transport.problem

    def stats(self) -> dict[str, int]:
        return {
            **self.transport.stats(),
            "invalid": self._invalid,
            "dropped": self._dropped,
            "heartbeats": self._heartbeats_sent,
        }

    def __enter__(self) -> AuditProducer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- emitting ------------------------------------------------------------------
    def emit(self, entry: pb.LogEntry, *, chain_id: str = "") -> str:
        """Validate, spool and send one LogEntry; returns its event id.

        Never raises unless the producer is strict (then `AuditValidationError` or
        `SpoolFullError`), or overflow is "raise" and the spool is full. Failures are
        counted in `stats()` and logged.
        """
        return self._emit(entry, chain_id, 0)

    def _emit(self, entry: pb.LogEntry, chain_id: str, producer_seq: int) -> str:
        """`emit`, with the producer sequence number already taken (0: take one)."""
        try:
            chain, value = self._prepare(entry, chain_id or self.chain_id, producer_seq)
        except Exception:
            if self.config.strict:
                raise
            self._dropped += 1
            log.exception("audit event %s not recorded: producer error", entry.event_id)
            return entry.event_id
        return self._send(chain, value, entry.event_id)

    def _prepare(self, entry: pb.LogEntry, chain_id: str, producer_seq: int) -> tuple[str, bytes]:
        """The producer's defaults filled in, validated (repaired and marked unless
        strict) and numbered: the chain to send it on and its bytes."""
        if not entry.tenant_id:
            entry.tenant_id = self.config.tenant_id
        if not entry.environment and self.config.environment:
            entry.environment = self.config.environment
        if not entry.component and self.config.component:
            entry.component = self.config.component
        if not entry.producer.sdk_name:
            entry.producer.sdk_name = SDK_NAME
        issues = validation.check(entry, chain_id, self.config.limits, strict=self.config.strict)
        if issues:
            log.warning(
                "audit event %s recorded with issues: %s", entry.event_id, "; ".join(issues)
            )
            if not isinstance(chain_id, str) or not is_valid_chain_id(chain_id):
                chain_id = self.config.tenant_id
        if entry.validation_issues:
            self._invalid += 1
        entry.producer_id = self.producer_id
        entry.producer_seq = producer_seq or self._next_seq(chain_id, entry.tenant_id)
        return chain_id, entry.SerializeToString(deterministic=True)

    def _next_seq(self, chain_id: str, tenant_id: str) -> int:
        """The next producer sequence number on a chain."""
        counter = self._sequences.get(chain_id)
        if counter is None:
            with self._sequences_lock:
                counter = self._sequences.get(chain_id)
                if counter is None:
                    self._chain_tenants[chain_id] = tenant_id
                    counter = self._sequences[chain_id] = itertools.count(1)
        return next(counter)

    # -- heartbeats ------------------------------------------------------------------
    def _start_heartbeats(self) -> None:
        interval = self.config.heartbeat_interval_s
        if self._heartbeats is not None or interval <= 0 or self._stop_heartbeats.is_set():
            return
        with self._sequences_lock:
            if self._heartbeats is not None or self._stop_heartbeats.is_set():
                return
            self._heartbeats = threading.Thread(
                target=self._heartbeat_loop, args=(interval,), name="audit-heartbeat", daemon=True
            )
            self._heartbeats.start()

    def _heartbeat_loop(self, interval: float) -> None:
        while not self._stop_heartbeats.wait(interval):
            self._beat(stopping=False)

    def _beat(self, *, stopping: bool) -> None:
        """One heartbeat on every chain this producer has written to (its own chain
        before the first event). Its sequence number says how far the producer got."""
        payload = heartbeat_payload(
            self.config.heartbeat_interval_s, stopping=stopping, dropped=self._dropped
        )
        chains = dict(self._chain_tenants) or {self.chain_id: self.config.tenant_id}
        for chain_id, tenant_id in chains.items():
            with contextlib.suppress(Exception):  # counted and logged by _send; never raised
                self._heartbeat(chain_id, tenant_id, payload, stopping=stopping)

    def _heartbeat(self, chain_id: str, tenant_id: str, payload: bytes, *, stopping: bool) -> None:
        self._heartbeats_sent += 1
        self._log(
            pb.EVENT_PRODUCER_HEARTBEAT,
            self.config.component or SDK_NAME,
            {
                "tenant_id": tenant_id,
                "actor_type": "service",
                "severity": pb.SEVERITY_DEBUG,
                "resource": f"producer/{self.producer_id}",
                "action": "audit.heartbeat",
                "message": "producer stopping" if stopping else "producer heartbeat",
                "payload": payload,
            },
            chain_id,
        )

    def _send(self, chain_id: str, value: bytes, event_id: str) -> str:
        """Spool and send; a full spool or a transport error is counted and logged, and
        raised only when strict (a full spool also with overflow "raise")."""
        if self._heartbeats is None:
            self._start_heartbeats()
        try:
            self.transport.send(self._key(chain_id), value)
        except SpoolFullError:
            self._dropped += 1
            log.error(
                "spool full: audit event %s dropped by the %r overflow policy",
                event_id,
                self.config.overflow,
            )
            if self.config.strict or self.config.overflow == "raise":
                raise
        except Exception:
            if self.config.strict:
                raise
            self._dropped += 1
            log.exception("audit event %s not recorded: producer error", event_id)
        return event_id

    def _key(self, chain_id: str) -> bytes:
        """The record key of a chain; valid chain ids are remembered (a few per
        producer, usually one) with their key, so they are checked once."""
        key = self._chain_keys.get(chain_id)
        if key is None:
            key = chain_id.encode()
            if is_valid_chain_id(chain_id):
                if len(self._chain_keys) >= MAX_REMEMBERED_CHAINS:
                    self._chain_keys.clear()
                self._chain_keys[chain_id] = key
        return key

    def _record(self, build: Callable[[], pb.LogEntry], event_type: int, actor_id: object) -> str:
        """Emit what `build` makes; in tolerant mode, an event it cannot build from its
        arguments is recorded as `_unusable`."""
        try:
            entry = build()
        except Exception as exc:
            return self._unusable(event_type, actor_id, exc)
        return self.emit(entry)

    def _unusable(
        self,
        event_type: int,
        actor_id: object,
        exc: Exception,
        chain_id: str = "",
        producer_seq: int = 0,
    ) -> str:
        """Tolerant mode: the arguments of an event could not be used. Record the event
        with what is certain, its type and actor, and the problem as a marker."""
        if self.config.strict:
            raise exc
        log.error("audit event arguments rejected (%s); recording what is known", exc)
        entry = build_entry(event_type, clock=self.clock)
        if isinstance(actor_id, str) and actor_id:
            entry.actor_id = actor_id
        elif actor_id is not None and actor_id != "":
            entry.actor_id = repr(actor_id)[:MAX_ACTOR_CHARS]
            entry.validation_issues.append(f"actor_id: not a string ({type(actor_id).__name__})")
        entry.validation_issues.append(f"arguments: {type(exc).__name__}: {exc}")
        entry.trace_id, entry.span_id = current_trace()
        return self._emit(entry, chain_id, producer_seq)

    # -- generic -------------------------------------------------------------------
    def log(
        self,
        event_type: int | str,
        actor_id: str,
        *,
        chain_id: str = "",
        **fields: Any,
    ) -> str:
        """Record one event of any type. Fields are LogEntry field names."""
        return self._log(event_type, actor_id, fields, chain_id)

    def _log(
        self, event_type: int | str, actor_id: str, fields: dict[str, Any], chain_id: str = ""
    ) -> str:
        """`log`, with the fields as a dict (the helpers pass theirs, chain id included)."""
        if "chain_id" in fields:
            chain_id = fields.pop("chain_id")
        now = self.clock()
        event_id = fields.get("event_id") or uuid7(now)
        chain = chain_id or self.chain_id
        producer_seq = 0
        if type(chain) is str and (chain in self._chain_keys or is_valid_chain_id(chain)):
            trace = None if fields.get("trace_id") else current_trace()
            tenant = fields.get("tenant_id") or self.config.tenant_id
            producer_seq = self._next_seq(chain, tenant if type(tenant) is str else "")
            value = self._encoder.encode(
                event_type,
                actor_id,
                fields,
                event_id=event_id,
                now_ns=now,
                trace=trace,
                producer_seq=producer_seq,
            )
            if value is not None:
                return self._send(chain, value, event_id)
        return self._log_entry(event_type, actor_id, chain_id, fields, producer_seq)

    def _log_entry(
        self,
        event_type: int | str,
        actor_id: str,
        chain_id: str,
        fields: dict[str, Any],
        producer_seq: int = 0,
    ) -> str:
        """`log` through a LogEntry: for calls that validation repairs or refuses, and
        for what the encoder does not write."""
        try:
            entry = build_entry(event_type, actor_id=actor_id, clock=self.clock, **fields)
        except Exception as exc:
            return self._unusable(_event_number(event_type), actor_id, exc, chain_id, producer_seq)
        if not entry.trace_id:
            entry.trace_id, entry.span_id = current_trace()
        return self._emit(entry, chain_id, producer_seq)

    # -- classic events ------------------------------------------------------------
    def login(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_LOGIN, actor_id, fields)

    def logout(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_LOGOUT, actor_id, fields)

    def file_access(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_FILE_ACCESS, actor_id, fields)

    def policy_change(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_POLICY_CHANGE, actor_id, fields)

    def privilege_use(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_PRIVILEGE_USE, actor_id, fields)

    def config_change(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_CONFIG_CHANGE, actor_id, fields)

    def data_export(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_DATA_EXPORT, actor_id, fields)

    def network_connection(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_NETWORK_CONNECTION, actor_id, fields)

    def process_start(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_PROCESS_START, actor_id, fields)

    def process_stop(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_PROCESS_STOP, actor_id, fields)

    def user_management(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_USER_MANAGEMENT, actor_id, fields)

    def resource_access(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_RESOURCE_ACCESS, actor_id, fields)

    # -- AI and agent events -------------------------------------------------------
    def tool_invocation(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_TOOL_INVOCATION, actor_id, fields)

    def model_inference(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_MODEL_INFERENCE, actor_id, fields)

    def agent_decision(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_AGENT_DECISION, actor_id, fields)

    def delegation(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_DELEGATION, actor_id, fields)

    def context_access(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_CONTEXT_ACCESS, actor_id, fields)

    def prompt_execution(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_PROMPT_EXECUTION, actor_id, fields)

    def guardrail_check(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_GUARDRAIL_CHECK, actor_id, fields)

    # -- MCP protocol events -------------------------------------------------------
    def mcp_event(self, event_type: int | str, actor_id: str, **fields: Any) -> str:
        """Any MCP event (EVENT_MCP_INITIALIZE ... EVENT_TRANSPORT_ERROR) by name or number."""
        return self.log(event_type, actor_id, **fields)

    def mcp_initialize(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_MCP_INITIALIZE, actor_id, fields)

    def mcp_initialized(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_MCP_INITIALIZED, actor_id, fields)

    def mcp_ping(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_MCP_PING, actor_id, fields)

    def mcp_shutdown(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_MCP_SHUTDOWN, actor_id, fields)

    def tool_list(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_TOOL_LIST, actor_id, fields)

    def resource_list(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_RESOURCE_LIST, actor_id, fields)

    def prompt_list(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_PROMPT_LIST, actor_id, fields)

    def resource_read(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_RESOURCE_READ, actor_id, fields)

    def sampling_request(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_SAMPLING_REQUEST, actor_id, fields)

    def sampling_response(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_SAMPLING_RESPONSE, actor_id, fields)

    def transport_connect(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_TRANSPORT_CONNECT, actor_id, fields)

    def transport_disconnect(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_TRANSPORT_DISCONNECT, actor_id, fields)

    def transport_error(self, actor_id: str, **fields: Any) -> str:
        return self._log(pb.EVENT_TRANSPORT_ERROR, actor_id, fields)

    # -- AI interactions, with content protection ----------------------------------
    def ai_interaction(
        self,
        input: str,
        output: str,
        provider: str | None = None,
        model: str | None = None,
        conversation_id: str | None = None,
        safety_passed: bool = True,
        detectors_triggered: list[str] | None = None,
        block_reason: str | None = None,
        alerts: list[str] | None = None,
        latency_ms: float = 0.0,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        actor_id: str = "",
        subject: str | None = None,
        store_content: bool | None = None,
        **fields: Any,
    ) -> str:
        """Record a model interaction. Prompt and answer never leave in clear: always a
        keyed digest (equal texts correlate within the tenant), and with
        `store_content` (default: the producer's setting) AES-256-GCM ciphertext under
        the data key of `subject` (default: the conversation, else the tenant), which
        `ContentVault.destroy(subject)` erases."""
        actor = actor_id or provider or "model"

        def build() -> pb.LogEntry:
            return self._ai_entry(
                input, output, provider, model, conversation_id, safety_passed,
                detectors_triggered, block_reason, alerts, latency_ms, input_tokens,
                output_tokens, metadata, actor, subject, store_content, fields,
            )  # fmt: skip

        return self._record(build, pb.EVENT_MODEL_INFERENCE, actor)

    def _ai_entry(
        self,
        input: str,
        output: str,
        provider: str | None,
        model: str | None,
        conversation_id: str | None,
        safety_passed: bool,
        detectors_triggered: list[str] | None,
        block_reason: str | None,
        alerts: list[str] | None,
        latency_ms: float,
        input_tokens: int | None,
        output_tokens: int | None,
        metadata: Mapping[str, Any] | None,
        actor_id: str,
        subject: str | None,
        store_content: bool | None,
        fields: dict[str, Any],
    ) -> pb.LogEntry:
        entry = build_entry(
            pb.EVENT_MODEL_INFERENCE,
            actor_id=actor_id,
            clock=self.clock,
            outcome=pb.OUTCOME_SUCCESS if safety_passed else pb.OUTCOME_FAILURE_DENIED,
            severity=pb.SEVERITY_INFO if safety_passed else pb.SEVERITY_WARNING,
            duration_ms=latency_ms,
            **fields,
        )
        ai = entry.ai
        ai.SetInParent()
        ai.provider = provider or ""
        ai.request_model = model or ""
        ai.conversation_id = conversation_id or ""
        ai.safety_passed = safety_passed
        ai.detectors_triggered.extend(detectors_triggered or [])
        ai.block_reason = block_reason or ""
        ai.alerts.extend(alerts or [])
        if input_tokens is not None:
            ai.input_tokens = input_tokens
        if output_tokens is not None:
            ai.output_tokens = output_tokens
        if metadata:
            entry.data.CopyFrom(struct_of(metadata))
        encrypt = self.config.store_content if store_content is None else store_content
        owner = subject or conversation_id or entry.tenant_id or self.config.tenant_id
        for slot, text, indexes in (
            ("input", input, ai.input_content),
            ("output", output, ai.output_content),
        ):
            indexes.append(len(entry.content))
            entry.content.append(self._content_ref(entry, slot, text, owner, encrypt))
        entry.trace_id, entry.span_id = current_trace()
        return entry

    def _content_ref(
        self, entry: pb.LogEntry, slot: str, text: str, subject: str, encrypt: bool
    ) -> pb.ContentRef:
        tenant = entry.tenant_id or self.config.tenant_id
        if self.content is None:
            entry.validation_issues.append(f"{slot}: no content key configured; text not recorded")
            return pb.ContentRef(name=slot, length=len(text.encode()))
        ref = self.content.content_ref(slot, text, tenant_id=tenant)
        if encrypt:
            if self.vault is None:
                entry.validation_issues.append(
                    f"{slot}: store_content without a vault; digest only"
                )
            else:
                ref.encrypted.CopyFrom(
                    self.vault.encrypt(subject, text.encode(), aad(entry.event_id, slot))
                )
        return ref

    # -- data changes ----------------------------------------------------------------
    def record_change(
        self,
        action: str,
        actor_id: str,
        resource_type: str,
        resource_id: str,
        old_values: Mapping[str, Any] | None = None,
        new_values: Mapping[str, Any] | None = None,
        *,
        event_type: int | str = pb.EVENT_RESOURCE_ACCESS,
        **fields: Any,
    ) -> str:
        """Record a data mutation with its before and after values."""
        return self._record(
            lambda: self._change_entry(
                action, actor_id, resource_type, resource_id, old_values, new_values,
                event_type, fields,
            ),
            _event_number(event_type),
            actor_id,
        )  # fmt: skip

    def _change_entry(
        self,
        action: str,
        actor_id: str,
        resource_type: str,
        resource_id: str,
        old_values: Mapping[str, Any] | None,
        new_values: Mapping[str, Any] | None,
        event_type: int | str,
        fields: dict[str, Any],
    ) -> pb.LogEntry:
        old, new = dict(old_values or {}), dict(new_values or {})
        entry = build_entry(
            event_type,
            actor_id=actor_id,
            clock=self.clock,
            action=action,
            resource=fields.pop("resource", f"{resource_type}/{resource_id}"),
            **fields,
        )
        change = entry.change
        change.resource_type = resource_type
        change.resource_id = resource_id
        if old:
            change.old_values.CopyFrom(struct_of(old))
        if new:
            change.new_values.CopyFrom(struct_of(new))
        change.changed_fields.extend(
            sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        )
        entry.trace_id, entry.span_id = current_trace()
        return entry

    # -- timing blocks and decorators ----------------------------------------------
    @contextlib.contextmanager
    def tool_call(
        self,
        actor_id: str,
        tool_name: str,
        *,
        arguments: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Iterator[Call]:
        """Time a tool call; records outcome, duration and the exception type if it
        raised (the exception is re-raised)."""
        with self._timed(pb.EVENT_TOOL_INVOCATION, actor_id, tool_name, arguments, fields) as call:
            yield call

    @contextlib.contextmanager
    def inference(self, actor_id: str, provider: str, model: str, **fields: Any) -> Iterator[Call]:
        """Time a model call; set `input_tokens`, `output_tokens`, `finish_reason` on the
        yielded object. Records failures with the exception type."""
        target = {"provider": provider, "model": model}
        with self._timed(
            pb.EVENT_MODEL_INFERENCE, actor_id, f"models/{model}", target, fields
        ) as call:
            yield call

    @contextlib.contextmanager
    def _timed(
        self,
        event_type: int,
        actor_id: str,
        name: str,
        details: Mapping[str, Any] | None,
        fields: dict[str, Any],
    ) -> Iterator[Call]:
        call = Call()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield call
        except BaseException as exc:
            error = exc
            raise
        finally:
            # `_record` never raises here, which would replace the caller's own exception.
            self._record(
                lambda: self._call_entry(
                    event_type, actor_id, name, started, call, error, details, fields
                ),
                event_type,
                actor_id,
            )

    def _call_entry(
        self,
        event_type: int,
        actor_id: str,
        name: str,
        started: float,
        call: Call,
        error: BaseException | None,
        details: Mapping[str, Any] | None,
        fields: dict[str, Any],
    ) -> pb.LogEntry:
        duration = (time.perf_counter() - started) * 1000
        outcome = pb.OUTCOME_SUCCESS if error is None else pb.OUTCOME_FAILURE_ERROR
        message = f"{name} succeeded" if error is None else f"{name} failed: {type(error).__name__}"
        entry = build_entry(
            event_type,
            actor_id=actor_id,
            clock=self.clock,
            outcome=outcome,
            severity=pb.SEVERITY_INFO if error is None else pb.SEVERITY_ERROR,
            duration_ms=round(duration, 3),
            message=message,
            **fields,
        )
        if event_type == pb.EVENT_TOOL_INVOCATION:
            entry.resource = entry.resource or f"tools/{name}"
            entry.mcp.tool_name = name
            entry.mcp.method = "tools/call"
            if details:
                entry.mcp.tool_arguments.CopyFrom(struct_of(details))
            if isinstance(call.result, Mapping):
                entry.mcp.tool_result.CopyFrom(struct_of(call.result))
        else:
            entry.resource = entry.resource or name
            entry.ai.provider = str((details or {}).get("provider", ""))
            entry.ai.request_model = str((details or {}).get("model", ""))
            if call.input_tokens is not None:
                entry.ai.input_tokens = call.input_tokens
            if call.output_tokens is not None:
                entry.ai.output_tokens = call.output_tokens
            if call.finish_reason:
                entry.ai.finish_reasons.append(call.finish_reason)
        if error is not None or call.extra:
            entry.data.CopyFrom(
                struct_of({**call.extra, **({"error_type": type(error).__name__} if error else {})})
            )
        entry.trace_id, entry.span_id = current_trace()
        return entry

    def traced_tool(
        self, actor_id: str, tool_name: str | None = None
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: record every call of the function as a tool invocation. Works on
        plain and async functions."""

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            name = tool_name or function.__name__
            if asyncio.iscoroutinefunction(function):

                @functools.wraps(function)
                async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    with self.tool_call(actor_id, name) as call:
                        value = await function(*args, **kwargs)
                        call.result = _as_result(value)
                        return value

                return run_async  # type: ignore[return-value]

            @functools.wraps(function)
            def run(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.tool_call(actor_id, name) as call:
                    value = function(*args, **kwargs)
                    call.result = _as_result(value)
                    return value

            return run

        return decorate


def _as_result(value: Any) -> Any:
    return value if isinstance(value, Mapping) else None


def _event_number(event_type: object) -> int:
    """The event type of an event being recorded despite bad arguments (0 if unknown)."""
    try:
        value = enum_value(pb.EventType, event_type, "event_type")  # type: ignore[arg-type]
    except Exception:
        return pb.EVENT_TYPE_UNSPECIFIED
    return value if value in pb.EventType.values() else pb.EVENT_TYPE_UNSPECIFIED
