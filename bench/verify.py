"""Verifying a ClickHouse store end to end, against the in-memory verify loop.

    python bench/verify.py [--quick] [--events N]

Loads N (default 1,000,000; --quick 100,000) sealed events over 100 chains into
embedded ClickHouse through the sink's insert path, with one signed checkpoint per
chain, then times:

    verify_store_events_per_s            `auditstream verify` work: stream rows in seq
                                         order, recompute hashes and MACs, decode every
                                         body and compare the queryable columns, check
                                         checkpoints (goal 100,000/s)
      ceiling: store_read_events_per_s   reading the same rows and columns out of the
                                         store, nothing verified
    verify_store_skeleton_events_per_s   the same without the column comparison
      ceiling: store_read_skeleton_events_per_s  reading those rows
    verify_memory_events_per_s           the core verify loop over the same entries
                                         already in memory (for comparison)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import _common
import _sealed

from auditstream.clickhouse import ingest, migrations, schema
from auditstream.clickhouse.client import connect
from auditstream.core import hashes, merkle
from auditstream.core.chain import Link
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.verify import verify_chain
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.resources import schemas_dir
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import verify_sources

SIGNER = NoteSigner.generate("bench-checkpoints")
KEYRING = Keyring([_sealed.KEY], _sealed.KEY.key_id)
SKELETON = [schema.COLUMNS.index(name) for name in (*schema.SKELETON[1:], "body")]


def load(client: Any, total: int) -> dict[str, tuple[list[Link], bytes]]:
    """Insert `total` entries and a checkpoint per chain; return each chain's links and
    checkpoint note."""
    chains: dict[str, list[Link]] = {}
    for chunk in _sealed.sealed_rows(total):  # pieces of chains, each piece in seq order
        links = [Link(*(row[i] for i in SKELETON)) for row in chunk]
        frames = ingest.frame_all((link.encode(), link.body) for link in links)
        ingest.insert(client, "bench", frames.data)
        chains.setdefault(links[0].chain_id, []).extend(links)
    in_memory: dict[str, tuple[list[Link], bytes]] = {}
    for chain_id, links in chains.items():
        root = merkle.root([hashes.leaf_hash(link.entry_hash) for link in links])
        checkpoint = sign_checkpoint(chain_id, len(links), root, SIGNER)
        in_memory[chain_id] = (links, checkpoint.note)
        client.insert(
            "bench.audit_checkpoints",
            [schema.checkpoint_row(_checkpoint(chain_id, len(links), root, checkpoint.note))],
            column_names=schema.CHECKPOINT_COLUMNS,
        )
    return in_memory


def _checkpoint(chain_id: str, size: int, root: bytes, note: bytes) -> sealed.Checkpoint:
    checkpoint = sealed.Checkpoint(
        chain_id=chain_id, tree_size=size, root_hash=root, key_name=SIGNER.name, note=note
    )
    checkpoint.created_time.GetCurrentTime()
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k events")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    total = 100_000 if args.quick else args.events
    with tempfile.TemporaryDirectory(prefix="as-bench-v-") as tmp:
        client = connect(f"chdb://{tmp}/store")
        migrations.migrate(
            client, schemas_dir() / "clickhouse", migrations.Target(database="bench")
        )
        in_memory = load(client, total)
        client.command("OPTIMIZE TABLE bench.audit_events FINAL")

        def store_run(columns: bool) -> tuple[float, int]:
            source = ClickHouseSource(client, "bench", columns=columns)
            begin = time.perf_counter()
            report = verify_sources([source], note_verifiers=[SIGNER.verifier], keyring=KEYRING)
            seconds = time.perf_counter() - begin
            assert report.ok and report.entries == total, report.findings()[:3]
            assert all(c.report.checkpoints_verified == 1 for c in report.chains)
            return seconds, report.entries

        full_s, _ = store_run(columns=True)
        skeleton_s, _ = store_run(columns=False)

        def read_run(columns: bool) -> float:
            source = ClickHouseSource(client, "bench", columns=columns)
            begin = time.perf_counter()
            read = 0
            for chain_id in source.chains(None):
                for batch in source.batches(chain_id, lambda *_: None):
                    read += len(batch.links)
            assert read == total, read
            return time.perf_counter() - begin

        read_s = read_run(columns=True)
        read_skeleton_s = read_run(columns=False)

        begin = time.perf_counter()
        for chain_id, (links, note) in in_memory.items():
            verify_chain(
                links,
                chain_id,
                keyring=KEYRING,
                note_verifiers=[SIGNER.verifier],
                checkpoints=[note],
            )
        memory_s = time.perf_counter() - begin

    read_rate, read_skeleton_rate = total / read_s, total / read_skeleton_s
    _common.emit(
        "verify",
        {
            "verify_store_events_per_s": _common.figure(
                total / full_s, "events/s", ceiling=read_rate, goal=100_000
            ),
            "verify_store_skeleton_events_per_s": _common.figure(
                total / skeleton_s, "events/s", ceiling=read_skeleton_rate, goal=None
            ),
            "store_read_events_per_s": _common.figure(
                read_rate, "events/s", ceiling=None, goal=None
            ),
            "store_read_skeleton_events_per_s": _common.figure(
                read_skeleton_rate, "events/s", ceiling=None, goal=None
            ),
            "verify_memory_events_per_s": _common.figure(
                total / memory_s, "events/s", ceiling=None, goal=None
            ),
        },
        events=total,
    )


if __name__ == "__main__":
    main()
