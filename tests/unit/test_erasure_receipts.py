"""Erasure events, signed erasure receipts and the erasure count of verification
(decision 0022): built from a chain the production engine seals, checked offline."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditstream.core import hashes, merkle, note
from auditstream.core.body import decode_body
from auditstream.core.chain import Link
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.keys import NoteSigner
from auditstream.core.receipts import (
    Erasure,
    ErasureAudit,
    check_receipt,
    erasure_entry,
    erasure_of,
    make_receipt,
)
from auditstream.errors import FormatError
from auditstream.privacy.erase import ErasureError, Request
from auditstream.privacy.protect import SubjectProtection
from auditstream.privacy.vault import LocalKek, SubjectVault
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.verification.proofs import inclusion_bundle
from tests.support.chains import SIGNER
from tests.support.engine_kit import login, record, sealer
from tests.unit.test_privacy import KEK

WHEN = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
EVENT_ID = "0193a5c0-0000-7000-8000-000000000001"


def _chain(tmp_path: Path) -> tuple[list[Link], Erasure, SubjectProtection]:
    """Ten logins, alice's and bob's alternating, sealed with protection, then alice's
    keys destroyed and her erasure sealed as entry 10."""
    guard = SubjectProtection(SubjectVault(tmp_path, LocalKek(KEK)))
    engine = sealer(protection=guard)
    people = ("alice@example.com", "bob@example.com")
    entries = [login(n, actor_id=people[n % 2]) for n in range(10)]
    out = engine.process([record(n, e) for n, e in enumerate(entries)], 10**18)
    ref = guard.subject_ref("acme", people[0])
    erasure = Erasure("er-1", "acme", ref, tuple(guard.vault.destroy(ref)), 5)
    event = erasure_entry(
        erasure, event_id=EVENT_ID, reason="Art. 17 request #88", requested_by="dpo", when=WHEN
    )
    when_ms = int(WHEN.timestamp() * 1000)
    out2 = engine.process([record(10, event, timestamp_ms=when_ms)], 10**18 + 1)
    links = [Link.decode(data) for _, data in out.sealed + out2.sealed]
    return links, erasure, guard


def _receipt(links: list[Link], erasure: Erasure, signer: NoteSigner = SIGNER) -> dict[str, Any]:
    leaves = [hashes.leaf_hash(link.entry_hash) for link in links]
    checkpoint = sign_checkpoint("acme", len(leaves), merkle.root(leaves), SIGNER).note
    last = links[-1]
    stored = {
        "chain_id": "acme",
        "seq": last.seq,
        "prev_hash": last.prev_hash,
        "body_digest": last.body_digest,
        "entry_hash": last.entry_hash,
        "body": last.body,
    }
    proof = inclusion_bundle(
        stored,
        EVENT_ID,
        len(leaves),
        merkle.inclusion_proof(leaves, last.seq),
        checkpoint,
        with_body=True,
    )
    return make_receipt(erasure, WHEN, proof, [signer])


def test_the_erasure_event_is_sealed_in_clear_and_names_the_subject_by_digest_only(
    tmp_path: Path,
) -> None:
    links, erasure, _ = _chain(tmp_path)
    body = decode_body(links[-1].body)
    assert not body.HasField("protected")  # readable without any key
    assert body.entry.event_type == pb.EVENT_SUBJECT_ERASED
    assert body.entry.actor_id == "dpo" and body.entry.message == "Art. 17 request #88"
    assert b"alice" not in links[-1].body
    assert erasure_of(body.entry) == erasure
    assert erasure_of(decode_body(links[0].body).entry) is None


def test_a_receipt_verifies_offline_with_the_public_key_only(tmp_path: Path) -> None:
    links, erasure, _ = _chain(tmp_path)
    receipt = json.loads(json.dumps(_receipt(links, erasure)))  # as read from a file
    checked = check_receipt(receipt, [SIGNER.verifier])
    assert checked.ok, checked.message
    assert f"subject {erasure.subject_digest} of tenant acme erased at 2026-12-02T08:00:00Z" in (
        checked.message
    )
    assert "entry 10 of chain acme" in checked.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r.update(statement=r["statement"].replace("entries 5", "entries 4")),
            "does not verify",
        ),
        (
            lambda r: r["proof"].update(audit_path=r["proof"]["audit_path"][:-1]),
            "erasure event proof",
        ),
        (lambda r: r["proof"]["entry"].update(seq=3, entry_hash="00" * 32), "erasure event proof"),
    ],
    ids=["statement altered", "proof cut", "another entry"],
)
def test_an_altered_receipt_is_invalid(tmp_path: Path, change: Any, expected: str) -> None:
    links, erasure, _ = _chain(tmp_path)
    receipt = copy.deepcopy(_receipt(links, erasure))
    change(receipt)
    checked = check_receipt(receipt, [SIGNER.verifier])
    assert not checked.ok and expected in checked.message, checked.message


def test_a_receipt_signed_by_another_key_or_disagreeing_with_its_event_is_invalid(
    tmp_path: Path,
) -> None:
    links, erasure, _ = _chain(tmp_path)
    stranger = NoteSigner.generate("test-checkpoints")  # same name, another key
    checked = check_receipt(_receipt(links, erasure, stranger), [SIGNER.verifier])
    assert not checked.ok and "not signed by a trusted key" in checked.message
    # Signed by the right key, but stating more entries than the sealed event records.
    inflated = dataclasses.replace(erasure, entries=50)
    checked = check_receipt(_receipt(links, inflated), [SIGNER.verifier])
    assert not checked.ok and "statement says entries '50'" in checked.message
    with pytest.raises(FormatError, match="not an erasure receipt"):
        check_receipt({"format": "x"}, [SIGNER.verifier])
    with pytest.raises(FormatError, match="no proof"):
        check_receipt({"format": "auditstream.erasure-receipt.v1"}, [SIGNER.verifier])


def test_a_receipt_statement_is_a_c2sp_signed_note(tmp_path: Path) -> None:
    links, erasure, _ = _chain(tmp_path)
    text, verified = note.open_note(
        _receipt(links, erasure)["statement"].encode(), [SIGNER.verifier]
    )
    assert verified == [SIGNER.verifier]
    assert text.splitlines()[0] == "auditstream.v1/erasure-receipt"
    assert text.splitlines()[3] == f"subject {erasure.subject_digest}"


def test_verification_counts_the_entries_sealed_under_destroyed_keys(tmp_path: Path) -> None:
    links, erasure, guard = _chain(tmp_path)
    audit = ErasureAudit()
    for link in links:
        audit.add(decode_body(link.body))
    (report,), total = audit.finish()
    assert (report.erasure, report.chain_id, report.seq) == (erasure, "acme", 10)
    assert report.entries == total == 5  # alice's five logins, not bob's
    # A subject seen again after erasure gets a new key: its new entries are not erased.
    # (A fresh worker: a running one keeps a destroyed key for up to a second.)
    engine = sealer(protection=SubjectProtection(guard.vault))
    out = engine.process([record(20, login(20, actor_id="alice@example.com"))], 10**18 + 2)
    audit.add(decode_body(Link.decode(out.sealed[0][1]).body))
    assert audit.finish()[1] == 5


def test_an_erasure_request_is_checked_and_hides_its_subject() -> None:
    request = Request("acme", "alice@example.com", "Art. 17", "dpo")
    assert "alice" not in repr(request)
    for bad, match in [
        (("acme", "", "r", "dpo"), "--subject must not be empty"),
        (("acme", "a" * 257, "r", "dpo"), "--subject must be at most 256"),
        (("acme", "alice", "line\nbreak", "dpo"), "--reason must be at most 512 printable"),
        (("acme", "alice", "r", " "), "--requested-by must not be empty"),
    ]:
        with pytest.raises(ErasureError, match=match):
            Request(*bad)
