"""Submitting every checkpoint in the archive to every configured witness.

The feeder is a companion process (`auditstream witness run`), not part of the worker or
a sink ([decision 0018](../../docs/decisions/0018-witnessed-checkpoints.md)): it reads the
archive's published logs, checkpoint history and tiles, as any outside party could, so
a witness is shown exactly what auditors are shown, and the pipeline never waits for a
witness.

Per chain and witness, checkpoints go in order of size, each with a consistency proof
from the last one that witness cosigned, computed from the tiles and checked here first.
Cosignatures are stored beside their checkpoint (`<size>.<key id>.cosig`), which is also
where a restarted feeder learns what each witness cosigned. An unreachable witness is
retried with exponential backoff; a refusal is reported once per checkpoint and reason
(`Alerts`) and the checkpoint is offered again after `refusal_retry_s`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from auditstream.archive import tlog as layout
from auditstream.archive.store import ArchiveConflictError, ArchiveStore
from auditstream.archive.tlog import ArchiveLog, Dated, checked_note
from auditstream.core import merkle
from auditstream.errors import FormatError
from auditstream.witness.alerts import Alerts, Refusal
from auditstream.witness.client import (
    Cosigned,
    Reason,
    Refused,
    Unavailable,
    Witness,
    WitnessClient,
)

log = logging.getLogger(__name__)

COSIGNATURES = Counter(
    "auditstream_witness_cosignatures_total", "Cosignatures stored in the archive", ["witness"]
)
UNAVAILABLE = Counter(
    "auditstream_witness_unavailable_total", "Submissions that failed in transit", ["witness"]
)
PENDING = Gauge(
    "auditstream_witness_pending_checkpoints",
    "Checkpoints in the archive a witness has not cosigned",
    ["witness"],
)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class FeederConfig:
    retain_days: int = 3650  # Object Lock on stored cosignatures, as on checkpoints
    refusal_retry_s: float = 300.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 10.0  # one HTTP request
    tenant: str | None = None
    chain: str | None = None


@dataclass
class _Progress:
    """What one witness has cosigned of one chain, as far as the feeder knows."""

    size: int = 0
    root: bytes | None = None  # None: the witness's tree of that size is not in the archive
    blocked_until: float = 0.0
    reported: set[tuple[int, str]] = field(default_factory=set)


@dataclass
class _Backoff:
    delay: float = 0.0
    until: float = 0.0


@dataclass
class _View:
    log: ArchiveLog
    history: list[Dated] = field(default_factory=list)
    cosignatures: set[str] = field(default_factory=set)
    latest: int = -1


@dataclass
class Summary:
    """One round: checkpoints in the archive, and per witness how many it has cosigned
    and how many are still to go."""

    chains: int = 0
    checkpoints: int = 0
    cosigned: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "chains": self.chains,
            "checkpoints": self.checkpoints,
            "cosigned": self.cosigned,
            "pending": self.pending,
            "refusals": self.refusals,
        }


class WitnessFeeder:
    def __init__(
        self,
        store: ArchiveStore,
        witnesses: Sequence[Witness],
        alerts: Alerts,
        config: FeederConfig | None = None,
        *,
        now: Callable[[], dt.datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.witnesses = list(witnesses)
        self.alerts = alerts
        self.config = config or FeederConfig()
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.clock = clock
        self._clients = {w: WitnessClient(w, self.config.timeout_s) for w in self.witnesses}
        self._backoff = {w: _Backoff() for w in self.witnesses}
        self._views: dict[str, _View] = {}
        self._progress: dict[tuple[str, Witness], _Progress] = {}
        self._refusals: list[str] = []

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Feed the witnesses until `stop` is set, one round every `interval` seconds."""
        while not stop.is_set():
            self.round()
            stop.wait(interval)

    def round(self) -> Summary:
        """Offer every checkpoint not yet cosigned to each witness that is not backing off."""
        self._refusals = []
        for chain_id in self._chain_ids():
            view = self._view(chain_id)
            for witness in self.witnesses:
                if self._backoff[witness].until <= self.clock():
                    self._feed(view, witness)
        return self.summary()

    def summary(self) -> Summary:
        summary = Summary(chains=len(self._views), refusals=list(self._refusals))
        summary.checkpoints = sum(len(v.history) for v in self._views.values())
        for witness in self.witnesses:
            done = pending = 0
            for view in self._views.values():
                cosigned = self._progress.get((view.log.chain_id, witness), _Progress()).size
                done += sum(self._has(view, d, witness) for d in view.history)
                pending += sum(d.size > cosigned for d in view.history)
            summary.cosigned[witness.name] = done
            summary.pending[witness.name] = pending
            PENDING.labels(witness.name).set(pending)
        return summary

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    # -- what is in the archive ----------------------------------------------------
    def _chain_ids(self) -> list[str]:
        found = layout.chains(self.store, self.config.tenant)
        return [c for c in found if self.config.chain in (None, c)]

    def _view(self, chain_id: str) -> _View:
        """The chain's history, listed in full once, then only the recent days' folders
        when its latest checkpoint moves."""
        view = self._views.get(chain_id)
        if view is None:
            view = self._views[chain_id] = _View(ArchiveLog(self.store, chain_id))
        latest = view.log.latest()
        try:
            size = checked_note(latest, chain_id)[0] if latest is not None else -1
        except FormatError as exc:
            log.error("the latest checkpoint of %s does not parse: %s", chain_id, exc)
            return view
        if size <= view.latest:
            return view
        known = max((d.size for d in view.history), default=-1)
        if view.history:
            today = self.now().date()
            first = min(dt.date.fromisoformat(view.history[-1].day), today)
            days = [str(first + DAY * n) for n in range((today - first).days + 2)]
            self._merge(view, view.log.history(days))
        if not view.history or max(d.size for d in view.history) < size:
            self._merge(view, view.log.history())
        view.latest = size
        log.debug("%s: %d checkpoints (was %d)", chain_id, len(view.history), known)
        return view

    @staticmethod
    def _merge(view: _View, found: list[Dated]) -> None:
        keys = {d.key for d in view.history}
        view.history = sorted([*view.history, *(d for d in found if d.key not in keys)])
        for dated in found:
            view.cosignatures.update(dated.cosignatures)

    @staticmethod
    def _has(view: _View, dated: Dated, witness: Witness) -> bool:
        return dated.cosignature_key(witness.verifier.key_id) in view.cosignatures

    def _progress_of(self, view: _View, witness: Witness) -> _Progress:
        """Starts from the largest checkpoint the archive holds a cosignature of."""
        key = (view.log.chain_id, witness)
        progress = self._progress.get(key)
        if progress is None:
            progress = self._progress[key] = _Progress()
            done = [d for d in view.history if self._has(view, d, witness)]
            if done:
                progress.size, progress.root = done[-1].size, self._root(view, done[-1])
        return progress

    def _root(self, view: _View, dated: Dated | None) -> bytes | None:
        """The root of a checkpoint of the history (None if it is not there)."""
        signed = self.store.get(dated.key) if dated is not None else None
        return checked_note(signed, view.log.chain_id)[1] if signed is not None else None

    # -- submitting ----------------------------------------------------------------
    def _feed(self, view: _View, witness: Witness) -> None:
        progress = self._progress_of(view, witness)
        if progress.blocked_until > self.clock():
            return
        for dated in view.history:
            if dated.size <= progress.size:
                continue
            if self._has(view, dated, witness):
                progress.size, progress.root = dated.size, self._root(view, dated)
                continue
            if not self._submit(view, witness, progress, dated):
                return

    def _submit(self, view: _View, witness: Witness, progress: _Progress, dated: Dated) -> bool:
        """Offer one checkpoint; True when the witness's state moved on (cosigned, or it
        had seen a larger tree already), False to stop feeding it this chain for now."""
        signed = self.store.get(dated.key)
        if signed is None:
            log.warning("%s disappeared; skipping it", dated.key)
            return True
        size, root = checked_note(signed, view.log.chain_id)
        for attempt in range(2):
            old = progress.size
            try:
                proof = view.log.tile_hashes(size).consistency_proof(old) if old else []
            except FormatError as exc:
                return self._refused(
                    progress,
                    witness,
                    view,
                    size,
                    Reason.INCONSISTENT_ARCHIVE,
                    f"the tiles for tree size {size} cannot be read: {exc}",
                )
            if (
                old
                and progress.root is not None
                and not merkle.verify_consistency(old, size, progress.root, root, proof)
            ):
                return self._refused(
                    progress,
                    witness,
                    view,
                    size,
                    Reason.INCONSISTENT_ARCHIVE,
                    f"the archive's tiles do not prove tree size {size} consistent with tree "
                    f"size {old}, which this witness cosigned: the archive or the log was "
                    "altered (not submitted)",
                )
            result = self._clients[witness].add_checkpoint(old, proof, signed)
            if isinstance(result, Cosigned):
                self._store(view, witness, dated, result)
                progress.size, progress.root = size, root
                self._backoff[witness] = _Backoff()
                return True
            if isinstance(result, Unavailable):
                self._back_off(witness, result.detail)
                return False
            if isinstance(result, Refused):
                return self._refused(
                    progress, witness, view, size, result.reason, result.detail, result.status
                )
            known = result.known_size
            if attempt or known == old:
                return self._refused(
                    progress,
                    witness,
                    view,
                    size,
                    Reason.REFUSED,
                    f"409 again: the witness holds tree size {known}",
                    409,
                )
            log.info(
                "witness %s holds tree size %d of %s, not %d",
                witness.name,
                known,
                view.log.chain_id,
                old,
            )
            held = next((d for d in view.history if d.size == known), None)
            progress.size, progress.root = known, self._root(view, held)
            if known > size:
                log.warning(
                    "%s was not cosigned by %s: it had seen tree size %d already",
                    dated.key,
                    witness.name,
                    known,
                )
                return True
        return True

    def _store(self, view: _View, witness: Witness, dated: Dated, cosigned: Cosigned) -> None:
        key = dated.cosignature_key(witness.verifier.key_id)
        retain = self.now() + DAY * self.config.retain_days
        try:
            self.store.put(key, cosigned.lines, retain_until=retain)
        except ArchiveConflictError:
            log.info("%s is stored already (an earlier cosignature by the same witness)", key)
        view.cosignatures.add(key)
        COSIGNATURES.labels(witness.name).inc()

    def _refused(
        self,
        progress: _Progress,
        witness: Witness,
        view: _View,
        size: int,
        reason: Reason,
        detail: str,
        status: int = 0,
    ) -> bool:
        progress.blocked_until = self.clock() + self.config.refusal_retry_s
        refusal = Refusal(witness, view.log.chain_id, size, Refused(reason, status, detail))
        self._refusals.append(refusal.describe())
        if (size, str(reason)) not in progress.reported:
            progress.reported.add((size, str(reason)))
            self.alerts.refused(refusal)
        return False

    def _back_off(self, witness: Witness, detail: str) -> None:
        backoff = self._backoff[witness]
        backoff.delay = min(
            max(backoff.delay * 2, self.config.backoff_s), self.config.max_backoff_s
        )
        backoff.until = self.clock() + backoff.delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        UNAVAILABLE.labels(witness.name).inc()
        log.warning(
            "witness %s unavailable (%s); next try in %.0f s", witness.name, detail, backoff.delay
        )
