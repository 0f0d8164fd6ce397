"""A Faust worker that consumes a topic and does nothing (exactly once, batches of 1000):
the ceiling Faust itself sets on this machine. Writes the rate (events/s) to a file and
exits (Faust redirects stdout into its log)."""

from __future__ import annotations

import os
import sys
import time

import faust


def main() -> None:
    bootstrap, topic, count, group, out = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        sys.argv[4],
        sys.argv[5],
    )
    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        processing_guarantee="exactly_once",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        datadir=f"/tmp/{group}",
        broker_commit_every=1000,
        broker_commit_interval=0.5,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "start": 0.0}

    async def sink(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(1000, within=0.05):  # type: ignore[attr-defined]
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
