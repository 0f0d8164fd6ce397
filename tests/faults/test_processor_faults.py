"""The processor under crashes, broker restarts and rebalances, on real Kafka.

Each test streams 100,000 events over 4 partitions — to 10 chains (skewed, as the
workload skews tenants) and to 10,000 chains (evenly) — while something goes wrong, then
checks what is in the sealed topic: every event exactly once, every chain contiguous
from seq 0, every MAC and every signed checkpoint valid. Each fault hits a worker that
has sealed part of the stream, so it strikes while the worker seals, not while it waits.
Workers run under a supervisor with a stable instance id, as operations.md asks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.infra import Infra, unique
from tests.support.pipeline import (
    Feed,
    Keys,
    Supervisor,
    Topics,
    Worker,
    check_sealed,
    create_pipeline,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 100_000
PARTITIONS = 4
RATE = 5_000
# Five kills, each followed by a takeover (about a session timeout), within one stream.
RATE_UNDER_KILLS = 800
CHAIN_COUNTS = [pytest.param(10, id="10-chains"), pytest.param(10_000, id="10k-chains")]


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    yield
    while Worker.started:
        Worker.started.pop().stop(timeout=10)


@pytest.fixture
def setup(kafka_bootstrap: str, tmp_path: Path) -> tuple[Topics, Keys]:
    return create_pipeline(kafka_bootstrap, PARTITIONS, tmp_path)


def start_feed(bootstrap: str, topics: Topics, chains: int, rate: float = RATE) -> Feed:
    return Feed(bootstrap, topics.raw, EVENTS, chains, rate, even=chains > 10).start()


def assert_exactly_once(
    bootstrap: str, topics: Topics, keys: Keys, feed: Feed, workers: list[Worker]
) -> None:
    result = check_sealed(bootstrap, topics, keys, expected=EVENTS)
    assert result.problems(feed.event_ids) == []
    assert result.sealed == EVENTS
    assert set(result.reports) == feed.chain_ids
    assert len(feed.chain_ids) == feed.chains
    assert all(r.checkpoints_verified > 0 for r in result.reports.values())
    assert not [e for w in workers for e in w.errors()]


@pytest.mark.parametrize("chains", CHAIN_COUNTS)
def test_kill_minus_nine_five_times(
    kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path, chains: int
) -> None:
    topics, keys = setup
    rng = random.Random(20261122)
    app_id = unique("proc")
    supervisor = Supervisor(
        lambda name, slot: Worker(
            kafka_bootstrap, keys, topics, tmp_path, name, app_id, instance_id=slot
        )
    )
    feed = start_feed(kafka_bootstrap, topics, chains, RATE_UNDER_KILLS)
    for _ in range(5):
        supervisor.current.wait_sealed(rng.randint(200, 2000))
        time.sleep(rng.uniform(0, 1.0))
        supervisor.kill_and_wait_replacement()
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, supervisor.workers)
        assert len(supervisor.workers) >= 6
    finally:
        supervisor.stop()


@pytest.mark.parametrize("chains", CHAIN_COUNTS)
def test_broker_restart_mid_stream(
    infra: Infra, kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path, chains: int
) -> None:
    topics, keys = setup
    app_id = unique("proc")
    supervisor = Supervisor(
        lambda name, slot: Worker(
            kafka_bootstrap, keys, topics, tmp_path, name, app_id, instance_id=slot
        )
    )
    feed = start_feed(kafka_bootstrap, topics, chains)
    supervisor.current.wait_sealed(2000)
    infra.restart_kafka(down_for=5)
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, supervisor.workers)
    finally:
        supervisor.stop()


@pytest.mark.parametrize("chains", CHAIN_COUNTS)
def test_rebalance_when_one_of_two_workers_dies(
    kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path, chains: int
) -> None:
    topics, keys = setup
    app_id = unique("proc")
    survivor = Supervisor(
        lambda name, slot: Worker(
            kafka_bootstrap, keys, topics, tmp_path, name, app_id, instance_id=slot
        ),
        "a",
    )
    doomed = Worker(kafka_bootstrap, keys, topics, tmp_path, "b", app_id)
    doomed.wait_ready()
    feed = start_feed(kafka_bootstrap, topics, chains)
    doomed.wait_sealed(2000)
    doomed.kill()
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, [*survivor.workers, doomed])
    finally:
        survivor.stop()
