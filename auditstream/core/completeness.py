"""Completeness from the producer on: did every event a producer emitted get sealed? (pure)

Each producer instance numbers its events per chain 1, 2, 3, ... (`LogEntry.producer_id`,
`producer_seq`; a spool replay resends the same numbers) and sends a heartbeat on every
chain it wrote to each `heartbeat_interval_s`, and a last one saying it stops when it is
closed. The worker follows every (chain, producer) *stream* in `observe`: a number that
is skipped and does not arrive within `gap_after_s` is sealed as an EVENT_PRODUCER_GAP
finding; a producer not heard of for twice its heartbeat interval that did not say it
stops is sealed as EVENT_PRODUCER_SILENT (`due`). The state lives in the chain
snapshots, and findings the worker sealed are observed like any entry, so a restored
worker neither forgets a gap nor reports one twice.

`StreamAudit` recounts the same from sealed entries alone, for `auditstream verify`:
it trusts no finding to be complete, it only reads what the chain holds.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auditstream.core.ids import uuid7_from
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

HEARTBEAT = pb.EVENT_PRODUCER_HEARTBEAT
GAP = pb.EVENT_PRODUCER_GAP
SILENT = pb.EVENT_PRODUCER_SILENT
FINDINGS = frozenset({GAP, SILENT})
SILENCE_FACTOR = 2  # a producer is silent after this many heartbeat intervals
MAX_STREAMS = 10_000  # per chain; beyond it the longest-stopped streams are forgotten
WORKER_ACTOR = "auditstream-worker"


@dataclass(slots=True)
class Stream:
    """One producer instance's numbering on one chain, as the worker has seen it."""

    producer_id: str
    tenant_id: str
    next_seq: int = 1  # one past the highest number seen
    missing: list[tuple[int, int, int]] = field(default_factory=list)  # first, last, noticed
    last_seen_ns: int = 0
    interval_s: float = 0.0  # from its newest heartbeat (0: none seen, never "silent")
    silent_reported: bool = False
    stopped: bool = False  # its last heartbeat said it stops

    def deadline(self, gap_after_ns: int) -> int | None:
        """When something about this stream becomes reportable (None: nothing pending)."""
        times = [noticed + gap_after_ns for _, _, noticed in self.missing]
        if self.interval_s > 0 and not self.stopped and not self.silent_reported:
            times.append(self.last_seen_ns + int(SILENCE_FACTOR * self.interval_s * 1e9))
        return min(times, default=None)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something to seal: a gap (first..last never arrived) or a silent producer."""

    event_type: pb.EventType
    stream: Stream
    first: int = 0
    last: int = 0

    def entry(self, chain_id: str, now_ns: int) -> pb.LogEntry:
        """The LogEntry the worker seals for it."""
        stream = self.stream
        if self.event_type == GAP:
            count = self.last - self.first + 1
            span = str(self.first) if count == 1 else f"{self.first}..{self.last}"
            message = f"{count} event(s) of producer {stream.producer_id} never arrived: {span}"
            details: dict[str, Any] = {"first": self.first, "last": self.last}
            severity = pb.SEVERITY_ERROR
        else:
            message = (
                f"producer {stream.producer_id} silent: no event for "
                f"{SILENCE_FACTOR} x its {stream.interval_s:g} s heartbeat interval"
            )
            details = {
                "last_seen_ns": stream.last_seen_ns,
                "heartbeat_interval_s": stream.interval_s,
                "next_seq": stream.next_seq,
            }
            severity = pb.SEVERITY_WARNING
        payload = json.dumps({"producer_id": stream.producer_id, **details}, sort_keys=True)
        digest = hashlib.sha256(f"{chain_id}\n{payload}\n{now_ns}".encode()).digest()
        entry = pb.LogEntry(
            event_type=self.event_type,
            outcome=pb.OUTCOME_FAILURE_ERROR,
            severity=severity,
            actor_id=WORKER_ACTOR,
            actor_type="service",
            component=WORKER_ACTOR,
            tenant_id=stream.tenant_id,
            resource=f"producer/{stream.producer_id}",
            action="audit.completeness",
            message=message,
            payload=payload.encode(),
            event_id=uuid7_from(now_ns, digest),
        )
        entry.event_time.FromNanoseconds(now_ns)
        return entry


def heartbeat_payload(interval_s: float, *, stopping: bool, dropped: int) -> bytes:
    """What a producer's heartbeat carries (its own producer_seq says how far it got)."""
    return json.dumps(
        {"heartbeat_interval_s": interval_s, "stopping": stopping, "dropped": dropped},
        sort_keys=True,
    ).encode()


def _payload(entry: pb.LogEntry) -> dict[str, Any]:
    try:
        document = json.loads(entry.payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _number(document: dict[str, Any], key: str) -> int:
    value = document.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Streams:
    """The producer streams of one chain: fed every sealed entry in order."""

    def __init__(self) -> None:
        self._by_id: dict[str, Stream] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Stream]:
        return iter(self._by_id.values())

    def get(self, producer_id: str) -> Stream | None:
        return self._by_id.get(producer_id)

    def observe(self, entry: pb.LogEntry, received_ns: int) -> Stream | None:
        """Account for one sealed entry; returns the stream it moved, if any."""
        event_type = entry.event_type
        if event_type in FINDINGS:
            return self._finding_sealed(entry)
        producer_id = entry.producer_id
        seq = entry.producer_seq
        if not producer_id or not seq:
            return None
        stream = self._by_id.get(producer_id)
        if stream is None:
            stream = self._by_id[producer_id] = Stream(producer_id, entry.tenant_id)
            self._bound()
        if seq == stream.next_seq:
            stream.next_seq = seq + 1
        elif seq > stream.next_seq:
            stream.missing.append((stream.next_seq, seq - 1, received_ns))
            stream.next_seq = seq + 1
        else:
            _remove(stream, seq, seq)  # a late arrival fills (part of) a gap
        stream.last_seen_ns = max(stream.last_seen_ns, received_ns)
        stream.silent_reported = False
        if event_type == HEARTBEAT:
            document = _payload(entry)
            interval = document.get("heartbeat_interval_s")
            if isinstance(interval, int | float) and not isinstance(interval, bool):
                stream.interval_s = max(0.0, float(interval))
            stream.stopped = document.get("stopping") is True
        else:
            stream.stopped = False
        return stream

    def _finding_sealed(self, entry: pb.LogEntry) -> Stream | None:
        """A finding the worker sealed: what it reports is no longer pending."""
        document = _payload(entry)
        stream = self._by_id.get(str(document.get("producer_id", "")))
        if stream is None:
            return None
        if entry.event_type == GAP:
            first, last = _number(document, "first"), _number(document, "last")
            if first and last >= first:
                _remove(stream, first, last)
        else:
            stream.silent_reported = True
        return stream

    def due(self, now_ns: int, gap_after_ns: int) -> list[Finding]:
        """Findings whose time has come; they are taken off the pending state."""
        found: list[Finding] = []
        for stream in self._by_id.values():
            deadline = stream.deadline(gap_after_ns)
            if deadline is None or deadline > now_ns:
                continue
            keep = []
            for first, last, noticed in stream.missing:
                if noticed + gap_after_ns <= now_ns:
                    found.append(Finding(GAP, stream, first, last))
                else:
                    keep.append((first, last, noticed))
            stream.missing = keep
            silence = int(SILENCE_FACTOR * stream.interval_s * 1e9)
            if (
                stream.interval_s > 0
                and not stream.stopped
                and not stream.silent_reported
                and stream.last_seen_ns + silence <= now_ns
            ):
                found.append(Finding(SILENT, stream))
                stream.silent_reported = True
        return found

    def next_deadline(self, gap_after_ns: int) -> int | None:
        times = [d for s in self._by_id.values() if (d := s.deadline(gap_after_ns)) is not None]
        return min(times, default=None)

    def _bound(self) -> None:
        """Forget the streams heard of longest ago, stopped ones first, past MAX_STREAMS."""
        excess = len(self._by_id) - MAX_STREAMS
        if excess <= 0:
            return
        order = sorted(
            self._by_id.values(), key=lambda s: (not s.stopped, bool(s.missing), s.last_seen_ns)
        )
        for stream in order[:excess]:
            del self._by_id[stream.producer_id]

    # -- snapshots -----------------------------------------------------------------
    def to_proto(self) -> list[sealed.ProducerStream]:
        out = []
        for stream in self._by_id.values():
            message = sealed.ProducerStream(
                producer_id=stream.producer_id,
                tenant_id=stream.tenant_id,
                next_seq=stream.next_seq,
                heartbeat_interval_s=stream.interval_s,
                silent_reported=stream.silent_reported,
                stopped=stream.stopped,
            )
            message.last_seen.FromNanoseconds(stream.last_seen_ns)
            for first, last, noticed in stream.missing:
                gap = message.missing.add(first=first, last=last)
                gap.noticed.FromNanoseconds(noticed)
            out.append(message)
        return out

    @classmethod
    def from_proto(cls, messages: Iterable[sealed.ProducerStream]) -> Streams:
        streams = cls()
        for m in messages:
            streams._by_id[m.producer_id] = Stream(
                m.producer_id,
                m.tenant_id,
                m.next_seq,
                [(g.first, g.last, g.noticed.ToNanoseconds()) for g in m.missing],
                m.last_seen.ToNanoseconds(),
                m.heartbeat_interval_s,
                m.silent_reported,
                m.stopped,
            )
        return streams


def _remove(stream: Stream, first: int, last: int) -> None:
    """Take first..last out of the stream's missing ranges (splitting a range)."""
    keep = []
    for lo, hi, noticed in stream.missing:
        if hi < first or lo > last:
            keep.append((lo, hi, noticed))
            continue
        if lo < first:
            keep.append((lo, first - 1, noticed))
        if hi > last:
            keep.append((last + 1, hi, noticed))
    stream.missing = keep


# -- verification ------------------------------------------------------------------
@dataclass
class ProducerReport:
    """One producer stream of one chain, recounted from the sealed entries."""

    chain_id: str
    producer_id: str
    events: int = 0  # numbered entries sealed (heartbeats included)
    highest: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # never sealed
    unknown: list[tuple[int, int]] = field(default_factory=list)  # content removed there
    reported: list[tuple[int, int]] = field(default_factory=list)  # GAP findings sealed
    silent_reports: int = 0
    stopped: bool = False

    @property
    def missing(self) -> int:
        return sum(last - first + 1 for first, last in self.gaps)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "producer_id": self.producer_id,
            "events": self.events,
            "highest_seq": self.highest,
            "missing": self.missing,
            "gaps": [list(g) for g in self.gaps],
            "unverifiable": [list(g) for g in self.unknown],
            "reported_gaps": [list(g) for g in self.reported],
            "silent_reports": self.silent_reports,
            "stopped": self.stopped,
        }


class StreamAudit:
    """Recounts one chain's producer sequences from its sealed entries, in chain order.

    A number no entry carries is a gap, unless an entry whose content was removed
    (retention, erasure) lies between its neighbours: that stretch is unverifiable."""

    def __init__(self, chain_id: str) -> None:
        self.chain_id = chain_id
        self._seen: dict[str, list[tuple[int, int]]] = {}  # producer -> (producer seq, chain seq)
        self._reports: dict[str, ProducerReport] = {}
        self._removed: list[int] = []  # chain seqs without content

    def content_removed(self, chain_seq: int) -> None:
        self._removed.append(chain_seq)

    def add(self, entry: pb.LogEntry, chain_seq: int) -> None:
        if entry.event_type in FINDINGS:
            document = _payload(entry)
            report = self._report(str(document.get("producer_id", "")))
            if entry.event_type == GAP:
                first, last = _number(document, "first"), _number(document, "last")
                if first and last >= first:
                    report.reported.append((first, last))
            else:
                report.silent_reports += 1
            return
        if entry.producer_id and entry.producer_seq:
            self._seen.setdefault(entry.producer_id, []).append((entry.producer_seq, chain_seq))
            report = self._report(entry.producer_id)
            if entry.event_type == HEARTBEAT:
                report.stopped = _payload(entry).get("stopping") is True
            elif entry.producer_seq > report.highest:
                report.stopped = False

    def _report(self, producer_id: str) -> ProducerReport:
        report = self._reports.get(producer_id)
        if report is None:
            report = self._reports[producer_id] = ProducerReport(self.chain_id, producer_id)
        return report

    def finish(self) -> list[ProducerReport]:
        removed = sorted(self._removed)
        for producer_id, seen in self._seen.items():
            report = self._reports[producer_id]
            seen.sort()
            report.events = len({seq for seq, _ in seen})
            report.highest = seen[-1][0]
            previous, previous_at = 0, -1
            for seq, at in seen:
                if seq > previous + 1:
                    gap = (previous + 1, seq - 1)
                    low, high = sorted((previous_at, at))
                    index = bisect.bisect_right(removed, low)
                    if index < len(removed) and removed[index] < high:
                        report.unknown.append(gap)
                    else:
                        report.gaps.append(gap)
                previous, previous_at = max(previous, seq), at
        return sorted(self._reports.values(), key=lambda r: r.producer_id)
