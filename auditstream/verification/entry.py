"""Verifying one stored entry, for the console's badge and the proof download.

An entry is **verified** when, from the stored bytes alone and the caller's public
checkpoint keys:
    body      the stored body hashes to its body_digest, parses, names this chain and
              seq, and the queryable columns (content columns included) equal what it
              decodes to
    link      entry_hash is the hash of (prev_hash, seq, body_digest); prev_hash is the
              stored entry before it, and the stored entry after it extends this one
    inclusion an inclusion proof leads from the recomputed entry hash to the root of a
              checkpoint signed by a trusted key (the same check `verify-proof` runs
              on the bundle offered for download)
Each problem is a `Finding` of the kinds `auditstream.core.verify` defines. MACs are not
checked here: the console holds no HMAC key.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from auditstream.clickhouse import schema
from auditstream.core.body import decode_body
from auditstream.core.checkpoint import SignedCheckpoint, verify_checkpoint
from auditstream.core.hashes import GENESIS_HASH, body_digest, entry_hash
from auditstream.core.keys import NoteVerifier
from auditstream.core.proofs import check_inclusion
from auditstream.core.verify import Finding, Kind
from auditstream.errors import NoteError, ProofError, QueryError
from auditstream.proto.v1.sealed_pb2 import SealedBody
from auditstream.query.store import STORED, AuditStore
from auditstream.verification.proofs import inclusion_bundle
from auditstream.verification.tiles import TileCache, tile_ranges


class Status(enum.StrEnum):
    VERIFIED = "verified"
    NOT_VERIFIED = "not verified"
    NOT_YET_COVERED = "not yet covered"  # intact so far; no signed checkpoint covers it yet
    NO_KEYS = "no trusted key"  # the console was given no checkpoint public key


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked
    detail: str


@dataclass
class EntryVerdict:
    chain_id: str
    seq: int
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checkpoint: SignedCheckpoint | None = None
    checkpoint_time: dt.datetime | None = None
    bundle: dict[str, Any] | None = None  # a valid inclusion proof, when there is one
    body: SealedBody | None = None  # decoded, when the stored body hashes to body_digest
    content_removed: bool = False
    status: Status = Status.NOT_VERIFIED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "verified": self.status is Status.VERIFIED,
            "chain_id": self.chain_id,
            "seq": self.seq,
            "content_removed": self.content_removed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "findings": [f.to_json() for f in self.findings],
            "checkpoint": None
            if self.checkpoint is None
            else {
                "tree_size": self.checkpoint.tree_size,
                "root_hash": self.checkpoint.root_hash.hex(),
                "created_time": self.checkpoint_time.isoformat() if self.checkpoint_time else None,
            },
        }


class EntryChecker:
    """Checks stored entries against trusted checkpoint keys (never the store's)."""

    def __init__(self, verifiers: Sequence[NoteVerifier], tiles: TileCache | None = None) -> None:
        self.verifiers = list(verifiers)
        self.tiles = tiles or TileCache()

    def check(self, store: AuditStore, row: Mapping[str, Any], now: dt.datetime) -> EntryVerdict:
        """Verify `row`, one of `store.sealed_entries`, as of `now`."""
        chain_id, seq = str(row["chain_id"]), int(row["seq"])
        verdict = EntryVerdict(chain_id, seq)
        found = verdict.findings

        def finding(kind: Kind, detail: str) -> None:
            found.append(Finding(chain_id, seq, kind, detail))

        body = _check_body(row, now, verdict, finding)
        recomputed = entry_hash(bytes(row["prev_hash"]), seq, bytes(row["body_digest"]))
        covering = self._covering(store, chain_id, seq, finding)
        ranges = [(max(0, seq - 1), seq + 1)]
        if covering is not None:
            ranges += tile_ranges(seq, covering[0].tree_size)
        stored = store.skeletons(chain_id, ranges)  # one query: neighbours and tiles
        before = len(found)
        if recomputed != bytes(row["entry_hash"]):
            finding(Kind.HASH_MISMATCH, "entry_hash is not the hash of its skeleton")
        _check_links(stored, row, recomputed, finding)
        verdict.checks.append(
            Check(
                "chain link",
                len(found) == before,
                "; ".join(f.detail for f in found[before:])
                or "entry hash recomputed; it extends the entry before and the next one extends it",
            )
        )
        if not self.verifiers:
            verdict.checks.append(Check("checkpoint", None, "no trusted checkpoint key given"))
        elif covering is None:
            verdict.checks.append(
                Check("checkpoint", None, f"no signed checkpoint covers seq {seq} yet")
            )
        else:
            known = {int(r["seq"]): bytes(r["entry_hash"]) for r in stored}
            self._check_inclusion(store, row, body, covering, known, verdict, finding)
        if any(f.is_tamper for f in found):
            verdict.status = Status.NOT_VERIFIED
        elif not self.verifiers:
            verdict.status = Status.NO_KEYS
        elif verdict.checkpoint is None:
            verdict.status = Status.NOT_YET_COVERED
        else:
            verdict.status = Status.VERIFIED
        return verdict

    def _covering(
        self, store: AuditStore, chain_id: str, seq: int, finding: Any
    ) -> tuple[SignedCheckpoint, dt.datetime | None] | None:
        """The newest stored checkpoint covering `seq` that a trusted key signed."""
        if not self.verifiers:
            return None
        # Newest first, and only until one verifies: older ones prove no more.
        for stored in reversed(store.checkpoints(chain_id, covering=seq)):
            try:
                signed = verify_checkpoint(str(stored["note"]).encode(), self.verifiers, chain_id)
            except NoteError as exc:
                finding(
                    Kind.BAD_CHECKPOINT_SIGNATURE, f"a stored checkpoint does not verify: {exc}"
                )
                continue
            return signed, stored["created_time"]
        return None

    def _check_inclusion(
        self,
        store: AuditStore,
        row: Mapping[str, Any],
        body: SealedBody | None,
        covering: tuple[SignedCheckpoint, dt.datetime | None],
        known: Mapping[int, bytes],
        verdict: EntryVerdict,
        finding: Any,
    ) -> None:
        chain_id, seq = verdict.chain_id, verdict.seq
        checkpoint, created = covering
        detail = ""
        for attempt in range(2):  # a second time from freshly read tiles
            if attempt:
                self.tiles.forget(chain_id)
                known = {}
            try:
                path = self.tiles.proof(store, chain_id, seq, checkpoint.tree_size, known)
            except (QueryError, ProofError) as exc:
                detail = f"no proof can be built: {exc}"
                continue
            bundle = inclusion_bundle(
                row, str(row["event_id"]), checkpoint.tree_size, path, checkpoint.note,
                with_body=body is not None,
            )  # fmt: skip
            checked = check_inclusion(bundle, self.verifiers)
            if checked.ok:
                verdict.bundle = bundle
                verdict.checkpoint, verdict.checkpoint_time = checkpoint, created
                verdict.checks.append(Check("checkpoint", True, checked.message))
                return
            detail = checked.message
        finding(
            Kind.CHECKPOINT_MISMATCH,
            f"not in the tree signed for tree size {checkpoint.tree_size}: {detail}",
        )
        verdict.checks.append(Check("checkpoint", False, detail))


def _check_body(
    row: Mapping[str, Any], now: dt.datetime, verdict: EntryVerdict, finding: Any
) -> SealedBody | None:
    """The body checks; returns the decoded body when it hashes to its digest and names
    this entry (its columns may still differ: those are findings)."""
    body_bytes = bytes(row["body"])
    seq = verdict.seq
    if not body_bytes:
        due = not row[f"{STORED}legal_hold"] and row[f"{STORED}retain_until"] <= now.timestamp()
        if due:
            verdict.content_removed = True
            verdict.checks.append(Check("body", None, "content removed by retention"))
        else:
            finding(Kind.BODY_MISMATCH, "body removed before its retention date")
            verdict.checks.append(Check("body", False, "body removed before its retention date"))
        return None
    problem = ""
    body: SealedBody | None = None
    if body_digest(body_bytes) != bytes(row["body_digest"]):
        problem = "stored body does not hash to body_digest"
        finding(Kind.BODY_MISMATCH, problem)
    else:
        try:
            body = decode_body(body_bytes)
        except DecodeError:
            problem = "stored body does not parse"
            finding(Kind.BODY_MISMATCH, problem)
    if body is not None:
        if (body.chain_id, body.seq) != (verdict.chain_id, seq):
            problem = f"body says chain {body.chain_id!r} seq {body.seq}"
            finding(Kind.COLUMN_MISMATCH, problem)
        differing = _differing_columns(row, body)
        if differing:
            problem = "columns differ from body: " + ", ".join(differing)
            finding(Kind.COLUMN_MISMATCH, problem)
    verdict.checks.append(
        Check("body", not problem, problem or "body digest and every column match the body")
    )
    if body is not None and (body.chain_id, body.seq) == (verdict.chain_id, seq):
        verdict.body = body
    return verdict.body


def _differing_columns(row: Mapping[str, Any], body: SealedBody) -> list[str]:
    expected = {name: values[0] for name, values in schema.compared_columns([body]).items()}
    differing = [name for name, value in expected.items() if row[f"{STORED}{name}"] != value]
    if row["message"] != body.entry.message:
        differing.append("message")
    if row["payload"] != body.entry.payload.decode("utf-8", "replace"):
        differing.append("payload")
    return sorted(differing)


def _check_links(
    around: Sequence[Mapping[str, Any]], row: Mapping[str, Any], recomputed: bytes, finding: Any
) -> None:
    seq = int(row["seq"])
    prev_hash = bytes(row["prev_hash"])
    same = [r for r in around if r["seq"] == seq]
    if len(same) > 1:
        identical = all(bytes(r["entry_hash"]) == bytes(row["entry_hash"]) for r in same)
        kind = Kind.DUPLICATE if identical else Kind.FORK
        finding(kind, f"{len(same)} stored entries claim seq {seq}")
    if seq == 0:
        if prev_hash != GENESIS_HASH:
            finding(Kind.FORK, "the first entry does not start from the genesis hash")
    else:
        before = [bytes(r["entry_hash"]) for r in around if r["seq"] == seq - 1]
        if not before:
            finding(Kind.GAP, f"seq {seq - 1} missing")
        elif prev_hash not in before:
            finding(Kind.FORK, f"prev_hash does not match entry {seq - 1}")
    after = [bytes(r["prev_hash"]) for r in around if r["seq"] == seq + 1]
    if after and recomputed not in after:
        finding(Kind.FORK, f"entry {seq + 1} does not extend this one")
