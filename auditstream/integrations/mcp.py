"""`AuditedClientSession`: the `mcp` SDK's `ClientSession`, with every exchange recorded
as an MCP audit event.

    async with stdio_client(params) as (read, write):
        async with AuditedClientSession(read, write, audit=producer, actor_id="agent-7") as s:
            await s.initialize()
            await s.call_tool("lookup", {"order": 4411})

initialize, ping, list_tools / list_resources / list_resource_templates / list_prompts,
call_tool, read_resource, get_prompt, the sampling callback and leaving the session
each become one event with duration, outcome and, on failure, the error type (and the
MCP error code). Tool arguments and results, resource contents, prompt arguments and
messages, and sampling messages are content: keyed digests by default, ciphertext with
the producer's store_content. A transport exception delivered to the session is a
TRANSPORT_ERROR event. Needs `pip install 'auditstream[mcp]'`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import anyio.lowlevel
from google.protobuf.json_format import MessageToDict
from mcp import types
from mcp.client.session import (
    ClientRequestContext,
    ClientSession,
    IncomingMessage,
    MessageHandlerFnT,
    SamplingFnT,
)
from mcp.shared.exceptions import MCPError

from auditstream.integrations.content import ContentWriter
from auditstream.producers import AuditProducer
from auditstream.producers.events import build_entry, struct_of, uuid7
from auditstream.producers.producer import current_trace
from auditstream.proto.v1 import log_entry_pb2 as pb

R = TypeVar("R")
SERVER_CAPABILITIES = ("experimental", "logging", "prompts", "resources", "tools", "completions")


class AuditedClientSession(ClientSession):
    """A `ClientSession` that records its exchanges through `audit`.

    `actor_id` is who acts through the session (an agent, a user); `session_id`
    (default: a new UUIDv7) groups the session's events; `chain_id` overrides the
    producer's chain. Everything else is passed to `ClientSession` unchanged."""

    def __init__(
        self,
        read_stream: Any = None,
        write_stream: Any = None,
        read_timeout_seconds: float | None = None,
        *,
        audit: AuditProducer,
        actor_id: str = "mcp-client",
        session_id: str = "",
        chain_id: str = "",
        sampling_callback: SamplingFnT | None = None,
        message_handler: MessageHandlerFnT | None = None,
        client_info: types.Implementation | None = None,
        **kwargs: Any,
    ) -> None:
        self.audit = audit
        self.actor_id = actor_id
        self.session_id = session_id or uuid7(time.time_ns())
        self.chain_id = chain_id
        self.content = ContentWriter.of(audit)
        self._client = client_info
        self._client_capabilities = [
            name
            for name, given in (
                ("sampling", sampling_callback),
                ("elicitation", kwargs.get("elicitation_callback")),
                ("roots", kwargs.get("list_roots_callback")),
            )
            if given is not None
        ]
        self._server: types.Implementation | None = None
        self._protocol = ""
        self._entered = 0.0
        self._user_sampling = sampling_callback
        self._user_handler = message_handler
        self.recorded = 0  # events handed to the producer
        super().__init__(
            read_stream,
            write_stream,
            read_timeout_seconds,
            # Only a given callback is wrapped: passing one advertises the capability.
            sampling_callback=self._sampling if sampling_callback is not None else None,
            message_handler=self._handle_message,
            client_info=client_info,
            **kwargs,
        )

    # -- session lifetime ----------------------------------------------------------
    async def __aenter__(self) -> AuditedClientSession:
        await super().__aenter__()
        self._entered = time.perf_counter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        entry = self._entry(pb.EVENT_MCP_SHUTDOWN, "session/close", "session/close")
        try:
            return await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            self._finish(entry, self._entered, exc_val)

    async def initialize(self) -> types.InitializeResult:
        def described(entry: pb.LogEntry, result: types.InitializeResult) -> None:
            self._server, self._protocol = result.server_info, result.protocol_version
            self._identify(entry)
            entry.mcp.server_capabilities.extend(
                name for name in SERVER_CAPABILITIES if getattr(result.capabilities, name, None)
            )
            entry.message = f"initialized {result.server_info.name} {result.server_info.version}"

        return await self._audited(
            pb.EVENT_MCP_INITIALIZE, "initialize", "session/initialize",
            super().initialize, on_result=described,
        )  # fmt: skip

    async def send_ping(self, *args: Any, **kwargs: Any) -> types.EmptyResult:
        return await self._audited(
            pb.EVENT_MCP_PING,
            "ping",
            "session/ping",
            lambda: super(AuditedClientSession, self).send_ping(*args, **kwargs),
        )

    # -- listings ------------------------------------------------------------------
    async def list_tools(self, *args: Any, **kwargs: Any) -> types.ListToolsResult:
        return await self._audited(
            pb.EVENT_TOOL_LIST, "tools/list", "tools/list",
            lambda: super(AuditedClientSession, self).list_tools(*args, **kwargs),
            on_result=lambda e, r: _listed(e, "tools", r.tools),
        )  # fmt: skip

    async def list_resources(self, *args: Any, **kwargs: Any) -> types.ListResourcesResult:
        return await self._audited(
            pb.EVENT_RESOURCE_LIST, "resources/list", "resources/list",
            lambda: super(AuditedClientSession, self).list_resources(*args, **kwargs),
            on_result=lambda e, r: _listed(e, "resources", r.resources),
        )  # fmt: skip

    async def list_resource_templates(
        self, *args: Any, **kwargs: Any
    ) -> types.ListResourceTemplatesResult:
        return await self._audited(
            pb.EVENT_RESOURCE_LIST, "resources/templates/list", "resources/templates/list",
            lambda: super(AuditedClientSession, self).list_resource_templates(*args, **kwargs),
            on_result=lambda e, r: _listed(e, "resource templates", r.resource_templates),
        )  # fmt: skip

    async def list_prompts(self, *args: Any, **kwargs: Any) -> types.ListPromptsResult:
        return await self._audited(
            pb.EVENT_PROMPT_LIST, "prompts/list", "prompts/list",
            lambda: super(AuditedClientSession, self).list_prompts(*args, **kwargs),
            on_result=lambda e, r: _listed(e, "prompts", r.prompts),
        )  # fmt: skip

    # -- calls ---------------------------------------------------------------------
    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        def started(entry: pb.LogEntry) -> None:
            entry.mcp.tool_name = name
            entry.ai.tool_calls.add(name=name)
            if arguments is not None:
                self.content.add(entry, "mcp.tool.arguments", arguments)

        def described(entry: pb.LogEntry, result: Any) -> None:
            if isinstance(result, types.CallToolResult):
                self.content.add(
                    entry, "mcp.tool.result", result.model_dump(mode="json", exclude_none=True)
                )
                if result.is_error:
                    entry.outcome, entry.severity = pb.OUTCOME_FAILURE_ERROR, pb.SEVERITY_ERROR
                    entry.message = f"tool {name} returned an error"
                    return
            entry.message = f"tool {name} called"

        return await self._audited(
            pb.EVENT_TOOL_INVOCATION, "tools/call", f"tools/{name}",
            lambda: super(AuditedClientSession, self).call_tool(name, arguments, *args, **kwargs),
            on_start=started, on_result=described,
        )  # fmt: skip

    async def read_resource(self, uri: Any, *args: Any, **kwargs: Any) -> Any:
        text_uri = str(uri)

        def started(entry: pb.LogEntry) -> None:
            entry.mcp.resource_uri = text_uri

        def described(entry: pb.LogEntry, result: Any) -> None:
            for item in getattr(result, "contents", ()):
                entry.mcp.resource_mime_type = entry.mcp.resource_mime_type or item.mime_type or ""
                self.content.add(entry, "mcp.resource.contents", item.model_dump(mode="json"))
            entry.message = f"read {text_uri}"

        return await self._audited(
            pb.EVENT_RESOURCE_READ, "resources/read", text_uri,
            lambda: super(AuditedClientSession, self).read_resource(text_uri, *args, **kwargs),
            on_start=started, on_result=described,
        )  # fmt: skip

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        def started(entry: pb.LogEntry) -> None:
            if arguments is not None:
                self.content.add(entry, "mcp.prompt.arguments", arguments)

        def described(entry: pb.LogEntry, result: Any) -> None:
            for message in getattr(result, "messages", ()):
                index = self.content.add(
                    entry,
                    "mcp.prompt.messages",
                    message.content.model_dump(mode="json"),
                    role=message.role,
                )
                entry.ai.output_content.append(index)
            entry.message = f"prompt {name} rendered"

        return await self._audited(
            pb.EVENT_PROMPT_EXECUTION, "prompts/get", f"prompts/{name}",
            lambda: super(AuditedClientSession, self).get_prompt(name, arguments, *args, **kwargs),
            on_start=started, on_result=described,
        )  # fmt: skip

    # -- server-initiated requests and notifications ---------------------------------
    async def _sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> Any:
        assert self._user_sampling is not None
        request = self._entry(pb.EVENT_SAMPLING_REQUEST, "sampling/createMessage", "sampling")
        request.mcp.request_id = str(context.request_id)
        sampling = request.mcp.sampling
        sampling.max_tokens = params.max_tokens
        if params.temperature is not None:
            sampling.temperature = params.temperature
        if params.system_prompt:
            sampling.input_content.append(
                self.content.add(request, "mcp.sampling.system_prompt", params.system_prompt)
            )
        for message in params.messages:
            content = message.content
            dumped = (
                [c.model_dump(mode="json") for c in content]
                if isinstance(content, list)
                else content.model_dump(mode="json")
            )
            sampling.input_content.append(
                self.content.add(request, "mcp.sampling.messages", dumped, role=message.role)
            )
        if params.model_preferences is not None:
            request.data.CopyFrom(
                struct_of({"model_preferences": params.model_preferences.model_dump(mode="json")})
            )
        request.message = "server asked for a model completion"
        self._finish(request, time.perf_counter(), None)

        response = self._entry(pb.EVENT_SAMPLING_RESPONSE, "sampling/createMessage", "sampling")
        response.mcp.request_id = request.mcp.request_id
        started = time.perf_counter()
        try:
            result = await self._user_sampling(context, params)
        except BaseException as exc:
            self._finish(response, started, exc)
            raise
        if isinstance(result, types.ErrorData):
            response.outcome, response.severity = pb.OUTCOME_FAILURE_DENIED, pb.SEVERITY_WARNING
            response.message = f"sampling refused: {result.message}"
            response.data.CopyFrom(struct_of({"mcp.error.code": result.code}))
        else:
            answer = response.mcp.sampling
            answer.response_model = result.model
            if result.stop_reason:
                answer.finish_reasons.append(str(result.stop_reason))
            body = result.content
            dumped = (
                [c.model_dump(mode="json") for c in body]
                if isinstance(body, list)
                else body.model_dump(mode="json")
            )
            answer.output_content.append(
                self.content.add(response, "mcp.sampling.output", dumped, role=result.role)
            )
            response.message = f"sampled {result.model}"
        self._finish(response, started, None)
        return result

    async def _handle_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            entry = self._entry(pb.EVENT_TRANSPORT_ERROR, "transport", "transport")
            self._finish(entry, time.perf_counter(), message)
        if self._user_handler is not None:
            await self._user_handler(message)
        else:
            await anyio.lowlevel.checkpoint()

    # -- recording -----------------------------------------------------------------
    async def _audited(
        self,
        event_type: int,
        method: str,
        resource: str,
        run: Callable[[], Awaitable[R]],
        *,
        on_start: Callable[[pb.LogEntry], None] | None = None,
        on_result: Callable[[pb.LogEntry, R], None] | None = None,
    ) -> R:
        entry = self._entry(event_type, method, resource)
        if on_start is not None:
            on_start(entry)
        started = time.perf_counter()
        try:
            result = await run()
        except BaseException as exc:
            self._finish(entry, started, exc)
            raise
        if on_result is not None:
            on_result(entry, result)
        self._finish(entry, started, None)
        return result

    def _entry(self, event_type: int, method: str, resource: str) -> pb.LogEntry:
        entry = build_entry(
            event_type,
            actor_id=self.actor_id,
            actor_type="agent",
            tenant_id=self.audit.config.tenant_id,
            session_id=self.session_id,
            resource=resource,
            otel_operation_name=method,
            message=method,
        )
        entry.trace_id, entry.span_id = current_trace()
        entry.mcp.method = method
        self._identify(entry)
        return entry

    def _identify(self, entry: pb.LogEntry) -> None:
        entry.mcp.protocol_version = self._protocol
        entry.mcp.client_capabilities[:] = self._client_capabilities
        if self._client is not None:
            entry.client_id, entry.client_version = self._client.name, self._client.version
        if self._server is not None:
            entry.server_id, entry.server_version = self._server.name, self._server.version

    def _finish(self, entry: pb.LogEntry, started: float, error: BaseException | None) -> None:
        entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if error is not None:
            entry.outcome, entry.severity = pb.OUTCOME_FAILURE_ERROR, pb.SEVERITY_ERROR
            entry.message = f"{entry.mcp.method} failed: {type(error).__name__}"
            details: dict[str, Any] = {"error_type": type(error).__name__}
            if isinstance(error, MCPError):
                details["mcp.error.code"] = error.code
            entry.data.CopyFrom(struct_of({**_struct_dict(entry), **details}))
        if not entry.ai.ListFields():
            entry.ClearField("ai")
        self.audit.emit(entry, chain_id=self.chain_id)
        self.recorded += 1


def _listed(entry: pb.LogEntry, what: str, items: list[Any]) -> None:
    entry.message = f"listed {len(items)} {what}"
    entry.data.CopyFrom(struct_of({"names": [getattr(i, "name", "") for i in items]}))


def _struct_dict(entry: pb.LogEntry) -> Mapping[str, Any]:
    return MessageToDict(entry.data) if entry.HasField("data") else {}
