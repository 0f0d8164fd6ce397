"""Verification of stored chain entries: structured findings, never a bare boolean.

`ChainVerifier` takes one chain's entries in ascending seq order (as a store returns
them), recomputes every hash from the stored bytes, and reports each problem with the
chain id, the seq where it is and a kind:

    gap                 entries missing before this seq
    duplicate           the same entry stored twice
    fork                an entry that does not extend the one before it, or a second,
                        different entry claiming a seq
    reordered           an entry delivered after a higher seq
    hash_mismatch       entry_hash is not the hash of (prev_hash, seq, body_digest)
    body_mismatch       the stored body does not hash to body_digest, or does not parse
    column_mismatch     queryable columns (or the skeleton) differ from the decoded body
    bad_mac             the MAC does not verify under its key id
    unknown_key         the entry names a key id the keyring does not hold
    bad_checkpoint_signature  a checkpoint is not validly signed by a trusted key
    unwitnessed_checkpoint    a checkpoint lacks the cosignatures the witness policy
                        requires (a quorum of trusted witness keys), so it is not relied on
    checkpoint_mismatch the entries do not produce a signed checkpoint's root
    truncated           a signed checkpoint covers more entries than are stored
    content_removed     the body is gone but the skeleton is intact (not tampering)

Archives add three kinds about their objects, and two stores compared add one:

    segment_mismatch    an archive object's bytes differ from its manifest's SHA-256
    segment_missing     a segment's content is gone before its retention date
    manifest_mismatch   a manifest's claims (range, count, hashes, root, retention)
                        differ from the entries its objects hold
    source_mismatch     two stores hold different entries for the same seq

Memory stays bounded: O(log n) Merkle state, the pending checkpoints, and at most
`max_findings` findings per chain. The Merkle tree is only built as far as the last
checkpoint it is checked against.
"""

from __future__ import annotations

import enum
import hmac
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from google.protobuf.message import DecodeError

from auditstream.core.chain import ChainHead, Link
from auditstream.core.checkpoint import SignedCheckpoint, verify_checkpoint
from auditstream.core.cosignature import QuorumError, WitnessPolicy
from auditstream.core.hashes import (
    body_digest,
    body_digests,
    entry_hash,
    entry_hashes,
    leaf_hash,
    leaf_hashes,
)
from auditstream.core.keys import Keyring, NoteVerifier
from auditstream.core.merkle import CompactRange
from auditstream.errors import NoteError
from auditstream.proto.v1.sealed_pb2 import SealedBody

ColumnExtractor = Callable[[SealedBody], Mapping[str, Any]]
BATCH = 4096  # entries checked together by verify_chain
_LINK_FIELDS = operator.attrgetter(*Link._fields)
_POSITION = operator.attrgetter("chain_id", "seq")


class Kind(enum.StrEnum):
    GAP = "gap"
    DUPLICATE = "duplicate"
    FORK = "fork"
    REORDERED = "reordered"
    HASH_MISMATCH = "hash_mismatch"
    BODY_MISMATCH = "body_mismatch"
    COLUMN_MISMATCH = "column_mismatch"
    BAD_MAC = "bad_mac"
    UNKNOWN_KEY = "unknown_key"
    BAD_CHECKPOINT_SIGNATURE = "bad_checkpoint_signature"
    UNWITNESSED_CHECKPOINT = "unwitnessed_checkpoint"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    TRUNCATED = "truncated"
    CONTENT_REMOVED = "content_removed"
    SEGMENT_MISMATCH = "segment_mismatch"
    SEGMENT_MISSING = "segment_missing"
    MANIFEST_MISMATCH = "manifest_mismatch"
    SOURCE_MISMATCH = "source_mismatch"


@dataclass(frozen=True, slots=True)
class Finding:
    chain_id: str
    seq: int | None
    kind: Kind
    detail: str

    @property
    def is_tamper(self) -> bool:
        return self.kind is not Kind.CONTENT_REMOVED

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "seq": self.seq, "detail": self.detail}


@dataclass
class ChainReport:
    chain_id: str
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints_verified: int = 0
    # Size of the largest verified checkpoint: entries beyond it are chained and
    # (with keys) MACed, but no signed statement covers them yet.
    covered_size: int = 0
    macs_checked: bool = False
    content_removed: int = 0
    findings: list[Finding] = field(default_factory=list)
    findings_dropped: int = 0

    @property
    def ok(self) -> bool:
        return self.findings_dropped == 0 and not any(f.is_tamper for f in self.findings)

    def tamper_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.is_tamper]

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints_verified": self.checkpoints_verified,
            "covered_size": self.covered_size,
            "macs_checked": self.macs_checked,
            "content_removed": self.content_removed,
            "findings": [f.to_json() for f in self.findings if f.is_tamper],
            "findings_dropped": self.findings_dropped,
        }


class ChainVerifier:
    """Streaming verifier for one chain. Call `feed()` per entry, then `finish()`.

    keyring          HMAC keys; without it MACs are not checked (an auditor holding only
                     public keys still checks hashes, links and checkpoints).
    note_verifiers   trusted checkpoint public keys. Never take these from the store
                     being verified.
    witnesses        a witness policy: checkpoints without its quorum of cosignatures
                     are reported and not relied on (witness keys, too, come from the
                     auditor, never from the store).
    checkpoints      signed checkpoint notes for this chain, from any source.
    column_extractor maps a decoded body to the column values a store should hold;
                     with it, `feed(..., columns=...)` compares them.
    start            verify a range: the head the first fed entry must extend, and
                     optionally the Merkle state at that point (for checkpoints).
    """

    def __init__(
        self,
        chain_id: str,
        *,
        keyring: Keyring | None = None,
        note_verifiers: Sequence[NoteVerifier] = (),
        witnesses: WitnessPolicy | None = None,
        checkpoints: Iterable[bytes] = (),
        column_extractor: ColumnExtractor | None = None,
        check_bodies: bool = True,
        start: ChainHead | None = None,
        start_merkle: CompactRange | None = None,
        max_findings: int = 10_000,
    ) -> None:
        head = start if start is not None else ChainHead.genesis(chain_id)
        self.chain_id = chain_id
        self.report = ChainReport(chain_id, macs_checked=keyring is not None)
        self._keyring = keyring
        self._extract = column_extractor
        self._check_bodies = check_bodies or column_extractor is not None
        self._max_findings = max_findings
        self._expected = head.next_seq
        self._head = head.head_hash
        self._last: Link | None = None
        if start is None:
            self._merkle: CompactRange | None = CompactRange()
        else:
            self._merkle = start_merkle.copy() if start_merkle is not None else None
        self._pending: list[SignedCheckpoint] = []
        for signed in checkpoints:
            self._add_checkpoint(signed, note_verifiers, witnesses)
        self._pending.sort(key=lambda c: c.tree_size)
        if not self._pending:
            self._merkle = None  # no root to compare: the leaves would be hashed for nothing

    def flag(self, seq: int | None, kind: Kind, detail: str) -> None:
        """Record a finding that a store-level check made (e.g. about archive objects)."""
        self._find(seq, kind, detail)

    def _find(self, seq: int | None, kind: Kind, detail: str) -> None:
        report = self.report
        if kind is Kind.CONTENT_REMOVED:
            report.content_removed += 1
            return
        if len(report.findings) >= self._max_findings:
            report.findings_dropped += 1
            return
        report.findings.append(Finding(self.chain_id, seq, kind, detail))

    def _add_checkpoint(
        self,
        signed_note: bytes,
        verifiers: Sequence[NoteVerifier],
        witnesses: WitnessPolicy | None,
    ) -> None:
        try:
            checkpoint = verify_checkpoint(signed_note, verifiers, self.chain_id, witnesses)
        except QuorumError as exc:
            self._find(None, Kind.UNWITNESSED_CHECKPOINT, str(exc))
            return
        except NoteError as exc:
            self._find(None, Kind.BAD_CHECKPOINT_SIGNATURE, str(exc))
            return
        if self._merkle is not None and checkpoint.tree_size <= self._merkle.size:
            return  # before the verified range; cannot be checked from here
        self._pending.append(checkpoint)

    def feed(
        self,
        link: Link,
        columns: Mapping[str, Any] | None = None,
        *,
        removal_due: bool = True,
    ) -> None:
        """Check one stored entry. Entries must come in ascending stored-seq order.

        `removal_due=False` says the store still owes this entry's content (its
        retention date has not passed, or it is under legal hold): an empty body is
        then tampering, not expiry.
        """
        if not self._accept_position(link):
            return
        seq = link.seq
        body = link.body
        if not body and not removal_due:
            self._find(seq, Kind.BODY_MISMATCH, "body removed before its retention date")
        elif not body:
            self._find(seq, Kind.CONTENT_REMOVED, "body removed; skeleton intact")
        elif body_digest(body) != link.body_digest:
            self._find(seq, Kind.BODY_MISMATCH, "stored body does not hash to body_digest")
        elif self._check_bodies:
            self._check_body(link, body, columns)

        ehash = entry_hash(link.prev_hash, seq, link.body_digest)
        if ehash != link.entry_hash:
            self._find(seq, Kind.HASH_MISMATCH, "entry_hash is not the hash of its skeleton")
        if self._keyring is not None:
            self._check_mac(link, ehash, self._keyring)
        self._link(link, ehash)

    def feed_many(
        self,
        links: Sequence[Link],
        decoded: Sequence[SealedBody] | None = None,
    ) -> None:
        """Check many entries in order; same findings as `feed` on each, faster.

        A batch that is entirely well-formed is checked with bulk hashing; a batch
        with anything unusual in it goes entry by entry through `feed`. `decoded`, when
        the caller already parsed the bodies, saves parsing them again.
        """
        start = 0
        while start < len(links):
            end = len(links)
            merkle = self._merkle
            if merkle is not None and self._pending:
                # Stop at the next checkpoint so its root can be compared.
                end = min(end, start + max(1, self._pending[0].tree_size - merkle.size))
            chunk = links[start:end]
            if not self._fast_path(chunk, decoded[start:end] if decoded is not None else None):
                for link in chunk:
                    self.feed(link)
            start = end

    def _fast_path(self, links: Sequence[Link], decoded: Sequence[SealedBody] | None) -> bool:
        """Verify and apply `links` in bulk if nothing in them needs a finding.

        Each skeleton field is read once for the whole batch, and every check is one
        comparison of whole lists."""
        first = self._expected
        count = len(links)
        if not count:
            return False
        rows = links if isinstance(links[0], tuple) else list(map(_LINK_FIELDS, links))
        chain_ids, seqs, prevs, digests, stored_hashes, key_ids, macs, bodies = zip(
            *rows, strict=True
        )
        expected_seqs = range(first, first + count)
        if chain_ids.count(self.chain_id) != count or seqs != tuple(expected_seqs):
            return False
        if not all(bodies) or body_digests(bodies) != list(digests):
            return False
        if self._check_bodies:
            if decoded is None:
                try:
                    decoded = list(map(SealedBody.FromString, bodies))
                except DecodeError:
                    return False
            if list(map(_POSITION, decoded)) != list(zip(repeat(self.chain_id), expected_seqs)):
                return False
        hashes = entry_hashes(prevs, expected_seqs, digests)
        if (
            hashes != list(stored_hashes)
            or prevs[0] != self._head
            or prevs[1:] != tuple(hashes[:-1])
        ):
            return False
        if self._keyring is not None and not _macs_ok(key_ids, macs, hashes, self._keyring):
            return False
        report = self.report
        if report.first_seq is None:
            report.first_seq = first
        report.entries += count
        report.last_seq = first + count - 1
        self._last = links[-1]
        self._expected = first + count
        self._head = hashes[-1]
        if self._merkle is not None:
            self._merkle.extend(leaf_hashes(hashes))
            self._check_due_checkpoints(self._merkle)
        return True

    def _accept_position(self, link: Link) -> bool:
        """Whether `link` is the next entry of this chain; reports it when not."""
        seq = link.seq
        if link.chain_id != self.chain_id:
            self._find(seq, Kind.FORK, f"entry belongs to chain {link.chain_id!r}")
            return False
        last = self._last
        if last is not None and seq <= last.seq:
            if seq < last.seq:
                self._find(seq, Kind.REORDERED, f"seq {seq} arrived after seq {last.seq}")
            elif link.entry_hash == last.entry_hash and link.body_digest == last.body_digest:
                self._find(seq, Kind.DUPLICATE, "entry stored twice")
            else:
                self._find(seq, Kind.FORK, "two different entries claim this seq")
            return False
        report = self.report
        if report.first_seq is None:
            report.first_seq = seq
        report.entries += 1
        report.last_seq = seq
        self._last = link
        return True

    def _check_mac(self, link: Link, ehash: bytes, keyring: Keyring) -> None:
        key = keyring.get(link.key_id)
        if key is None:
            self._find(link.seq, Kind.UNKNOWN_KEY, f"key id {link.key_id!r} not in the keyring")
        elif not hmac.compare_digest(key.mac(ehash), link.mac):
            self._find(link.seq, Kind.BAD_MAC, f"MAC does not verify under key {link.key_id!r}")

    def _link(self, link: Link, ehash: bytes) -> None:
        """Check that `link` extends the head, advance, and test due checkpoints."""
        seq = link.seq
        if seq > self._expected:
            first, last = self._expected, seq - 1
            missing = f"{first}" if first == last else f"{first}..{last}"
            self._find(first, Kind.GAP, f"seq {missing} missing")
            self._merkle = None  # later checkpoints cannot be recomputed
        elif link.prev_hash != self._head:
            self._find(seq, Kind.FORK, f"prev_hash does not match entry {seq - 1}")
        self._expected = seq + 1
        self._head = ehash
        if self._merkle is not None:
            self._merkle.append(leaf_hash(ehash))
            self._check_due_checkpoints(self._merkle)

    def _check_due_checkpoints(self, merkle: CompactRange) -> None:
        """Compare the root with the checkpoint for this size; drop passed ones (a
        checkpoint whose size was skipped by a gap cannot be recomputed)."""
        pending = self._pending
        while pending and pending[0].tree_size <= merkle.size:
            checkpoint = pending.pop(0)
            if checkpoint.tree_size == merkle.size:
                self._check_root(checkpoint, merkle.root())
        if not pending:
            self._merkle = None  # past the last checkpoint, the tree is not needed

    def _check_body(self, link: Link, body: bytes, columns: Mapping[str, Any] | None) -> None:
        decoded = SealedBody()
        try:
            decoded.ParseFromString(body)
        except DecodeError:
            self._find(link.seq, Kind.BODY_MISMATCH, "stored body does not parse")
            return
        if decoded.chain_id != link.chain_id or decoded.seq != link.seq:
            self._find(
                link.seq,
                Kind.COLUMN_MISMATCH,
                f"body says chain {decoded.chain_id!r} seq {decoded.seq}",
            )
        if columns is not None and self._extract is not None:
            expected = self._extract(decoded)
            differing = sorted(
                name
                for name, value in expected.items()
                if not same_value(columns.get(name, value), value)
            )
            if differing:
                detail = "columns differ from body: " + ", ".join(differing)
                self._find(link.seq, Kind.COLUMN_MISMATCH, detail)

    def _check_root(self, checkpoint: SignedCheckpoint, root: bytes) -> None:
        if hmac.compare_digest(root, checkpoint.root_hash):
            self.report.checkpoints_verified += 1
            self.report.covered_size = max(self.report.covered_size, checkpoint.tree_size)
        else:
            self._find(
                checkpoint.tree_size - 1,
                Kind.CHECKPOINT_MISMATCH,
                f"entries 0..{checkpoint.tree_size - 1} do not produce the root signed "
                f"for tree size {checkpoint.tree_size}",
            )

    def finish(self) -> ChainReport:
        """Report, including checkpoints that cover more entries than were stored."""
        for checkpoint in self._pending:
            if checkpoint.tree_size > self._expected:
                self._find(
                    self._expected,
                    Kind.TRUNCATED,
                    f"signed checkpoint covers {checkpoint.tree_size} entries; "
                    f"the store ends at seq {self._expected - 1}",
                )
        self._pending = []
        return self.report


def _macs_ok(
    key_ids: Sequence[str], macs: Sequence[bytes], hashes: list[bytes], keyring: Keyring
) -> bool:
    keys = {key_id: keyring.get(key_id) for key_id in set(key_ids)}
    if any(key is None for key in keys.values()):
        return False
    if len(keys) == 1:
        mac = next(iter(keys.values())).mac  # type: ignore[union-attr]
        computed = list(map(mac, hashes))
    else:
        computed = [
            keys[key_id].mac(ehash)  # type: ignore[union-attr]
            for key_id, ehash in zip(key_ids, hashes, strict=True)
        ]
    # Plain comparison: a verifier answers no attacker's queries, so timing is moot.
    return computed == list(macs)


def same_value(stored: Any, expected: Any) -> bool:
    """Whether a stored column value equals the recomputed one (NaN equals NaN)."""
    if stored == expected:
        return True
    return (
        isinstance(stored, float)
        and isinstance(expected, float)
        and math.isnan(stored)
        and math.isnan(expected)
    )


def verify_chain(
    links: Iterable[Link],
    chain_id: str,
    **options: Any,
) -> ChainReport:
    """Verify one chain's entries given in ascending seq order. Options as ChainVerifier."""
    verifier = ChainVerifier(chain_id, **options)
    batch: list[Link] = []
    for link in links:
        batch.append(link)
        if len(batch) >= BATCH:
            verifier.feed_many(batch)
            batch = []
    verifier.feed_many(batch)
    return verifier.finish()
