"""The verifier finds every single tamper, of every kind, at the right seq."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditstream.core.body import decode_body
from auditstream.core.chain import Chain, ChainHead, Link, seal
from auditstream.core.hashes import entry_hash
from auditstream.core.keys import HmacKey, Keyring, NoteSigner
from auditstream.core.verify import ChainVerifier, Kind, verify_chain
from auditstream.proto.v1.sealed_pb2 import SealedBody
from tests.support.chains import KEY, KEYRING, SIGNER, body, build, checkpoint, flip

CHAIN = "tenant-a"


def _verify(links: list[Link], notes: list[bytes], **options: Any) -> Any:
    options.setdefault("keyring", KEYRING)
    options.setdefault("note_verifiers", [SIGNER.verifier])
    # Links are fed in list order: each tamper returns them as a store would.
    return verify_chain(links, CHAIN, checkpoints=notes, **options)


# Each tamper takes the chain and a position, returns (tampered links, kind, seq).
Tamper = Callable[[list[Link], int], tuple[list[Link], Kind, int]]


def modify_body(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    out = list(links)
    out[i] = links[i]._replace(body=flip(links[i].body, i))
    return out, Kind.BODY_MISMATCH, i


def modify_body_and_digest(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    new_body = body(CHAIN, i, "forged")
    out = list(links)
    out[i] = links[i]._replace(body=new_body, body_digest=hashlib.sha256(new_body).digest())
    return out, Kind.HASH_MISMATCH, i


def rehash_without_key(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    new_body = body(CHAIN, i, "forged")
    digest = hashlib.sha256(new_body).digest()
    out = list(links)
    out[i] = links[i]._replace(
        body=new_body,
        body_digest=digest,
        entry_hash=entry_hash(links[i].prev_hash, i, digest),
    )
    return out, Kind.BAD_MAC, i


def modify_mac(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    out = list(links)
    out[i] = links[i]._replace(mac=flip(links[i].mac))
    return out, Kind.BAD_MAC, i


def unknown_key(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    out = list(links)
    out[i] = links[i]._replace(key_id="k-unknown")
    return out, Kind.UNKNOWN_KEY, i


def modify_entry_hash(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    out = list(links)
    out[i] = links[i]._replace(entry_hash=flip(links[i].entry_hash))
    return out, Kind.HASH_MISMATCH, i


def modify_prev_hash(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    out = list(links)
    out[i] = links[i]._replace(prev_hash=flip(links[i].prev_hash))
    return out, Kind.FORK, i


def delete(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    return links[:i] + links[i + 1 :], Kind.GAP if i < len(links) - 1 else Kind.TRUNCATED, i


def truncate_tail(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    return links[:i], Kind.TRUNCATED, i


def insert_forged(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    forged = links[i]._replace(
        body=body(CHAIN, i, "inserted"), entry_hash=flip(links[i].entry_hash)
    )
    return [*links[: i + 1], forged, *links[i + 1 :]], Kind.FORK, i


def duplicate(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    return [*links[: i + 1], links[i], *links[i + 1 :]], Kind.DUPLICATE, i


def swap_seq(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    j = i + 1 if i + 1 < len(links) else i - 1
    lo = min(i, j)
    out = list(links)
    out[i], out[j] = links[j]._replace(seq=links[i].seq), links[i]._replace(seq=links[j].seq)
    return out, Kind.HASH_MISMATCH, lo


def swap_positions(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    j = i + 1 if i + 1 < len(links) else i - 1
    lo = min(i, j)
    out = list(links)
    out[lo], out[lo + 1] = out[lo + 1], out[lo]
    return out, Kind.GAP, lo


def from_other_chain(links: list[Link], i: int) -> tuple[list[Link], Kind, int]:
    other, _ = build("tenant-b", len(links))
    out = list(links)
    out[i] = other[i]._replace(chain_id=CHAIN)
    return out, Kind.COLUMN_MISMATCH, i


TAMPERS: list[Tamper] = [
    modify_body,
    modify_body_and_digest,
    rehash_without_key,
    modify_mac,
    unknown_key,
    modify_entry_hash,
    modify_prev_hash,
    delete,
    truncate_tail,
    insert_forged,
    duplicate,
    swap_seq,
    from_other_chain,
]


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_an_untouched_chain_verifies(n: int) -> None:
    links, chain = build(CHAIN, n)
    report = _verify(links, [checkpoint(chain)])
    assert report.ok, report.findings
    assert (report.entries, report.first_seq, report.last_seq) == (n, 0, n - 1)
    assert report.checkpoints_verified == 1 and report.covered_size == n and report.macs_checked


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=40),
    data=st.data(),
    tamper=st.sampled_from([*TAMPERS, swap_positions]),
)
def test_every_single_tamper_is_detected_and_located(
    n: int, data: st.DataObject, tamper: Tamper
) -> None:
    links, chain = build(CHAIN, n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="position")
    tampered, kind, seq = tamper(links, i)
    report = _verify(tampered, [checkpoint(chain)])
    found = report.tamper_findings()
    assert not report.ok
    located = [f for f in found if f.seq is not None]
    assert min(f.seq for f in located) == seq, found  # type: ignore[type-var]
    assert any(f.kind is kind and f.seq == seq for f in found), found


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=2, max_value=30), data=st.data(), tamper=st.sampled_from(TAMPERS))
def test_tampers_are_found_without_hmac_keys_too(
    n: int, data: st.DataObject, tamper: Tamper
) -> None:
    """An auditor with only the public checkpoint key still detects everything a
    signed checkpoint covers; MAC-only tampers show up as checkpoint mismatches."""
    links, chain = build(CHAIN, n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="position")
    tampered, _, _ = tamper(links, i)
    report = _verify(tampered, [checkpoint(chain)], keyring=None)
    if tamper in (modify_mac, unknown_key):
        assert report.ok  # MACs are invisible without the HMAC key; the chain is intact
    else:
        assert not report.ok, tamper.__name__


def reseal(after: Link, end: int, message: str) -> list[Link]:
    """What an insider holding the HMAC key (but not the signing key) can forge."""
    head, out = ChainHead.after(after), []
    for seq in range(after.seq + 1, end):
        out.append(seal(head, body(CHAIN, seq, message), KEY))
        head = ChainHead.after(out[-1])
    return out


def test_insider_with_the_hmac_key_is_caught_by_the_signed_checkpoint() -> None:
    links, chain = build(CHAIN, 20)
    note = checkpoint(chain)
    forged = links[:10] + reseal(links[9], 20, "rewritten")
    report = _verify(forged, [note])
    assert [(f.kind, f.seq) for f in report.findings] == [(Kind.CHECKPOINT_MISMATCH, 19)]


def test_several_checkpoints_narrow_down_a_rewrite() -> None:
    chain = Chain(ChainHead.genesis(CHAIN))
    links, notes = [], []
    for seq in range(30):
        links.append(chain.append(body(CHAIN, seq), KEY))
        if seq % 10 == 9:
            notes.append(checkpoint(chain))
    forged = links[:15] + reseal(links[14], 30, "x")
    report = _verify(forged, notes)
    assert report.checkpoints_verified == 1 and report.covered_size == 10
    assert {(f.kind, f.seq) for f in report.findings} == {
        (Kind.CHECKPOINT_MISMATCH, 19),
        (Kind.CHECKPOINT_MISMATCH, 29),
    }


def test_checkpoint_with_a_bad_signature_or_wrong_key() -> None:
    links, chain = build(CHAIN, 4)
    note = checkpoint(chain)
    forged_note = note.replace(b"\n4\n", b"\n3\n")
    report = _verify(links, [forged_note])
    assert [f.kind for f in report.findings] == [Kind.BAD_CHECKPOINT_SIGNATURE]
    stranger = NoteSigner.generate("stranger")
    report = _verify(links, [checkpoint(chain, stranger)])
    assert [f.kind for f in report.findings] == [Kind.BAD_CHECKPOINT_SIGNATURE]


def test_removed_content_is_reported_but_is_not_tampering() -> None:
    links, chain = build(CHAIN, 10)
    expired = [link.without_body() if link.seq < 6 else link for link in links]
    report = _verify(expired, [checkpoint(chain)])
    assert report.ok
    assert report.content_removed == 6
    assert report.checkpoints_verified == 1
    assert report.to_json()["findings"] == []


def test_rotated_keys_verify_old_and_new_entries() -> None:
    old, new = KEY, HmacKey("k2", bytes(range(100, 132)))
    chain = Chain(ChainHead.genesis(CHAIN))
    links = [chain.append(body(CHAIN, s), old if s < 5 else new) for s in range(10)]
    report = _verify(links, [checkpoint(chain)], keyring=Keyring([old, new], "k2"))
    assert report.ok
    report = _verify(links, [checkpoint(chain)], keyring=Keyring([new], "k2"))
    assert [(f.kind, f.seq) for f in report.findings] == [(Kind.UNKNOWN_KEY, s) for s in range(5)]


def test_column_mismatch_names_the_column() -> None:
    links, _chain = build(CHAIN, 3)

    def columns(decoded: SealedBody) -> dict[str, Any]:
        return {"actor_id": decoded.entry.actor_id, "event_type": decoded.entry.event_type}

    verifier = ChainVerifier(CHAIN, keyring=KEYRING, column_extractor=columns)
    for link in links:
        stored = columns(decode_body(link.body))
        if link.seq == 1:
            stored["actor_id"] = "someone-else"
        verifier.feed(link, stored)
    report = verifier.finish()
    assert [(f.kind, f.seq, f.detail) for f in report.findings] == [
        (Kind.COLUMN_MISMATCH, 1, "columns differ from body: actor_id")
    ]


def test_range_verification_from_a_trusted_head() -> None:
    links, _ = build(CHAIN, 10)
    report = verify_chain(links[4:], CHAIN, keyring=KEYRING, start=ChainHead.after(links[3]))
    assert report.ok and report.first_seq == 4
    report = verify_chain(links[4:], CHAIN, keyring=KEYRING)
    assert [(f.kind, f.seq) for f in report.findings] == [(Kind.GAP, 0)]


def test_findings_are_bounded() -> None:
    links, _ = build(CHAIN, 50)
    broken = [link._replace(mac=b"") for link in links]
    report = _verify(broken, [], max_findings=10)
    assert len(report.findings) == 10 and report.findings_dropped == 40 and not report.ok


def _summary(report: Any) -> tuple[Any, ...]:
    return (
        [(f.kind, f.seq, f.detail) for f in report.findings],
        report.entries,
        report.first_seq,
        report.last_seq,
        report.content_removed,
        report.checkpoints_verified,
        report.covered_size,
    )


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=60),
    data=st.data(),
    tamper=st.sampled_from([None, *TAMPERS, swap_positions]),
    every=st.integers(min_value=1, max_value=25),
    with_keys=st.booleans(),
)
def test_batched_verification_equals_entry_by_entry(
    n: int, data: st.DataObject, tamper: Tamper | None, every: int, with_keys: bool
) -> None:
    chain = Chain(ChainHead.genesis(CHAIN))
    links, notes = [], []
    for seq in range(n):
        links.append(chain.append(body(CHAIN, seq), KEY))
        if (seq + 1) % every == 0:
            notes.append(checkpoint(chain))
    if tamper is not None and n >= 2:
        i = data.draw(st.integers(min_value=0, max_value=n - 1), label="position")
        links, _, _ = tamper(links, i)
    if data.draw(st.booleans(), label="expire some"):
        links = [link.without_body() if link.seq % 3 == 0 else link for link in links]
    options: dict[str, Any] = {
        "keyring": KEYRING if with_keys else None,
        "note_verifiers": [SIGNER.verifier],
        "checkpoints": notes,
    }
    one = ChainVerifier(CHAIN, **options)
    for link in links:
        one.feed(link)
    bulk = ChainVerifier(CHAIN, **options)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(links)), max_size=5), label="cuts"))
    previous = 0
    for cut in [*cuts, len(links)]:
        bulk.feed_many(links[previous:cut])
        previous = cut
    assert _summary(bulk.finish()) == _summary(one.finish())
