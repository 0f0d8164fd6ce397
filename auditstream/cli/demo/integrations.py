"""The demo's zero-code doors: one GenAI span through `AuditSpanExporter` and one MCP
session through `AuditedClientSession` against an in-process MCP server, both into the
demo producer. Skipped (and said so) without the `integrations` extra."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from auditstream.producers import AuditProducer

EXTRA = "pip install 'auditstream[integrations]'"


def produce(producer: AuditProducer, say: Callable[[str], None]) -> int:
    """Record the span and the session; returns how many events that made."""
    try:
        from auditstream.integrations.mcp import AuditedClientSession  # noqa: PLC0415
        from auditstream.integrations.otel import AuditSpanExporter  # noqa: PLC0415
    except ImportError:
        say(f"  (OpenTelemetry and MCP examples skipped: {EXTRA})")
        return 0
    made = _genai_span(producer, AuditSpanExporter)
    made += asyncio.run(_mcp_session(producer, AuditedClientSession))
    say(f"  + one OpenTelemetry GenAI span and one MCP session ({made} events, content digested)")
    return made


def _genai_span(producer: AuditProducer, exporter_class: Any) -> int:
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    exporter = exporter_class(producer)
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Where is order 4411?"}]}]
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 212,
        "gen_ai.usage.output_tokens": 31,
        "gen_ai.conversation.id": "conv-4411",
        "gen_ai.input.messages": json.dumps(messages),
        "enduser.id": "support-agent-7",
    }
    tracer = provider.get_tracer("auditstream.demo")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes):
        pass
    provider.shutdown()
    return int(exporter.stats()["exported"])


async def _mcp_session(producer: AuditProducer, session_class: Any) -> int:
    import anyio  # noqa: PLC0415
    from mcp.server.mcpserver import MCPServer  # noqa: PLC0415
    from mcp.shared.memory import create_client_server_memory_streams  # noqa: PLC0415

    server = MCPServer("orders")

    @server.tool()
    def order_status(order_id: int) -> str:
        """Where an order is."""
        return f"order {order_id} shipped"

    lowlevel = server._lowlevel_server  # as the SDK's own in-memory transport runs it
    async with (
        create_client_server_memory_streams() as (client, server_side),
        anyio.create_task_group() as group,
    ):
        options = lowlevel.create_initialization_options()
        group.start_soon(lambda: lowlevel.run(server_side[0], server_side[1], options))
        async with session_class(*client, audit=producer, actor_id="support-agent-7") as session:
            await session.initialize()
            await session.list_tools()
            await session.call_tool("order_status", {"order_id": 4411})
        group.cancel_scope.cancel()
    return int(session.recorded)
