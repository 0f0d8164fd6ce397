"""Named compliance queries. Each is SQL over `audit_events` with bound parameters;
`{scope}` is where AuditStore puts the tenant restriction, `{table}` the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # ClickHouse type of the bound parameter
    required: bool = False
    default: str | int | None = None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str
    params: tuple[Param, ...] = field(default_factory=tuple)


TIME = (Param("start", "DateTime64(6)"), Param("end", "DateTime64(6)"))
LIMIT = Param("limit", "UInt32", default=100)
NOT_RECORDED = "(not recorded)"  # what a row shows for a field the events do not carry
RANGE = "event_time >= {start:DateTime64(6)} AND event_time < {end:DateTime64(6)}"
# Tokens of model calls; lokryn 0.1.1 events carry them in the payload instead.
TOKENS = (
    "sum(if(ai_input_tokens > 0, ai_input_tokens, JSONExtractUInt(payload, 'tokens_in'))) "
    "AS input_tokens, "
    "sum(if(ai_output_tokens > 0, ai_output_tokens, JSONExtractUInt(payload, 'tokens_out'))) "
    "AS output_tokens"
)
EVENT_LIST = (
    "SELECT event_time, tenant_id, actor_id, event_type, outcome, resource, message, "
    "sensitivity, chain_id, seq, event_id FROM {table}"
)

QUERIES: Final[dict[str, NamedQuery]] = {
    q.name: q
    for q in (
        NamedQuery(
            "actor_timeline",
            "Everything one actor did, newest first",
            f"{EVENT_LIST} WHERE {{scope}} AND actor_id = {{actor:String}} AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (Param("actor", "String", required=True), *TIME, LIMIT),
        ),
        NamedQuery(
            "failed_logins",
            "Failed logins per actor",
            "SELECT actor_id, count() AS failures, min(event_time) AS first, "
            "max(event_time) AS last, groupUniqArray(outcome) AS outcomes "
            "FROM {table} WHERE {scope} "
            f"AND event_type = 'EVENT_LOGIN' AND outcome != 'OUTCOME_SUCCESS' AND {RANGE} "
            "GROUP BY actor_id ORDER BY failures DESC, actor_id LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
        NamedQuery(
            "resource_access",
            "Who accessed a resource, and how it went",
            "SELECT actor_id, count() AS accesses, "
            "countIf(outcome != 'OUTCOME_SUCCESS') AS refused, "
            "min(event_time) AS first, max(event_time) AS last FROM {table} WHERE {scope} "
            f"AND resource = {{resource:String}} AND {RANGE} "
            "GROUP BY actor_id ORDER BY accesses DESC, actor_id LIMIT {limit:UInt32}",
            (Param("resource", "String", required=True), *TIME, LIMIT),
        ),
        NamedQuery(
            "restricted_exports",
            "Data exports of restricted or more sensitive data",
            f"{EVENT_LIST} WHERE {{scope}} AND event_type = 'EVENT_DATA_EXPORT' "
            f"AND sensitivity >= {{min_sensitivity:UInt8}} AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (Param("min_sensitivity", "UInt8", default=4), *TIME, LIMIT),
        ),
        NamedQuery(
            "agent_tool_calls",
            "AI tool calls per agent and tool",
            "SELECT actor_id AS agent, mcp_tool_name AS tool, count() AS calls, "
            "countIf(outcome != 'OUTCOME_SUCCESS') AS failed FROM {table} WHERE {scope} "
            f"AND event_type = 'EVENT_TOOL_INVOCATION' AND {RANGE} "
            "AND ({agent:String} = '' OR actor_id = {agent:String}) "
            "GROUP BY agent, tool ORDER BY calls DESC, agent, tool LIMIT {limit:UInt32}",
            (Param("agent", "String", default=""), *TIME, LIMIT),
        ),
        NamedQuery(
            "model_usage",
            "Model calls and tokens per provider and model",
            # lokryn 0.1.1 events carry no AI block: their model is in the resource
            # (`models/<name>`) and their tokens in the payload (`tokens_in`, `tokens_out`).
            f"SELECT if(ai_provider != '', ai_provider, '{NOT_RECORDED}') AS provider, "
            "if(ai_model != '', ai_model, if(startsWith(resource, 'models/'), "
            f"substring(resource, 8), '{NOT_RECORDED}')) AS model, count() AS calls, "
            f"{TOKENS} FROM {{table}} WHERE {{scope}} "
            f"AND event_type = 'EVENT_MODEL_INFERENCE' AND {RANGE} "
            "GROUP BY provider, model ORDER BY calls DESC, provider, model LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
        NamedQuery(
            "guardrail_denials",
            "Guardrail checks that blocked something",
            f"{EVENT_LIST} WHERE {{scope}} AND event_type = 'EVENT_GUARDRAIL_CHECK' "
            "AND outcome IN ('OUTCOME_FAILURE_DENIED', 'OUTCOME_FAILURE_UNAUTHORIZED') "
            f"AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
        NamedQuery(
            "events_per_day",
            "Events per day and type",
            "SELECT toDate(event_time) AS day, event_type, count() AS events FROM {table} "
            f"WHERE {{scope}} AND {RANGE} GROUP BY day, event_type "
            "ORDER BY day, event_type LIMIT {limit:UInt32}",
            (*TIME, Param("limit", "UInt32", default=5000)),
        ),
        NamedQuery(
            "guardrail_denials_per_day",
            "Guardrail checks that blocked something, per day",
            "SELECT toDate(event_time) AS day, count() AS denials FROM {table} "
            "WHERE {scope} AND event_type = 'EVENT_GUARDRAIL_CHECK' "
            "AND outcome IN ('OUTCOME_FAILURE_DENIED', 'OUTCOME_FAILURE_UNAUTHORIZED') "
            f"AND {RANGE} GROUP BY day ORDER BY day LIMIT {{limit:UInt32}}",
            (*TIME, Param("limit", "UInt32", default=1000)),
        ),
        NamedQuery(
            "model_tokens_per_day",
            "Model input and output tokens per day",
            "SELECT toDate(event_time) AS day, "
            f"{TOKENS} FROM {{table}} WHERE {{scope}} "
            f"AND event_type = 'EVENT_MODEL_INFERENCE' AND {RANGE} "
            "GROUP BY day ORDER BY day LIMIT {limit:UInt32}",
            (*TIME, Param("limit", "UInt32", default=1000)),
        ),
        NamedQuery(
            "privilege_use",
            "Use of elevated privileges",
            f"{EVENT_LIST} WHERE {{scope}} AND event_type = 'EVENT_PRIVILEGE_USE' AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
        NamedQuery(
            "config_changes",
            "Configuration and policy changes",
            f"{EVENT_LIST} WHERE {{scope}} "
            f"AND event_type IN ('EVENT_CONFIG_CHANGE', 'EVENT_POLICY_CHANGE') AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
        NamedQuery(
            "erasures",
            "Data subjects erased on request (`auditstream erase`), with who asked and why",
            "SELECT event_time, tenant_id, "
            "JSONExtractString(payload, 'subject_digest') AS subject_digest, "
            "JSONExtractUInt(payload, 'entries') AS entries, actor_id AS requested_by, "
            "message AS reason, JSONExtractString(payload, 'erasure_id') AS erasure_id, "
            "chain_id, seq, event_id FROM {table} WHERE {scope} "
            f"AND event_type = 'EVENT_SUBJECT_ERASED' AND {RANGE} "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            (*TIME, LIMIT),
        ),
    )
}
