"""Erasure on request: a subject's keys destroyed, its clear copies deleted, the erasure
sealed in the tenant's chain, and a signed receipt (decision 0022).

Each step is recorded in the erasure's journal (`<vault>/erasures/<ref>-<n>.json`,
written atomically) before the next one starts, and each is safe to run again, so a
run cut short anywhere (kill -9 included) is finished by running the command again:

    checked    the subject has a live key and no stored entry of it is under legal hold;
               its stored entries are counted; the erasure event's id is fixed
    destroyed  its data key is destroyed: from here on the subject is erased, its sealed
               fields are noise, whatever happens next
    cleared    its decrypted copies are deleted from ClickHouse (a synchronous mutation)
    sent       the erasure event is produced (the same event id on every attempt: the
               worker drops a second copy)
    receipted  a signed checkpoint covers the sealed erasure event; the receipt is signed
               and written next to the journal

Before `destroyed` the subject is as it was (a legal hold found, or a crash: nothing
changed). The journal never holds the subject's name, only its digest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from auditstream.core.ids import uuid7_from
from auditstream.core.keys import NoteSigner
from auditstream.core.receipts import Erasure, erasure_entry, make_receipt
from auditstream.core.retention import Policy
from auditstream.errors import AuditStreamError
from auditstream.privacy.protect import SubjectProtection
from auditstream.privacy.vault import SubjectVault, write_atomically
from auditstream.proto.v1.log_entry_pb2 import LogEntry
from auditstream.runtime import failpoints

STEPS: Final = ("checked", "destroyed", "cleared", "sent", "receipted")
MAX_REASON: Final = 512
MAX_REQUESTER: Final = 128
_JOURNAL = re.compile(r"(?P<ref>[0-9a-f]{32})-(?P<n>\d+)\.json")


class ErasureError(AuditStreamError):
    """An erasure that cannot be done as asked."""


class UnknownSubjectError(ErasureError):
    """No live key of the subject: never seen by a protecting worker, or erased."""


class LegalHoldError(ErasureError):
    """Entries of the subject are under legal hold."""


class ReceiptPendingError(ErasureError):
    """The subject is erased, but its erasure event is not sealed and checkpointed yet."""


class ErasureStore(Protocol):
    """What erasure reads and changes in the query store."""

    def affected(self, tenant_id: str, subject_digest: str) -> tuple[int, list[str]]:
        """Entries of the subject stored, and the retention classes of those on hold."""

    def clear(self, tenant_id: str, subject_digest: str) -> int:
        """Delete the subject's decrypted copies (done when it returns); how many."""

    def proof(self, event_id: str, tenant_id: str) -> dict[str, Any] | None:
        """The inclusion proof (body included) of a stored, checkpointed event; None
        while it is not there yet."""


@dataclass(frozen=True)
class Request:
    tenant_id: str
    subject: str
    reason: str
    requested_by: str

    def __post_init__(self) -> None:
        for name, value, limit in (
            ("tenant", self.tenant_id, 128),
            ("subject", self.subject, 256),
            ("reason", self.reason, MAX_REASON),
            ("requested-by", self.requested_by, MAX_REQUESTER),
        ):
            if not value.strip():
                raise ErasureError(f"--{name} must not be empty")
            if len(value) > limit or not value.isprintable():
                raise ErasureError(f"--{name} must be at most {limit} printable characters")

    def __repr__(self) -> str:  # the subject is personal data: not in logs or tracebacks
        return f"Request(tenant_id={self.tenant_id!r}, subject=<hidden>)"


@dataclass(frozen=True)
class Outcome:
    erasure_id: str
    subject_digest: str
    state: str
    entries: int
    receipt: Path | None
    again: bool  # the subject was erased already: nothing new was done


class Eraser:
    """Runs erasures against a vault, a query store and the pipeline (`send` produces
    one entry on a chain and returns once Kafka acknowledged it, False if it could not)."""

    def __init__(
        self,
        vault: SubjectVault,
        protection: SubjectProtection,
        store: ErasureStore,
        send: Callable[[LogEntry, str], bool],
        signers: list[NoteSigner],
        policy: Policy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._vault = vault
        self._protection = protection
        self._store = store
        self._send = send
        self._signers = signers
        self._policy = policy
        self._clock = clock
        self._dir = vault.folder / "erasures"

    def erase(self, request: Request, *, chain_id: str = "", wait_s: float = 120.0) -> Outcome:
        ref = self._protection.subject_ref(request.tenant_id, request.subject)
        latest = self._latest(ref)
        if latest is not None:
            path, journal = latest
            if journal["state"] != "receipted":  # an erasure cut short: finish it
                return self._finish(path, journal, wait_s)
            if not self._vault.exists(ref):
                return self._outcome(journal, again=True)
        # New, or the subject has a key again (seen after an earlier erasure).
        previous = latest[0] if latest else None
        path, journal = self._check(request, ref, chain_id or request.tenant_id, previous)
        return self._finish(path, journal, wait_s)

    # -- steps -----------------------------------------------------------------------
    def _check(
        self, request: Request, ref: str, chain_id: str, previous: Path | None
    ) -> tuple[Path, dict[str, Any]]:
        if not self._vault.exists(ref):
            raise UnknownSubjectError(
                f"tenant {request.tenant_id!r} has no live key for this subject (digest "
                f"{ref}): no protected event of it was sealed, or it is erased already"
            )
        entries, held = self._store.affected(request.tenant_id, ref)
        if held:
            raise LegalHoldError(
                f"refused: entries of subject {ref} are under legal hold ({self._holds(held)}); "
                "lift the hold in the retention policy first"
            )
        number = 1 + (int(_JOURNAL.fullmatch(previous.name)["n"]) if previous else 0)  # type: ignore[index]
        now = self._clock()
        journal = {
            "erasure_id": uuid7_from(int(now * 1e9), secrets.token_bytes(10)),
            "tenant_id": request.tenant_id,
            "subject_digest": ref,
            "chain_id": chain_id,
            "reason": request.reason,
            "requested_by": request.requested_by,
            "event_id": uuid7_from(int(now * 1e9), secrets.token_bytes(10)),
            "entries": entries,
            "key_ids": [],
            "erased_at": now,
            "state": "checked",
        }
        path = self._dir / f"{ref}-{number}.json"
        if not write_atomically(path, journal, replace=False):
            raise ErasureError(
                f"another erasure of subject {ref} started at the same time; run this one "
                "again when it has finished"
            )
        failpoints.hit("erase.after_checked")
        return path, journal

    def _finish(self, path: Path, journal: dict[str, Any], wait_s: float) -> Outcome:
        ref, tenant = journal["subject_digest"], journal["tenant_id"]
        if journal["state"] == "checked":
            journal["key_ids"] = self._vault.destroy(ref)
            self._advance(path, journal, "destroyed")
        if journal["state"] == "destroyed":
            self._store.clear(tenant, ref)
            self._advance(path, journal, "cleared")
        if journal["state"] == "cleared":
            if not self._send(self._event(journal), journal["chain_id"]):
                raise ReceiptPendingError(
                    f"subject {ref} is erased; its erasure event could not be sent to Kafka "
                    "yet: run the same command again"
                )
            self._advance(path, journal, "sent")
        if journal["state"] == "sent":
            proof = self._await_proof(journal, wait_s)
            # Once more: a sink that opened the subject's fields with a key it had cached
            # for up to a second before the destroy may have stored a copy since.
            self._store.clear(tenant, ref)
            receipt = make_receipt(self._erasure(journal), _utc(journal), proof, self._signers)
            target = path.with_name(f"{journal['erasure_id']}.receipt.json")
            write_atomically(target, receipt)
            journal["receipt"] = str(target)
            self._advance(path, journal, "receipted")
        return self._outcome(journal, again=False)

    def _await_proof(self, journal: Mapping[str, Any], wait_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        while True:
            proof = self._store.proof(journal["event_id"], journal["tenant_id"])
            if proof is not None:
                return proof
            if time.monotonic() >= deadline:
                raise ReceiptPendingError(
                    f"subject {journal['subject_digest']} is erased and its erasure event "
                    f"{journal['event_id']} sent; the receipt waits for the event to be sealed, "
                    "stored and covered by a checkpoint: run the same command again later"
                )
            time.sleep(0.5)

    def _advance(self, path: Path, journal: dict[str, Any], state: str) -> None:
        journal["state"] = state
        write_atomically(path, journal)
        failpoints.hit(f"erase.after_{state}")

    # -- helpers ---------------------------------------------------------------------
    def _latest(self, ref: str) -> tuple[Path, dict[str, Any]] | None:
        found = sorted(
            (int(m["n"]), p)
            for p in self._dir.glob(f"{ref}-*.json")
            if (m := _JOURNAL.fullmatch(p.name))
        )
        if not found:
            return None
        path = found[-1][1]
        try:
            journal = json.loads(path.read_text())
            if journal.get("state") not in STEPS:
                raise ValueError
        except (ValueError, OSError) as exc:
            raise ErasureError(f"erasure journal {path} is damaged: {exc}") from None
        return path, journal

    def _holds(self, classes: list[str]) -> str:
        rules = [
            r.name
            for r in (self._policy.rules if self._policy else ())
            if r.legal_hold and r.retention_class in classes
        ]
        named = f"rule {', '.join(repr(r) for r in rules)}; " if rules else ""
        return f"{named}retention class {', '.join(sorted(classes))}"

    def _erasure(self, journal: Mapping[str, Any]) -> Erasure:
        return Erasure(
            journal["erasure_id"],
            journal["tenant_id"],
            journal["subject_digest"],
            tuple(journal["key_ids"]),
            int(journal["entries"]),
        )

    def _event(self, journal: Mapping[str, Any]) -> LogEntry:
        return erasure_entry(
            self._erasure(journal),
            event_id=journal["event_id"],
            reason=journal["reason"],
            requested_by=journal["requested_by"],
            when=_utc(journal),
        )

    def _outcome(self, journal: Mapping[str, Any], *, again: bool) -> Outcome:
        receipt = journal.get("receipt")
        return Outcome(
            journal["erasure_id"],
            journal["subject_digest"],
            journal["state"],
            int(journal["entries"]),
            Path(receipt) if receipt else None,
            again,
        )


def _utc(journal: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(journal["erased_at"]), dt.UTC)
