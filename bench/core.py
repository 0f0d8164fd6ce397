"""Sealing and verification throughput of the pure core, on one core.

    python bench/core.py [--quick] [--events N]

seal_events_per_s    raw LogEntry bytes -> SealedBody -> chained, MACed link -> SealedEntry bytes
verify_events_per_s  SealedEntry bytes -> verifier: body digests, entry hashes, links, MACs,
                     Merkle range; 1000 entries per batch
verify_with_body_decode_events_per_s  the same, also decoding every body to check that it
                     names its own chain and seq
ceiling              the bare SHA-256 chain loop over the same bodies (two hashes per event:
                     the body digest and the chained entry hash), in the same run
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from hashlib import sha256

import _common

from auditstream.core.body import encode_body
from auditstream.core.chain import Chain, ChainHead, Link
from auditstream.core.hashes import CHAIN_DOMAIN
from auditstream.core.keys import HmacKey, Keyring
from auditstream.core.verify import ChainVerifier
from auditstream.proto.v1.sealed_pb2 import SealedEntry
from auditstream.samples.workload import generate

CHAIN_ID = "bench-tenant"
BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k events, one repeat")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    count = 20_000 if args.quick else args.events
    repeats = 1 if args.quick else 3

    raws = [e.SerializeToString() for e in generate(random.Random(7), count)]
    key = HmacKey("k1", bytes(range(32)))
    keyring = Keyring([key], "k1")
    base_ns = 1_767_225_600_000_000_000
    sealed: list[bytes] = []
    bodies: list[bytes] = []

    def seal_all() -> int:
        # As the processor does it: a batch of raw records at a time.
        chain = Chain(ChainHead.genesis(CHAIN_ID))
        out: list[bytes] = []
        for start in range(0, len(raws), BATCH):
            first = chain.next_seq
            bodies = [
                encode_body(
                    raw,
                    chain_id=CHAIN_ID,
                    seq=first + i,
                    received_time_ns=base_ns + start + i,
                    source_topic="audit.raw.v1",
                    source_partition=0,
                    source_offset=start + i,
                )
                for i, raw in enumerate(raws[start : start + BATCH])
            ]
            out.extend(chain.append_many_encoded(bodies, key))
        sealed[:] = out
        return len(raws)

    def verifier_over(check_bodies: bool) -> Callable[[], int]:
        def verify_all() -> int:
            verifier = ChainVerifier(CHAIN_ID, keyring=keyring, check_bodies=check_bodies)
            for start in range(0, len(sealed), BATCH):
                verifier.feed_many(
                    [SealedEntry.FromString(d) for d in sealed[start : start + BATCH]]
                )
            report = verifier.finish()
            assert report.ok and report.entries == len(sealed), report.findings[:3]
            return len(sealed)

        return verify_all

    def hash_chain() -> int:
        prev = bytes(32)
        for seq, body in enumerate(bodies):
            prev = sha256(
                CHAIN_DOMAIN + prev + seq.to_bytes(8, "big") + sha256(body).digest()
            ).digest()
        return len(bodies)

    seal_rate = _common.best_rate(seal_all, repeats)
    bodies[:] = [Link.decode(data).body for data in sealed]
    verify_rate = _common.best_rate(verifier_over(check_bodies=False), repeats)
    verify_bodies_rate = _common.best_rate(verifier_over(check_bodies=True), repeats)
    ceiling = _common.best_rate(hash_chain, repeats)
    avg_body = sum(map(len, bodies)) / len(bodies)
    _common.emit(
        "core",
        {
            "seal_events_per_s": _common.figure(
                seal_rate, "events/s", ceiling=ceiling, goal=150_000
            ),
            "verify_events_per_s": _common.figure(
                verify_rate, "events/s", ceiling=ceiling, goal=300_000
            ),
            "verify_with_body_decode_events_per_s": _common.figure(
                verify_bodies_rate, "events/s", ceiling=ceiling, goal=None
            ),
            "sha256_chain_events_per_s": _common.figure(
                ceiling, "events/s", ceiling=None, goal=None
            ),
        },
        events=count,
        avg_body_bytes=round(avg_body, 1),
    )


if __name__ == "__main__":
    main()
