"""The chain formula of DESIGN.md §3 and the sealer."""

from __future__ import annotations

import hashlib
import struct

import pytest

from auditstream.core.body import decode_body, encode_body
from auditstream.core.chain import Chain, ChainHead, Link, seal
from auditstream.core.hashes import GENESIS_HASH, entry_hash, leaf_hash
from auditstream.core.merkle import root
from auditstream.proto.v1 import log_entry_pb2 as pb
from tests.support.chains import KEY, body, build


def test_entry_hash_is_the_normative_formula() -> None:
    prev, digest = bytes(range(32)), bytes(range(32, 64))
    expected = hashlib.sha256(
        b"auditstream.v1.chain" + b"\x00" + prev + struct.pack(">Q", 7) + digest
    ).digest()
    assert entry_hash(prev, 7, digest) == expected


def test_seal_links_to_head_and_macs_the_entry_hash() -> None:
    data = body("t1", 0)
    link = seal(ChainHead.genesis("t1"), data, KEY)
    assert link.prev_hash == GENESIS_HASH
    assert link.body_digest == hashlib.sha256(data).digest()
    assert link.entry_hash == entry_hash(GENESIS_HASH, 0, link.body_digest)
    assert link.mac == KEY.mac(link.entry_hash)
    assert link.key_id == "k1"
    second = seal(ChainHead.after(link), body("t1", 1), KEY)
    assert (second.seq, second.prev_hash) == (1, link.entry_hash)


def test_chain_append_matches_seal_and_tracks_the_merkle_root() -> None:
    links, chain = build("t1", 13)
    head = ChainHead.genesis("t1")
    for link in links:
        assert seal(head, link.body, KEY) == link
        head = ChainHead.after(link)
    assert chain.head == head
    assert chain.root() == root([leaf_hash(link.entry_hash) for link in links])


def test_recovering_a_chain_by_accepting_links() -> None:
    links, chain = build("t1", 5)
    recovered = Chain(ChainHead.genesis("t1"))
    for link in links:
        recovered.accept(link)
    assert recovered.head == chain.head and recovered.root() == chain.root()
    with pytest.raises(ValueError, match="does not follow"):
        recovered.accept(links[2])
    forged = Link("t1", 5, bytes(32), bytes(32), bytes(32), "k1", b"", None)
    with pytest.raises(ValueError, match="does not extend"):
        recovered.accept(forged)


def test_link_round_trips_through_sealed_entry_bytes() -> None:
    links, _ = build("t1", 2)
    assert Link.decode(links[1].encode()) == links[1]
    removed = links[1].without_body()
    assert Link.decode(removed.encode()) == removed
    assert removed.body == b""


def test_body_is_deterministic_and_decodes() -> None:
    entry = pb.LogEntry(event_type=pb.EVENT_DATA_EXPORT, actor_id="u1")
    entry.data.update({"b": 1, "a": 2, "c": {"z": 1, "y": 2}})
    kwargs = {"chain_id": "t1", "seq": 3, "received_time_ns": 1_700_000_000_123_456_789}
    first = encode_body(entry, **kwargs)  # type: ignore[arg-type]
    assert all(encode_body(entry, **kwargs) == first for _ in range(20))  # type: ignore[arg-type]
    canonical = entry.SerializeToString(deterministic=True)
    assert encode_body(canonical, **kwargs) == first  # type: ignore[arg-type]
    decoded = decode_body(first)
    assert decoded.entry == entry
    assert (decoded.chain_id, decoded.seq) == ("t1", 3)
    assert (decoded.received_time.seconds, decoded.received_time.nanos) == (
        1_700_000_000,
        123_456_789,
    )


def test_append_many_equals_append() -> None:
    bodies = [body("t1", seq) for seq in range(37)]
    one, bulk = Chain(ChainHead.genesis("t1")), Chain(ChainHead.genesis("t1"))
    singles = [one.append(data, KEY) for data in bodies]
    batched = bulk.append_many(bodies[:5], KEY) + bulk.append_many(bodies[5:], KEY)
    assert batched == singles
    assert bulk.head == one.head and bulk.root() == one.root()
    assert bulk.append_many([], KEY) == [] and bulk.head == one.head
