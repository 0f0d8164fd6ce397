"""A Faust worker that consumes a topic and does nothing: the ceiling a Faust stream sets
on this machine. The app is the worker's own (`processors.app.faust_app`) with the
settings a stream of the worker would need: exactly once, the worker's batch size, an
8 MiB fetch. Writes the rate (events/s) to a file and exits (Faust redirects stdout into
its log)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import faust

from auditstream.processors.app import WorkerConfig, faust_app
from auditstream.settings.connection import KafkaConnection

BATCH = WorkerConfig.batch_size


def main() -> None:
    bootstrap, topic, count, group, out = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        sys.argv[4],
        sys.argv[5],
    )
    app = faust_app(
        group,
        KafkaConnection(bootstrap),
        Path(tempfile.mkdtemp(prefix="faust-noop-")),
        processing_guarantee="exactly_once",
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=8 * 1024 * 1024,
        broker_commit_every=BATCH,
        broker_commit_interval=0.5,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "start": 0.0}

    async def sink(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(BATCH, within=0.05):  # type: ignore[attr-defined]
            if not seen["start"]:
                seen["start"] = time.monotonic()
            seen["n"] += len(events)
            if seen["n"] >= count:
                rate = seen["n"] / (time.monotonic() - seen["start"])
                with open(out, "w") as handle:
                    handle.write(f"{rate:.1f}\n")
                os._exit(0)

    app.agent(source)(sink)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
