"""Reading one chain back from a running pipeline's topics and verifying it, for tests
that share one worker between several chains."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer

from auditstream.core.body import decode_body
from auditstream.core.verify import ChainReport, ChainVerifier
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings import keyfiles
from tests.support.pipeline import Keys, Topics


def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every committed record of `topic` now (until the partitions' ends)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    assigned: set[int] = set()
    ended: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                assigned.add(message.partition() or 0)
                error = message.error()
                if error is None:
                    values.append(message.value() or b"")
                    ended.discard(message.partition() or 0)
                elif error.code() == error._PARTITION_EOF:
                    ended.add(message.partition() or 0)
            if assigned and ended >= {p.partition for p in consumer.assignment()}:
                break
    finally:
        consumer.close()
    return values


@dataclass
class SealedChain:
    entries: list[pb.LogEntry]
    bodies: list[bytes]
    report: ChainReport


def wait_sealed(
    bootstrap: str, topics: Topics, keys: Keys, chain_id: str, expected: int, timeout: float = 180
) -> SealedChain:
    """The chain once it holds `expected` events (heartbeats left out) and a signed
    checkpoint covers all its entries, verified with the MAC keys and the checkpoint key
    (raises on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [
            e
            for e in (
                sealed.SealedEntry.FromString(v)
                for v in _read_all(bootstrap, f"{topics.prefix}.sealed")
            )
            if e.chain_id == chain_id
        ]
        notes = [
            c.note
            for c in (
                sealed.Checkpoint.FromString(v)
                for v in _read_all(bootstrap, f"{topics.prefix}.checkpoints")
            )
            if c.chain_id == chain_id
        ]
        verifier = ChainVerifier(
            chain_id,
            keyring=keyfiles.load_keyring(keys.hmac),
            note_verifiers=[keyfiles.load_signer(keys.signer).verifier],
            checkpoints=notes,
        )
        verifier.feed_many(entries)
        report = verifier.finish()
        # The producers' own heartbeats are verified with the chain but not counted.
        events = [
            (decode_body(e.body).entry, e.body)
            for e in entries
            if decode_body(e.body).entry.event_type != pb.EVENT_PRODUCER_HEARTBEAT
        ]
        if len(events) >= expected and report.covered_size >= len(entries):
            return SealedChain([e for e, _ in events], [b for _, b in events], report)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{chain_id}: {len(events)} of {expected} sealed, "
                f"{report.covered_size} covered by a checkpoint"
            )
        time.sleep(1)


def dead_letters(bootstrap: str, topics: Topics) -> list[sealed.DeadLetter]:
    return [
        sealed.DeadLetter.FromString(v) for v in _read_all(bootstrap, f"{topics.prefix}.deadletter")
    ]
