"""Erasure events and signed erasure receipts (pure; decision 0022).

An erasure is sealed in the tenant's chain as an EVENT_SUBJECT_ERASED entry, in clear
(it names the subject only by its digest), with this JSON payload:

    {"erasure_id", "subject_digest", "key_ids": [...], "entries": N}

`key_ids` are the subject's data keys destroyed: every entry sealed under one of them
is erased, which a verifier counts from the chain alone. The receipt shows that the
erasure happened and is on the record; anyone with the checkpoint public key checks it
offline:

    {"format": "auditstream.erasure-receipt.v1",
     "statement": signed note (C2SP), text:
         auditstream.v1/erasure-receipt
         erasure <id>
         tenant <tenant>
         subject <digest>
         keys <key id>,<key id>...
         entries <N in the store when erased>
         erased <RFC 3339 UTC time>
         event <event id> <chain id> <seq>
         checkpoint <tree size> <base64 root>
     "proof": inclusion proof bundle of the erasure event, body included}
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import DecodeError

from auditstream.core import note
from auditstream.core.checkpoint import parse_checkpoint_text
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.core.proofs import Checked, check_inclusion
from auditstream.errors import FormatError, NoteError
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

RECEIPT: Final = "auditstream.erasure-receipt.v1"
STATEMENT_HEADER: Final = "auditstream.v1/erasure-receipt"
ERASED: Final = pb.EVENT_SUBJECT_ERASED
COMPONENT: Final = "auditstream-erase"
_STATEMENT_KEYS: Final = (
    "erasure",
    "tenant",
    "subject",
    "keys",
    "entries",
    "erased",
    "event",
    "checkpoint",
)


@dataclass(frozen=True)
class Erasure:
    """What an erasure event records."""

    erasure_id: str
    tenant_id: str
    subject_digest: str
    key_ids: tuple[str, ...]
    entries: int


def erasure_entry(
    erasure: Erasure, *, event_id: str, reason: str, requested_by: str, when: dt.datetime
) -> pb.LogEntry:
    """The entry that records `erasure` in the tenant's chain."""
    entry = pb.LogEntry(
        event_type=ERASED,
        outcome=pb.OUTCOME_SUCCESS,
        severity=pb.SEVERITY_NOTICE,
        tenant_id=erasure.tenant_id,
        event_id=event_id,
        actor_id=requested_by,
        actor_type="operator",
        component=COMPONENT,
        action="subject.erase",
        resource=f"subject:{erasure.subject_digest}",
        message=reason,
        payload=json.dumps(
            {
                "erasure_id": erasure.erasure_id,
                "subject_digest": erasure.subject_digest,
                "key_ids": list(erasure.key_ids),
                "entries": erasure.entries,
            },
            sort_keys=True,
        ).encode(),
    )
    entry.event_time.FromDatetime(when.astimezone(dt.UTC).replace(tzinfo=None))
    return entry


def erasure_of(entry: pb.LogEntry) -> Erasure | None:
    """The erasure an EVENT_SUBJECT_ERASED entry records; None for any other entry or
    for one whose payload is not an erasure's."""
    if entry.event_type != ERASED:
        return None
    try:
        doc = json.loads(entry.payload)
        keys = doc["key_ids"]
        found = Erasure(
            str(doc["erasure_id"]),
            entry.tenant_id,
            str(doc["subject_digest"]),
            tuple(str(k) for k in keys),
            int(doc["entries"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
    return found if isinstance(keys, list) else None


def statement_text(
    erasure: Erasure,
    *,
    erased_at: dt.datetime,
    event_id: str,
    chain_id: str,
    seq: int,
    tree_size: int,
    root_hash: bytes,
) -> str:
    values = _stated(erasure, f"{event_id} {chain_id} {seq}", tree_size, root_hash)
    values["erased"] = erased_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {key: values[key] for key in _STATEMENT_KEYS}
    for key, value in values.items():
        if not value or "\n" in value or any(ord(c) < 0x20 for c in value):
            raise FormatError(f"erasure receipt: {key} {value[:40]!r} cannot be written")
    return STATEMENT_HEADER + "\n" + "".join(f"{k} {v}\n" for k, v in values.items())


def _stated(erasure: Erasure, event: str, tree_size: int, root_hash: bytes) -> dict[str, str]:
    """The statement's lines (all but `erased`) for an erasure and where it is sealed."""
    return {
        "erasure": erasure.erasure_id,
        "tenant": erasure.tenant_id,
        "subject": erasure.subject_digest,
        "keys": ",".join(erasure.key_ids) or "-",
        "entries": str(erasure.entries),
        "event": event,
        "checkpoint": f"{tree_size} {base64.b64encode(root_hash).decode()}",
    }


def make_receipt(
    erasure: Erasure,
    erased_at: dt.datetime,
    proof: dict[str, Any],
    signers: Sequence[NoteSigner],
) -> dict[str, Any]:
    """The receipt of `erasure`, from the inclusion proof (with body) of its event."""
    _, size, root = parse_checkpoint_text(note.parse(str(proof["checkpoint"]).encode())[0])
    text = statement_text(
        erasure,
        erased_at=erased_at,
        event_id=str(proof["event_id"]),
        chain_id=str(proof["chain_id"]),
        seq=int(proof["entry"]["seq"]),
        tree_size=size,
        root_hash=root,
    )
    return {"format": RECEIPT, "statement": note.sign(text, signers).decode(), "proof": proof}


def parse_statement(text: str) -> dict[str, str]:
    lines = text.rstrip("\n").split("\n")
    if lines[0] != STATEMENT_HEADER:
        raise FormatError("not an erasure receipt statement")
    values = dict(line.partition(" ")[::2] for line in lines[1:])
    if tuple(values) != _STATEMENT_KEYS:
        raise FormatError(f"erasure receipt statement has lines {', '.join(values)}")
    return values


def check_receipt(doc: dict[str, Any], verifiers: Sequence[NoteVerifier]) -> Checked:
    """Check an erasure receipt offline: the statement is signed by a trusted key, the
    proof shows the erasure event sealed and covered by a signed checkpoint, and the
    statement, the event and the checkpoint agree. Malformed receipts raise FormatError."""
    if doc.get("format") != RECEIPT:
        raise FormatError(f"not an erasure receipt (format {doc.get('format')!r})")
    proof = doc.get("proof")
    if not isinstance(proof, dict) or "body" not in proof:
        raise FormatError("erasure receipt has no proof with the event's body")
    try:
        text, signers = note.open_note(str(doc["statement"]).encode(), verifiers)
    except KeyError as exc:
        raise FormatError("erasure receipt has no statement") from exc
    except NoteError as exc:
        return Checked(False, f"statement does not verify: {exc}")
    stated = parse_statement(text)
    included = check_inclusion(proof, verifiers)
    if not included.ok:
        return Checked(False, f"erasure event proof: {included.message}")
    try:
        body = sealed.SealedBody.FromString(base64.b64decode(str(proof["body"])))
    except (DecodeError, ValueError) as exc:
        raise FormatError("erasure receipt: the event body does not parse") from exc
    recorded = erasure_of(body.entry)
    if recorded is None:
        return Checked(False, "the proven event is not an erasure event")
    _, size, root = parse_checkpoint_text(note.parse(str(proof["checkpoint"]).encode())[0])
    expected = _stated(recorded, f"{body.entry.event_id} {body.chain_id} {body.seq}", size, root)
    for key, value in expected.items():
        if stated[key] != value:
            return Checked(
                False, f"statement says {key} {stated[key]!r}, the sealed event {value!r}"
            )
    return Checked(
        True,
        f"subject {stated['subject']} of tenant {stated['tenant']} erased at {stated['erased']} "
        f"({stated['entries']} entries; erasure {stated['erasure']}), sealed as entry "
        f"{body.seq} of chain {body.chain_id} under the checkpoint of tree size {size}; "
        f"signed by {', '.join(v.name for v in signers)}",
    )


@dataclass(frozen=True)
class ErasureReport:
    """An erasure found in a chain, and the entries sealed under its keys among those
    verified (its own count, `erasure.entries`, is what the store held when erased)."""

    erasure: Erasure
    chain_id: str
    seq: int
    entries: int

    def to_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure.erasure_id,
            "tenant_id": self.erasure.tenant_id,
            "subject_digest": self.erasure.subject_digest,
            "chain_id": self.chain_id,
            "seq": self.seq,
            "entries": self.entries,
        }


class ErasureAudit:
    """Counts, from sealed bodies alone, the entries erased on request: those sealed
    under a subject key that an erasure event of the chains names as destroyed."""

    def __init__(self) -> None:
        self._keysets: Counter[tuple[str, ...]] = Counter()
        self._found: list[tuple[Erasure, str, int]] = []

    def add(self, body: sealed.SealedBody) -> None:
        if body.HasField("protected"):
            self._keysets[tuple(sorted(s.key_id for s in body.protected.subjects))] += 1
        elif body.entry.event_type == ERASED:
            erasure = erasure_of(body.entry)
            if erasure is not None:
                self._found.append((erasure, body.chain_id, body.seq))

    def finish(self) -> tuple[list[ErasureReport], int]:
        """The erasures, and how many distinct entries they erased together."""
        reports = []
        every: set[str] = set()
        for erasure, chain_id, seq in self._found:
            keys = set(erasure.key_ids)
            every |= keys
            count = sum(n for keyset, n in self._keysets.items() if keys.intersection(keyset))
            reports.append(ErasureReport(erasure, chain_id, seq, count))
        total = sum(n for keyset, n in self._keysets.items() if every.intersection(keyset))
        return reports, total
