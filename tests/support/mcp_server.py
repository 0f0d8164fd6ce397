"""A real MCP server built with the official SDK, for the MCP integration tests: a few
tools (one fails, one asks the client for a model completion), a resource and a
prompt. Runs in-process (`connected`) or over stdio (`python -m tests.support.mcp_server`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.memory import create_client_server_memory_streams

server = MCPServer("orders-demo")


@server.tool()
def lookup_order(order_id: int) -> dict[str, Any]:
    """The status of an order."""
    return {"order_id": order_id, "status": "shipped", "card": "4111 1111 1111 1111"}


@server.tool()
def refund(order_id: int) -> str:
    """Always fails: refunds need a human."""
    raise ValueError(f"refund of order {order_id} needs approval")


@server.tool()
async def summarise(text: str, ctx: Context) -> str:
    """Asks the client's model for a summary (MCP sampling)."""
    result = await ctx.session.create_message(
        [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=text))],
        max_tokens=64,
        system_prompt="Summarise in one line.",
    )
    content = result.content
    return content.text if isinstance(content, types.TextContent) else ""


@server.resource("orders://4411")
def order_record() -> str:
    return "order 4411: 2 items, paid by card"


@server.prompt()
def apology(customer: str) -> str:
    return f"Write an apology to {customer} for the late delivery."


@contextlib.asynccontextmanager
async def connected() -> AsyncIterator[tuple[Any, Any]]:
    """Client-side (read, write) streams of the server running in this process."""
    lowlevel = server._lowlevel_server
    async with (
        create_client_server_memory_streams() as (client, server_side),
        anyio.create_task_group() as group,
    ):
        group.start_soon(
            lambda: lowlevel.run(
                server_side[0], server_side[1], lowlevel.create_initialization_options()
            )
        )
        yield client
        group.cancel_scope.cancel()


if __name__ == "__main__":
    server.run("stdio")
