"""Running the verifier over one or two stores, and the report it produces.

With two sources (ClickHouse and the archive) each is verified on its own, both with
the checkpoints found in either, and their entries are compared seq by seq: the same
seq must have the same entry hash in both. Entries one store holds beyond the other's
newest are counted as lag (a sink behind the other), not as a finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from google.protobuf.message import DecodeError

from auditstream.clickhouse import schema
from auditstream.core import note
from auditstream.core.chain import Link
from auditstream.core.completeness import ProducerReport, StreamAudit
from auditstream.core.cosignature import WitnessPolicy
from auditstream.core.keys import Keyring, NoteVerifier
from auditstream.core.receipts import ErasureAudit, ErasureReport
from auditstream.core.verify import ChainReport, ChainVerifier, Finding, Kind, same_value
from auditstream.proto.v1.sealed_pb2 import SealedBody
from auditstream.verification.sources import Batch, Source

CROSS_CHECK = "cross-check"


@dataclass
class SourceChain:
    source: str
    report: ChainReport

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, **self.report.to_json()}


@dataclass
class Report:
    sources: list[str]
    chains: list[SourceChain] = field(default_factory=list)
    lag: dict[str, int] = field(default_factory=dict)  # chain -> entries only at one tail
    producers: list[ProducerReport] = field(default_factory=list)  # from the first source
    erasures: list[ErasureReport] = field(default_factory=list)  # from the first source
    entries_erased: int = 0  # sealed under keys destroyed on request (distinct entries)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No chain was tampered with (completeness is judged apart: `complete`)."""
        return all(chain.report.ok for chain in self.chains)

    @property
    def complete(self) -> bool:
        """Every numbered producer event is sealed (or its content was removed)."""
        return not any(p.gaps for p in self.producers)

    @property
    def entries(self) -> int:
        return sum(c.report.entries for c in self.chains if c.source != CROSS_CHECK)

    @property
    def content_removed(self) -> int:
        return sum(c.report.content_removed for c in self.chains)

    def findings(self) -> list[Finding]:
        return [f for c in self.chains for f in c.report.tamper_findings()]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sources": self.sources,
            "entries": self.entries,
            "content_removed": self.content_removed,
            "chains": [c.to_json() for c in self.chains],
            "lag": self.lag,
            "complete": self.complete,
            "producers": [p.to_json() for p in self.producers],
            "entries_erased": self.entries_erased,
            "erasures": [e.to_json() for e in self.erasures],
            "seconds": round(self.seconds, 3),
        }


class Progress:
    """Entries verified so far, printed to a stream at most every `every` seconds."""

    def __init__(self, stream: TextIO | None, every: float = 2.0) -> None:
        self.stream = stream
        self.every = every
        self.started = time.monotonic()
        self.last = self.started
        self.done = 0

    def add(self, count: int, where: str) -> None:
        self.done += count
        now = time.monotonic()
        if self.stream is not None and now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            print(f"verified {self.done:,} entries ({rate:,.0f}/s), at {where}", file=self.stream)


def verify_sources(
    sources: Sequence[Source],
    *,
    note_verifiers: Sequence[NoteVerifier],
    witnesses: WitnessPolicy | None = None,
    keyring: Keyring | None = None,
    chain: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Verify every chain of every source; cross-check when there are two. A checkpoint
    found in several places is checked once, with the signatures of all its copies (the
    archive keeps witness cosignatures beside its checkpoints)."""
    started = time.monotonic()
    report = Report([s.name for s in sources])
    progress = progress or Progress(None)
    chains = sorted({c for source in sources for c in source.chains(chain)})
    erasures = ErasureAudit()
    for chain_id in chains:
        notes = note.merge(sorted({n for source in sources for n in source.checkpoints(chain_id)}))
        verifiers = []
        streams = []
        audit = StreamAudit(chain_id)
        for index, source in enumerate(sources):
            verifier = ChainVerifier(
                chain_id,
                keyring=keyring,
                note_verifiers=note_verifiers,
                witnesses=witnesses,
                checkpoints=notes,
                column_extractor=schema.compared_row,
                start=_start(source, chain_id),
            )
            verifiers.append(verifier)
            batches = source.batches(chain_id, verifier.flag)
            first = (audit, erasures) if index == 0 else None
            streams.append(_fed(batches, verifier, progress, first))
        if len(streams) == 1:
            for _ in streams[0]:
                pass
        else:
            cross, lag = _cross_check(chain_id, streams[0], streams[1], report.sources)
            report.chains.append(SourceChain(CROSS_CHECK, cross))
            if lag:
                report.lag[chain_id] = lag
        for source, verifier in zip(sources, verifiers, strict=True):
            report.chains.append(SourceChain(source.name, verifier.finish()))
        report.producers.extend(audit.finish())
    report.erasures, report.entries_erased = erasures.finish()
    report.seconds = time.monotonic() - started
    return report


def _start(source: Source, chain_id: str) -> Any:
    start_head: Callable[[str], Any] | None = getattr(source, "start_head", None)
    return start_head(chain_id) if start_head is not None else None


def _fed(
    batches: Iterator[Batch],
    verifier: ChainVerifier,
    progress: Progress,
    audits: tuple[StreamAudit, ErasureAudit] | None,
) -> Iterator[Batch]:
    """Feed each batch to the verifier (and the producer and erasure recounts), then
    pass it on (for the cross-check)."""
    for batch in batches:
        links = batch.links
        columns = batch.columns
        odd, bodies = _odd_rows(batch)
        if audits is not None:
            _recount(*audits, links, bodies)
        start = 0
        for index in [*odd, len(links)]:
            if start < index:
                verifier.feed_many(links[start:index], bodies[start:index] if bodies else None)
            if index < len(links):
                stored = {n: v[index] for n, v in columns.items()} if columns else None
                verifier.feed(links[index], stored, removal_due=batch.removal_due[index])
            start = index + 1
        progress.add(len(links), verifier.chain_id)
        yield batch


def _recount(
    audit: StreamAudit,
    erasures: ErasureAudit,
    links: Sequence[Link],
    bodies: Sequence[SealedBody],
) -> None:
    """The producer numbers and erasures in a batch's bodies (parsed here unless
    already parsed)."""
    for index, link in enumerate(links):
        if not link.body:
            audit.content_removed(link.seq)
            continue
        if bodies:
            body = bodies[index]
        else:
            try:
                body = SealedBody.FromString(link.body)
            except DecodeError:
                continue  # the verifier reports the body
        audit.add(body.entry, link.seq)
        erasures.add(body)


def _odd_rows(batch: Batch) -> tuple[list[int], list[SealedBody]]:
    """Rows to check one by one: no body, a body that does not parse, or columns that
    differ from the body. The rest go through the verifier's bulk path. Also returns
    the parsed bodies when columns were compared (empty otherwise).

    The comparison is column by column: each recomputed column is one list, compared
    with the stored one in a single `==`; only a column that differs is searched."""
    links = batch.links
    odd = {i for i, link in enumerate(links) if not link.body}
    columns = batch.columns
    if columns is None:
        return sorted(odd), []
    raw = [link.body for link in links]
    try:
        bodies = list(map(SealedBody.FromString, raw))
    except DecodeError:
        bodies = []
        for index, data in enumerate(raw):
            body = SealedBody()
            try:
                body.ParseFromString(data)
            except DecodeError:
                odd.add(index)
            bodies.append(body)
    for name, expected in schema.compared_columns(bodies).items():
        stored = columns[name]
        if stored != expected:
            odd.update(
                i
                for i, (s, e) in enumerate(zip(stored, expected, strict=True))
                if not same_value(s, e)
            )
    return sorted(odd), bodies


def _cross_check(
    chain_id: str, left: Iterator[Batch], right: Iterator[Batch], names: Sequence[str]
) -> tuple[ChainReport, int]:
    """Merge-join two seq-ordered streams of one chain on seq; compare entry hashes.

    Returns the findings and the lag: entries one side holds past the other's newest.
    """
    report = ChainReport(chain_id)
    only = _Runs(report)
    lag = 0
    a_stream, b_stream = _hashes(left), _hashes(right)
    a, b = next(a_stream, None), next(b_stream, None)
    while a is not None or b is not None:
        if a is not None and b is not None and a[0] == b[0]:
            report.entries += 1
            if a[1] != b[1]:
                detail = f"{names[0]} and {names[1]} hold different entries for this seq"
                report.findings.append(Finding(chain_id, a[0], Kind.SOURCE_MISMATCH, detail))
            a, b = next(a_stream, None), next(b_stream, None)
        elif b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            if b is None:
                lag += 1
            else:
                only.add(a[0], names[0])
            a = next(a_stream, None)
        else:
            if a is None:
                lag += 1
            else:
                only.add(b[0], names[1])
            b = next(b_stream, None)
    only.flush()
    return report, lag


def _hashes(stream: Iterator[Batch]) -> Iterator[tuple[int, bytes]]:
    """(seq, entry hash) in ascending seq, the first stored row of each seq only (a
    second one is reported by that source's own verifier)."""
    last = -1
    for batch in stream:
        for link in batch.links:
            if link.seq > last:
                last = link.seq
                yield link.seq, link.entry_hash


class _Runs:
    """Seqs only one store holds, reported as runs (one finding per run)."""

    def __init__(self, report: ChainReport) -> None:
        self.report = report
        self.run: tuple[int, int, str] | None = None

    def add(self, seq: int, name: str) -> None:
        run = self.run
        if run is not None and run[1] == seq - 1 and run[2] == name:
            self.run = (run[0], seq, name)
            return
        self.flush()
        self.run = (seq, seq, name)

    def flush(self) -> None:
        if self.run is None:
            return
        first, last, name = self.run
        span = f"{first}" if first == last else f"{first}..{last}"
        detail = f"seq {span} only in {name}"
        self.report.findings.append(
            Finding(self.report.chain_id, first, Kind.SOURCE_MISMATCH, detail)
        )
        self.run = None
