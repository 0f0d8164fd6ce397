"""The lokryn usage examples (the events real services emit), as plain data.

Field values use the enum value names shared by lokryn 0.1.1 and our LogEntry, so the
same data builds a lokryn message, our LogEntry, or producer calls. Used by the
compatibility tests, the demo and the docs.
"""

from __future__ import annotations

from typing import Any, Final

SEED_EXAMPLES: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "mcp_tool_call",
        "event_type": "EVENT_TOOL_INVOCATION",
        "outcome": "OUTCOME_SUCCESS",
        "severity": "SEVERITY_INFO",
        "actor_id": "agent-001",
        "component": "mcp-client",
        "environment": "production",
        "resource": "tools/database_query",
        "message": "Executed database query tool",
        "payload": b'{"query": "SELECT * FROM users", "rows_returned": 42}',
        "policy_tags": ["SOC2", "data-access"],
        "sensitivity": "SENSITIVITY_CONFIDENTIAL",
    },
    {
        "name": "guardrail_block",
        "event_type": "EVENT_GUARDRAIL_CHECK",
        "outcome": "OUTCOME_FAILURE_DENIED",
        "severity": "SEVERITY_WARNING",
        "actor_id": "agent-001",
        "component": "safety-filter",
        "environment": "production",
        "resource": "guardrails/pii-detection",
        "message": "PII detected in agent output, blocked",
        "payload": b'{"rule": "ssn-pattern", "action": "block"}',
        "policy_tags": ["PII", "HIPAA"],
        "sensitivity": "SENSITIVITY_HIGHLY_RESTRICTED",
    },
    {
        "name": "agent_decision",
        "event_type": "EVENT_AGENT_DECISION",
        "outcome": "OUTCOME_SUCCESS",
        "severity": "SEVERITY_INFO",
        "actor_id": "agent-001",
        "component": "decision-engine",
        "environment": "production",
        "resource": "workflows/customer-support",
        "message": "Agent chose to escalate to human",
        "payload": (
            b'{"options": ["respond", "escalate", "defer"], "selected": "escalate", '
            b'"confidence": 0.92}'
        ),
        "policy_tags": ["audit-trail"],
        "sensitivity": "SENSITIVITY_INTERNAL",
    },
    {
        "name": "model_inference",
        "event_type": "EVENT_MODEL_INFERENCE",
        "outcome": "OUTCOME_SUCCESS",
        "severity": "SEVERITY_INFO",
        "actor_id": "service-backend",
        "component": "llm-client",
        "environment": "production",
        "resource": "models/gpt-4",
        "message": "Completed chat completion request",
        "payload": b'{"tokens_in": 1250, "tokens_out": 342, "latency_ms": 1823}',
        "policy_tags": ["SOC2"],
        "sensitivity": "SENSITIVITY_CONFIDENTIAL",
    },
    {
        "name": "sso_login",
        "event_type": "EVENT_LOGIN",
        "outcome": "OUTCOME_SUCCESS",
        "severity": "SEVERITY_INFO",
        "actor_id": "user-12345",
        "component": "auth-service",
        "environment": "production",
        "resource": "auth/login",
        "message": "User authenticated via SSO",
        "payload": b'{"method": "saml", "provider": "okta", "mfa": true}',
        "policy_tags": ["SOC2", "access-control"],
        "sensitivity": "SENSITIVITY_INTERNAL",
    },
    {
        "name": "denied_admin_access",
        "event_type": "EVENT_RESOURCE_ACCESS",
        "outcome": "OUTCOME_FAILURE_DENIED",
        "severity": "SEVERITY_WARNING",
        "actor_id": "user-67890",
        "component": "api-gateway",
        "environment": "production",
        "resource": "api/v1/admin/users",
        "message": "Access denied to admin endpoint",
        "payload": b'{"required_role": "admin", "user_role": "viewer"}',
        "policy_tags": ["SOC2", "access-control"],
        "sensitivity": "SENSITIVITY_INTERNAL",
    },
    {
        "name": "customer_data_export",
        "event_type": "EVENT_DATA_EXPORT",
        "outcome": "OUTCOME_SUCCESS",
        "severity": "SEVERITY_NOTICE",
        "actor_id": "user-12345",
        "component": "export-service",
        "environment": "production",
        "resource": "exports/customer-report",
        "message": "Exported customer data to CSV",
        "payload": b'{"records": 1500, "format": "csv", "destination": "download"}',
        "policy_tags": ["SOC2", "data-export", "PII"],
        "sensitivity": "SENSITIVITY_RESTRICTED",
    },
)


def entry_fields(example: dict[str, Any]) -> dict[str, Any]:
    """The example's LogEntry fields (everything but its name)."""
    return {key: value for key, value in example.items() if key != "name"}
