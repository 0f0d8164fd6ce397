"""Range verifications started from the console: the full verifier over ClickHouse,
in a background thread, with progress to watch and the result kept per chain.

One runs at a time. On an embedded store it takes turns with the console's queries
(the store's lock is held while a chain's rows stream), so a long range slows pages
down but never reads a half-written batch. Results live as long as the process.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteVerifier
from auditstream.errors import AuditStreamError, QueryError
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Progress, Report, verify_sources

log = logging.getLogger(__name__)
KEPT = 50


@dataclass
class Job:
    id: str
    tenant: str | None  # None: every tenant (only an unscoped grant may ask)
    chain: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    total: int
    requested_by: str
    started: dt.datetime
    done: int = 0
    where: str = ""
    finished: dt.datetime | None = None
    report: Report | None = None
    error: str | None = None
    rate: float = 0.0

    @property
    def running(self) -> bool:
        return self.finished is None

    def visible_to(self, tenants: frozenset[str] | None) -> bool:
        return tenants is None or (self.tenant is not None and self.tenant in tenants)


class _Progress(Progress):
    def __init__(self, job: Job) -> None:
        super().__init__(None)
        self.job = job

    def add(self, count: int, where: str) -> None:
        super().add(count, where)
        self.job.done = self.done
        self.job.where = where
        self.job.rate = self.done / max(time.monotonic() - self.started, 1e-9)


class Locked:
    """The client, each query (and each streamed scan) under the store's lock."""

    def __init__(self, client: ClickHouseClient, lock: threading.Lock) -> None:
        self._client = client
        self._lock = lock

    def query(self, query: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        with self._lock:
            return self._client.query(query, parameters=parameters, **kw)

    @contextmanager
    def query_column_block_stream(
        self, query: str, parameters: dict[str, Any] | None = None, **kw: Any
    ) -> Iterator[Any]:
        with (
            self._lock,
            self._client.query_column_block_stream(query, parameters=parameters, **kw) as s,
        ):
            yield s


class Jobs:
    def __init__(
        self,
        client: ClickHouseClient,
        database: str,
        verifiers: Sequence[NoteVerifier],
        lock: threading.Lock,
    ) -> None:
        self._client = Locked(client, lock)
        self._database = database
        self._verifiers = list(verifiers)
        self._jobs: dict[str, Job] = {}
        self._last: dict[str, tuple[Job, dict[str, Any]]] = {}  # chain -> its newest result
        self._lock = threading.Lock()

    def start(
        self,
        *,
        tenant: str | None,
        chain: str | None,
        start: dt.datetime | None,
        end: dt.datetime | None,
        total: int,
        requested_by: str,
    ) -> Job:
        """Start a verification; QueryError when one is running or no key is given."""
        if not self._verifiers:
            raise QueryError("no checkpoint public key was given to the console: cannot verify")
        with self._lock:
            if any(job.running for job in self._jobs.values()):
                raise QueryError("a verification is running; wait for it to finish")
            job = Job(
                secrets.token_urlsafe(9), tenant, chain, start, end, total, requested_by,
                dt.datetime.now(dt.UTC),
            )  # fmt: skip
            self._jobs[job.id] = job
            for old in sorted(self._jobs.values(), key=lambda j: j.started)[:-KEPT]:
                del self._jobs[old.id]
        threading.Thread(target=self._run, args=(job,), name="verify", daemon=True).start()
        log.info("verification %s started by %s (chain %s)", job.id, requested_by, chain or "all")
        return job

    def _run(self, job: Job) -> None:
        source = ClickHouseSource(
            self._client,  # type: ignore[arg-type]
            self._database,
            tenant=job.tenant,
            start=job.start,
            end=job.end,
        )
        try:
            report = verify_sources(
                [source], note_verifiers=self._verifiers, chain=job.chain, progress=_Progress(job)
            )
        except (AuditStreamError, OSError) as exc:
            job.error = str(exc)
        except Exception as exc:  # the store failing mid-scan must end the job, not hang it
            log.exception("verification %s failed", job.id)
            job.error = f"the store could not be read: {type(exc).__name__}"
        else:
            job.report = report
            with self._lock:
                for chain in report.chains:
                    self._last[chain.report.chain_id] = (job, chain.to_json())
        job.finished = dt.datetime.now(dt.UTC)

    def get(self, job_id: str, tenants: frozenset[str] | None) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.visible_to(tenants) else None

    def recent(self, tenants: frozenset[str] | None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((j for j in jobs if j.visible_to(tenants)), key=lambda j: j.started)[::-1]

    def last_results(self) -> dict[str, tuple[Job, dict[str, Any]]]:
        """Per chain, the newest finished verification and its chain report (callers
        show only the chains of their own scope)."""
        with self._lock:
            return dict(self._last)
