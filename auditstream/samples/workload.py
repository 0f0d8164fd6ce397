"""Synthetic but realistic audit events, for benchmarks, the demo and tests.

Deterministic for a given `random.Random`: tenants, actors and resources follow a
skewed distribution (a few busy ones, a long tail), event types mix classic and
AI/agent events, and payloads are small JSON documents as real services send them.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from auditstream.proto.v1 import log_entry_pb2 as pb

EVENT_MIX: tuple[tuple[pb.EventType, int, str, str], ...] = (
    # (event type, weight, component, resource prefix)
    (pb.EVENT_LOGIN, 18, "auth-service", "auth/login"),
    (pb.EVENT_LOGOUT, 6, "auth-service", "auth/logout"),
    (pb.EVENT_RESOURCE_ACCESS, 20, "api-gateway", "api/v1/records"),
    (pb.EVENT_FILE_ACCESS, 8, "file-service", "files/reports"),
    (pb.EVENT_CONFIG_CHANGE, 2, "config-service", "config/flags"),
    (pb.EVENT_POLICY_CHANGE, 1, "iam", "policies/rbac"),
    (pb.EVENT_PRIVILEGE_USE, 2, "iam", "roles/admin"),
    (pb.EVENT_USER_MANAGEMENT, 2, "iam", "users"),
    (pb.EVENT_DATA_EXPORT, 3, "export-service", "exports/customer-report"),
    (pb.EVENT_TOOL_INVOCATION, 12, "mcp-client", "tools/database_query"),
    (pb.EVENT_MODEL_INFERENCE, 12, "llm-client", "models/gpt-4o"),
    (pb.EVENT_AGENT_DECISION, 5, "decision-engine", "workflows/support"),
    (pb.EVENT_GUARDRAIL_CHECK, 5, "safety-filter", "guardrails/pii-detection"),
    (pb.EVENT_DELEGATION, 1, "orchestrator", "agents/sub-agent"),
    (pb.EVENT_CONTEXT_ACCESS, 1, "rag", "indexes/kb"),
)
PROVIDERS = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("google", "gemini-2.5-pro"))
TOOLS = ("database_query", "web_search", "send_email", "create_ticket", "read_file")


@dataclass(frozen=True, slots=True)
class Workload:
    """Shape of the generated traffic."""

    tenants: int = 8
    actors_per_tenant: int = 200
    resources_per_tenant: int = 500
    failure_rate: float = 0.06
    start_ns: int = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    span_ns: int = 90 * 86_400 * 1_000_000_000  # 90 days
    environment: str = "production"

    def tenant(self, index: int) -> str:
        return f"tenant-{index:03d}"


def _skewed(rng: random.Random, n: int) -> int:
    """An index in [0, n) where low indexes are much more likely (Pareto-like)."""
    return min(int(rng.paretovariate(1.2)) - 1, n - 1)


def _uuid7(rng: random.Random, time_ns: int) -> str:
    ms = time_ns // 1_000_000
    rand = rng.getrandbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


_WEIGHTS = [w for _, w, _, _ in EVENT_MIX]


def generate(
    rng: random.Random, count: int, shape: Workload | None = None
) -> Iterator[pb.LogEntry]:
    """`count` events, in event-time order, spread evenly over the workload's span."""
    shape = shape or Workload()
    step = shape.span_ns // max(count, 1)
    for i in range(count):
        time_ns = shape.start_ns + i * step + rng.randrange(max(step, 1))
        yield make_event(rng, shape, time_ns)


def make_event(rng: random.Random, shape: Workload, time_ns: int) -> pb.LogEntry:
    event_type, _, component, prefix = rng.choices(EVENT_MIX, weights=_WEIGHTS)[0]
    tenant = shape.tenant(_skewed(rng, shape.tenants))
    actor = _skewed(rng, shape.actors_per_tenant)
    is_agent = event_type >= pb.EVENT_TOOL_INVOCATION
    failed = rng.random() < shape.failure_rate
    entry = pb.LogEntry(
        event_type=event_type,
        outcome=(
            rng.choice((pb.OUTCOME_FAILURE_DENIED, pb.OUTCOME_FAILURE_UNAUTHORIZED))
            if failed
            else pb.OUTCOME_SUCCESS
        ),
        severity=pb.SEVERITY_WARNING if failed else pb.SEVERITY_INFO,
        actor_id=f"agent-{actor:03d}" if is_agent else f"user-{actor:05d}",
        actor_type="agent" if is_agent else "user",
        component=component,
        environment=shape.environment,
        resource=f"{prefix}/{_skewed(rng, shape.resources_per_tenant)}",
        tenant_id=tenant,
        event_id=_uuid7(rng, time_ns),
        sensitivity=rng.choice(
            (pb.SENSITIVITY_INTERNAL, pb.SENSITIVITY_CONFIDENTIAL, pb.SENSITIVITY_RESTRICTED)
        ),
        policy_tags=["SOC2"],
    )
    entry.event_time.FromNanoseconds(time_ns)
    if event_type == pb.EVENT_MODEL_INFERENCE:
        provider, model = rng.choice(PROVIDERS)
        entry.ai.provider = provider
        entry.ai.request_model = model
        entry.ai.input_tokens = rng.randint(50, 4000)
        entry.ai.output_tokens = rng.randint(10, 1200)
        entry.duration_ms = round(rng.uniform(200, 4000), 1)
        entry.message = "chat completion"
    elif event_type == pb.EVENT_TOOL_INVOCATION:
        tool = rng.choice(TOOLS)
        entry.mcp.tool_name = tool
        entry.mcp.method = "tools/call"
        entry.resource = f"tools/{tool}"
        entry.message = f"called {tool}"
        entry.payload = json.dumps({"rows_returned": rng.randint(0, 500)}).encode()
    elif event_type == pb.EVENT_GUARDRAIL_CHECK:
        entry.ai.safety_passed = not failed
        if failed:
            entry.ai.block_reason = "pii-detected"
            entry.ai.detectors_triggered.append("ssn-pattern")
        entry.message = "guardrail evaluated"
    elif event_type == pb.EVENT_DATA_EXPORT:
        entry.payload = json.dumps({"records": rng.randint(1, 20000), "format": "csv"}).encode()
        entry.message = "exported customer data"
    else:
        entry.message = f"{pb.EventType.Name(event_type).removeprefix('EVENT_').lower()} ok"
    return entry
