"""Generating realistic sealed entries fast, with the project's own sealing, for benches.

Each chain is sealed by one process (chains are independent), with the classifier and
the default retention policy deciding each entry's classification. On request, each
chain also gets a signed checkpoint every `CHECKPOINT_EVERY` entries (by `SIGNER`, a
fixed bench key), as the processor would publish them.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditstream.clickhouse import schema
from auditstream.core.body import encode_body
from auditstream.core.chain import Chain, ChainHead
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.classify import Classifier
from auditstream.core.keys import HmacKey, NoteSigner
from auditstream.core.retention import parse_policy
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.samples.workload import Workload, make_event
from auditstream.settings.resources import default_policy_file

KEY = HmacKey("bench-k1", bytes(range(32)))
SIGNER = NoteSigner("bench-checkpoints", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
CHECKPOINT_EVERY = 2000
POLICY = parse_policy(default_policy_file().read_text(encoding="utf-8"))
SPAN_NS = 90 * 86_400 * 10**9
END_NS = time.time_ns() - 86_400 * 10**9  # the last event a day ago


def seal_chain(
    tenant: int,
    shard: int,
    count: int,
    seed: int,
    first: int = 0,
    size: int | None = None,
    chain: Chain | None = None,
    rng_state: Any = None,
    with_checkpoints: bool = False,
) -> tuple[list[list[Any]], Chain, Any, list[list[Any]]]:
    """Entries `first` .. `first + size` of the `count` entries of chain
    tenant-NNN/shardS, spread over 90 days, as table rows; with the chain and the random
    state to continue from, so a long chain is sealed in pieces of bounded memory.
    The last item: the checkpoint rows of the piece (with `with_checkpoints`)."""
    rng = random.Random(seed)
    if rng_state is not None:
        rng.setstate(rng_state)
    shape = Workload(tenants=1)
    chain_id = f"tenant-{tenant:03d}/shard{shard}"
    chain = chain or Chain(ChainHead.genesis(chain_id))
    classifier = Classifier()
    step = SPAN_NS // count
    start = END_NS - SPAN_NS
    end = count if size is None else min(count, first + size)
    out: list[list[Any]] = []
    checkpoints: list[list[Any]] = []
    for batch_start in range(first, end, 2000):
        bodies = []
        for i in range(batch_start, min(end, batch_start + 2000)):
            time_ns = start + i * step + rng.randrange(step)
            entry = make_event(rng, shape, time_ns)
            entry.tenant_id = f"tenant-{tenant:03d}"
            outcome = classifier.classify(entry)
            decision = POLICY.decide(entry, time_ns)
            classification = sealed.Classification(
                declared_sensitivity=outcome.declared_sensitivity,  # type: ignore[arg-type]
                detections=outcome.to_proto(),
                retention_class=decision.retention_class,
                legal_hold=decision.legal_hold,
                policy_version=POLICY.version,
            )
            classification.retain_until.FromNanoseconds(decision.retain_until_ns)
            bodies.append(
                encode_body(
                    entry,
                    chain_id=chain_id,
                    seq=chain.next_seq + len(bodies),
                    received_time_ns=time_ns + 50_000_000,
                    source_topic="audit.raw.v1",
                    source_partition=tenant % 4,
                    source_offset=i,
                    classification=classification,
                )
            )
        for link in chain.append_many(bodies, KEY):
            out.append(schema.row(link.to_proto()))
        if with_checkpoints and (chain.next_seq % CHECKPOINT_EVERY == 0 or chain.next_seq == count):
            signed = sign_checkpoint(chain_id, chain.next_seq, chain.root(), SIGNER)
            checkpoint = sealed.Checkpoint(
                chain_id=chain_id,
                tree_size=signed.tree_size,
                root_hash=signed.root_hash,
                note=signed.note,
                key_name=SIGNER.name,
            )
            checkpoint.created_time.FromNanoseconds(time_ns + 1_000_000_000)
            checkpoints.append(schema.checkpoint_row(checkpoint))
    return out, chain, rng.getstate(), checkpoints


def sealed_rows(
    total: int,
    tenants: int = 10,
    shards: int = 10,
    workers: int = 2,
    piece: int = 100_000,
    checkpoints: list[list[Any]] | None = None,
) -> Iterator[list[list[Any]]]:
    """Rows of `total` entries over tenants x shards chains, `piece` rows at a time
    (a multiple of CHECKPOINT_EVERY); with `checkpoints`, checkpoint rows go there.

    Chains are sealed in parallel, each one piece after the other; at most two pieces
    per worker are in flight, so memory stays bounded however large `total` is."""
    chains = [(t, s) for t in range(tenants) for s in range(shards)]
    # Busy tenants get more: tenant 0 has about a third of the traffic.
    weights = [1.0 / (t + 1) ** 0.8 for t, _ in chains]
    scale = total / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    counts[0] += total - sum(counts)
    progress: list[tuple[int, Chain | None, Any]] = [(0, None, None)] * len(chains)
    ready = deque(range(len(chains)))
    with ProcessPoolExecutor(workers) as pool:
        in_flight: dict[Future[tuple[list[list[Any]], Chain, Any, list[list[Any]]]], int] = {}
        while ready or in_flight:
            while ready and len(in_flight) < 2 * workers:
                n = ready.popleft()
                (t, s), (done, chain, state) = chains[n], progress[n]
                future = pool.submit(
                    seal_chain, t, s, counts[n], 1000 * t + s, done, piece, chain, state,
                    checkpoints is not None,
                )  # fmt: skip
                in_flight[future] = n
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                n = in_flight.pop(future)
                out, chain, state, signed = future.result()
                if checkpoints is not None:
                    checkpoints += signed
                done = progress[n][0] + len(out)
                progress[n] = (done, chain, state)
                if done < counts[n]:
                    ready.append(n)
                yield out
