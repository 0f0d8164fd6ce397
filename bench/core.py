"""Sealing and verification throughput of the pure core, on one core.

    python bench/core.py [--quick] [--events N]

seal_events_per_s    raw LogEntry bytes -> SealedBody -> chained, MACed link -> SealedEntry bytes
verify_events_per_s  SealedEntry bytes -> Link -> verifier (hashes, links, body check, MACs)
ceiling              the bare SHA-256 chain loop over the same bodies (two hashes per event:
                     the body digest and the chained entry hash), in the same run
"""

from __future__ import annotations

import argparse
import random
from hashlib import sha256

import _common

from auditstream.core.body import encode_body
from auditstream.core.chain import CHAIN_DOMAIN, Chain, ChainHead, Link
from auditstream.core.keys import HmacKey, Keyring
from auditstream.core.verify import ChainVerifier
from auditstream.proto.v1.sealed_pb2 import SealedEntry
from auditstream.workload import generate

CHAIN_ID = "bench-tenant"


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
        chain = Chain(ChainHead.genesis(CHAIN_ID))
        out = []
        for offset, raw in enumerate(raws):
            body = encode_body(
                raw,
                chain_id=CHAIN_ID,
                seq=chain.next_seq,
                received_time_ns=base_ns + offset,
                source_topic="audit.raw.v1",
                source_partition=0,
                source_offset=offset,
            )
            out.append(chain.append(body, key).encode())
        sealed[:] = out
        return len(raws)

    def verify_all() -> int:
        verifier = ChainVerifier(CHAIN_ID, keyring=keyring)
        for data in sealed:
            verifier.feed(SealedEntry.FromString(data))
        report = verifier.finish()
        assert report.ok and report.entries == len(sealed), report.findings[:3]
        return len(sealed)

    def hash_chain() -> int:
        prev = bytes(32)
        for seq, body in enumerate(bodies):
            prev = sha256(
                CHAIN_DOMAIN + prev + seq.to_bytes(8, "big") + sha256(body).digest()
            ).digest()
        return len(bodies)

    seal_rate = _common.best_rate(seal_all, repeats)
    bodies[:] = [Link.decode(data).body for data in sealed]
    verify_rate = _common.best_rate(verify_all, repeats)
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
            "sha256_chain_events_per_s": _common.figure(
                ceiling, "events/s", ceiling=None, goal=None
            ),
        },
        events=count,
        avg_body_bytes=round(avg_body, 1),
    )


if __name__ == "__main__":
    main()
