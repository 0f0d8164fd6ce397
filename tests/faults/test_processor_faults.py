"""The processor under crashes, broker restarts and rebalances, on real Kafka.

Each test streams 100,000 events over 10 chains and 4 partitions while something goes
wrong, then checks what is in the sealed topic: every event exactly once, every chain
contiguous from seq 0, every MAC and every signed checkpoint valid.
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
CHAINS = 10
PARTITIONS = 4
RATE = 5_000


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    yield
    while Worker.started:
        Worker.started.pop().stop(timeout=10)


@pytest.fixture
def setup(kafka_bootstrap: str, tmp_path: Path) -> tuple[Topics, Keys]:
    return create_pipeline(kafka_bootstrap, PARTITIONS, tmp_path)


def assert_exactly_once(
    bootstrap: str, topics: Topics, keys: Keys, feed: Feed, workers: list[Worker]
) -> None:
    result = check_sealed(bootstrap, topics, keys, expected=EVENTS)
    assert result.problems(feed.event_ids) == []
    assert result.sealed == EVENTS
    assert len(result.reports) == CHAINS
    assert all(r.checkpoints_verified > 0 for r in result.reports.values())
    assert not [e for w in workers for e in w.errors()]


def test_kill_minus_nine_five_times(
    kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path
) -> None:
    topics, keys = setup
    rng = random.Random(20261122)
    app_id = unique("proc")
    supervisor = Supervisor(
        lambda name: Worker(kafka_bootstrap, keys, topics, tmp_path, name, app_id)
    )
    feed = Feed(kafka_bootstrap, topics.raw, EVENTS, CHAINS, RATE).start()
    for _ in range(5):
        supervisor.current.wait_batches(rng.randint(5, 40))
        time.sleep(rng.uniform(0, 1.0))
        supervisor.kill_and_wait_replacement()
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, supervisor.workers)
        assert len(supervisor.workers) >= 6
    finally:
        supervisor.stop()


def test_broker_restart_mid_stream(
    infra: Infra, kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path
) -> None:
    topics, keys = setup
    app_id = unique("proc")
    supervisor = Supervisor(
        lambda name: Worker(kafka_bootstrap, keys, topics, tmp_path, name, app_id)
    )
    feed = Feed(kafka_bootstrap, topics.raw, EVENTS, CHAINS, RATE).start()
    supervisor.current.wait_batches(20)
    infra.restart_kafka(down_for=5)
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, supervisor.workers)
    finally:
        supervisor.stop()


def test_rebalance_when_one_of_two_workers_dies(
    kafka_bootstrap: str, setup: tuple[Topics, Keys], tmp_path: Path
) -> None:
    topics, keys = setup
    app_id = unique("proc")
    survivor = Supervisor(
        lambda name: Worker(kafka_bootstrap, keys, topics, tmp_path, name, app_id), "a"
    )
    doomed = Worker(kafka_bootstrap, keys, topics, tmp_path, "b", app_id)
    doomed.wait_ready()
    feed = Feed(kafka_bootstrap, topics.raw, EVENTS, CHAINS, RATE).start()
    doomed.wait_batches(20)
    doomed.kill()
    feed.join()
    try:
        assert_exactly_once(kafka_bootstrap, topics, keys, feed, [*survivor.workers, doomed])
    finally:
        survivor.stop()
