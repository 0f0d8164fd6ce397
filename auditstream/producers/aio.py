"""`AsyncAuditProducer`: the same producer for asyncio code.

Recording an event never waits on the network (it is a spool append and a hand-off to
librdkafka's queue), so the coroutines call the synchronous producer directly; only
`flush()` and `close()`, which do wait, run in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from auditstream.producers.producer import AuditProducer, Call


class AsyncAuditProducer:
    """Wraps an `AuditProducer`; every event helper of it is available as a coroutine:
    `await producer.login("user-1", resource="auth/login")`."""

    def __init__(self, producer: AuditProducer) -> None:
        self.sync = producer

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        method = getattr(self.sync, name)
        if not callable(method) or name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    async def flush(self, timeout: float = 30.0) -> bool:
        return await asyncio.to_thread(self.sync.flush, timeout)

    async def close(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(self.sync.close, timeout)

    async def __aenter__(self) -> AsyncAuditProducer:
        await asyncio.to_thread(self.sync.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def tool_call(self, actor_id: str, tool_name: str, **fields: Any) -> AsyncIterator[Call]:
        """Async form of `AuditProducer.tool_call`."""
        with self.sync.tool_call(actor_id, tool_name, **fields) as call:
            yield call

    @contextlib.asynccontextmanager
    async def inference(
        self, actor_id: str, provider: str, model: str, **fields: Any
    ) -> AsyncIterator[Call]:
        with self.sync.inference(actor_id, provider, model, **fields) as call:
            yield call

    def stats(self) -> dict[str, int]:
        return self.sync.stats()
