"""The sealing engine: seal, deduplicate, dead-letter, checkpoint, snapshot, restore."""

from __future__ import annotations

from collections import defaultdict

import pytest

from auditstream.core import headers
from auditstream.core.body import decode_body
from auditstream.core.chain import Link
from auditstream.core.verify import verify_chain
from auditstream.errors import RecoveryError
from auditstream.processors.engine import Outputs
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from tests.support.chains import KEYRING, SIGNER
from tests.support.engine_kit import T0_MS, login, record, sealer

NOW = T0_MS * 1_000_000


def by_chain(*outputs: Outputs) -> dict[str, list[Link]]:
    chains: dict[str, list[Link]] = defaultdict(list)
    for out in outputs:
        for chain_id, data in out.sealed:
            chains[chain_id].append(Link.decode(data))
    return chains


def checkpoints(*outputs: Outputs) -> dict[str, list[bytes]]:
    notes: dict[str, list[bytes]] = defaultdict(list)
    for out in outputs:
        for chain_id, data in out.checkpoints:
            notes[chain_id].append(sealed.Checkpoint.FromString(data).note)
    return notes


def test_batches_seal_into_verifiable_chains_with_checkpoints() -> None:
    engine = sealer(checkpoint_every=10)
    outputs = []
    offset = 0
    for _ in range(5):
        batch = []
        for n in range(12):
            tenant = "acme" if n % 3 else "globex"
            batch.append(record(offset, login(offset, tenant), key=tenant.encode()))
            offset += 1
        outputs.append(engine.process(batch, NOW))
    chains, notes = by_chain(*outputs), checkpoints(*outputs)
    assert {c: len(links) for c, links in chains.items()} == {"acme": 40, "globex": 20}
    for chain_id, links in chains.items():
        report = verify_chain(
            links,
            chain_id,
            keyring=KEYRING,
            note_verifiers=[SIGNER.verifier],
            checkpoints=notes[chain_id],
        )
        assert report.ok and report.checkpoints_verified >= 1, report.findings
    body = decode_body(chains["acme"][0].body)
    assert body.classification.retention_class == "standard"
    assert body.source.topic == "audit.raw.v1" and body.received_time.ToMilliseconds() == T0_MS + 1
    assert "SOC2" in body.entry.policy_tags


def test_duplicates_within_and_across_batches_are_dropped() -> None:
    engine = sealer()
    first = engine.process([record(0, login(1)), record(1, login(1)), record(2, login(2))], NOW)
    second = engine.process([record(3, login(2)), record(4, login(3))], NOW)
    assert [len(first.sealed), len(second.sealed)] == [2, 1]
    assert first.counts["duplicate"] == 1 and second.counts["duplicate"] == 1


def test_dead_letters_carry_the_original_and_the_reason() -> None:
    engine = sealer()
    out = engine.process([record(41, b"\x08\xff", key=b"acme"), record(42, login(1))], NOW)
    assert len(out.sealed) == 1 and len(out.dead_letters) == 1
    key, data = out.dead_letters[0]
    letter = sealed.DeadLetter.FromString(data)
    assert key == b"acme" and letter.original_value == b"\x08\xff"
    assert letter.reason == sealed.DEAD_LETTER_REASON_UNPARSEABLE
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == (
        "audit.raw.v1",
        0,
        41,
    )
    assert out.counts["dead_letter:DEAD_LETTER_REASON_UNPARSEABLE"] == 1


def test_time_based_checkpoints_and_snapshots() -> None:
    engine = sealer(checkpoint_every=1000, checkpoint_interval_s=5)
    out = engine.process([record(0, login(1))], NOW)
    assert not out.checkpoints and [c for c, _ in out.snapshots] == ["acme"]
    assert engine.unchecked_entries == 1
    assert not engine.due(NOW + 4 * 10**9).checkpoints
    due = engine.due(NOW + 6 * 10**9)
    assert [c for c, _ in due.checkpoints] == ["acme"]
    assert engine.unchecked_entries == 0
    snap = sealed.ChainSnapshot.FromString(due.snapshots[0][1])
    assert (snap.next_seq, snap.checkpoint_size) == (1, 1)
    assert not engine.due(NOW + 60 * 10**9).checkpoints  # nothing new since


def test_restore_continues_exactly_where_the_committed_output_ends() -> None:
    first = sealer(checkpoint_every=7)
    outputs = [
        first.process([record(o, login(o)) for o in range(b * 5, b * 5 + 5)], NOW) for b in range(4)
    ]
    snapshots = [sealed.ChainSnapshot.FromString(d) for d in dict(outputs[2].snapshots).values()]
    # The last batch's entries were committed but its snapshot was not: they are the tail.
    tail = [Link.decode(d) for out in outputs[1:] for _, d in out.sealed]
    second = sealer(checkpoint_every=7)
    second.restore(snapshots, tail)
    assert second.chain_heads == first.chain_heads
    # Reprocessing the last batch finds every event already sealed; new events continue.
    replay = second.process([record(o, login(o)) for o in range(15, 20)], NOW)
    assert not replay.sealed and replay.counts["duplicate"] == 5
    more = [
        second.process([record(20, login(20))], NOW),
        first.process([record(20, login(20))], NOW),
    ]
    assert more[0].sealed == more[1].sealed
    links = [Link.decode(d) for out in [*outputs, more[0]] for _, d in out.sealed]
    assert verify_chain(links, "acme", keyring=KEYRING).ok


def test_restore_refuses_to_fork() -> None:
    engine = sealer()
    out = engine.process([record(o, login(o)) for o in range(6)], NOW)
    links = [Link.decode(d) for _, d in out.sealed]
    snapshot = sealed.ChainSnapshot.FromString(out.snapshots[0][1])
    with pytest.raises(RecoveryError):
        sealer().restore([], links[2:])
    with pytest.raises(RecoveryError):
        sealer().restore([snapshot], [links[1]._replace(seq=9)])


def test_lokryn_0_2_0_and_masking_reach_the_sealed_bytes() -> None:
    engine = sealer()
    request = v020.LogRequest(
        event_type=21, outcome=1, severity=2, actor_id="svc", message="key AKIAIOSFODNN7EXAMPLE"
    )
    request.genai.input_messages.add(role="user", content="what is my balance?")
    out = engine.process(
        [
            record(
                0,
                request.SerializeToString(),
                headers=((headers.MESSAGE_TYPE, headers.LOKRYN_V020.encode()),),
            )
        ],
        NOW,
    )
    ((_, data),) = out.sealed
    body = decode_body(Link.decode(data).body)
    assert body.entry.event_type == pb.EVENT_MODEL_INFERENCE
    assert body.entry.producer.source_message_type == headers.LOKRYN_V020
    assert b"AKIAIOSFODNN7EXAMPLE" not in data and b"balance" not in data
    assert any(d.kind == "aws_access_key" and d.masked for d in body.classification.detections)
