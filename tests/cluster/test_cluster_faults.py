"""The pipeline on a three-node KRaft cluster (replication factor 3, min.insync.replicas 2)
while its brokers fail: the leader of the busiest raw partition killed, the active
controller killed, a rolling restart of all three, the whole cluster down for 20 s.

Each fault test streams events over 4 partitions to 10 chains while a supervised worker
seals them, then checks the sealed topic: every event exactly once, every chain
contiguous from seq 0, every MAC and signed checkpoint valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from auditstream.devstack import kafka_cluster
from auditstream.devstack.kafka import KafkaInfo
from auditstream.processors.topics import pipeline_topics, replication_factor
from auditstream.settings.connection import KafkaConnection
from tests.support.infra import BROKER_NICENESS, BROKER_START_S, Infra, unique
from tests.support.pipeline import (
    Feed,
    Supervisor,
    Topics,
    Worker,
    check_sealed,
    create_pipeline,
)

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.slow]

EVENTS = 40_000
RATE = 2_500
PARTITIONS = 4
CHAINS = 10

Fault = Callable[[Path, str, Topics], None]


@pytest.fixture(scope="module")
def cluster(infra: Infra) -> tuple[Path, KafkaInfo]:
    return infra.kafka_cluster()


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    yield
    while Worker.started:
        Worker.started.pop().stop(timeout=10)


def start_node(state: Path, node_id: int) -> None:
    kafka_cluster.start_node(state, node_id, niceness=BROKER_NICENESS, timeout=BROKER_START_S)


def restart_stopped(state: Path) -> None:
    """Start every node that is down (on its ports, with its data); wait for all."""
    kafka_cluster.start(state, brokers=3, niceness=BROKER_NICENESS, timeout=BROKER_START_S)


def wait_in_sync(bootstrap: str, topic_names: list[str], timeout: float = 180) -> None:
    """Until every partition of the topics has all its replicas in sync again."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=10)
        lagging = [
            (name, p.id)
            for name in topic_names
            for p in metadata.topics[name].partitions.values()
            if len(p.isrs) < len(p.replicas)
        ]
        if not lagging:
            return
        time.sleep(0.5)
    pytest.fail(f"replicas not back in sync after {timeout:.0f} s: {lagging[:5]}")


def busiest_partition(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("peek")})
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()
    return max(ends, key=lambda p: ends[p])


def run_through(cluster: tuple[Path, KafkaInfo], tmp_path: Path, fault: Fault) -> None:
    """Stream while `fault` strikes, then check exactly-once on the sealed topic."""
    state, info = cluster
    bootstrap = info.bootstrap
    topics, keys = create_pipeline(bootstrap, PARTITIONS, tmp_path)
    app_id = unique("proc")
    supervisor = Supervisor(lambda name: Worker(bootstrap, keys, topics, tmp_path, name, app_id))
    try:
        feed = Feed(bootstrap, topics.raw, EVENTS, CHAINS, RATE).start()
        # Strike a worker in its stride: its group joined, transactions committed.
        supervisor.current.wait_batches(5, what="transactions")
        fault(state, bootstrap, topics)
        feed.join()
        result = check_sealed(bootstrap, topics, keys, expected=EVENTS)
        assert result.problems(feed.event_ids) == []
        assert result.sealed == EVENTS
        assert set(result.reports) == feed.chain_ids
        assert all(r.checkpoints_verified > 0 for r in result.reports.values())
        assert not [e for w in supervisor.workers for e in w.errors()]
    finally:
        supervisor.stop()
        names = [spec.name for spec in pipeline_topics(topics.settings())]
        restart_stopped(state)  # a failed fault may leave some down
        wait_in_sync(bootstrap, names)


def test_pipeline_topics_take_the_clusters_replication(
    cluster: tuple[Path, KafkaInfo], tmp_path: Path
) -> None:
    _, info = cluster
    topics, _ = create_pipeline(info.bootstrap, PARTITIONS, tmp_path)
    admin = AdminClient({"bootstrap.servers": info.bootstrap})
    metadata = admin.list_topics(timeout=10)
    names = [spec.name for spec in pipeline_topics(topics.settings())]
    for name in names:
        for partition in metadata.topics[name].partitions.values():
            assert len(partition.replicas) == 3, (name, partition.id)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2", resource
    assert replication_factor(KafkaConnection(info.bootstrap), topics.settings()) == 3


def test_the_leader_of_the_busiest_raw_partition_killed(
    cluster: tuple[Path, KafkaInfo], tmp_path: Path
) -> None:
    def kill_leader(state: Path, bootstrap: str, topics: Topics) -> None:
        partition = busiest_partition(bootstrap, topics.raw)
        leader = kafka_cluster.partition_leader(bootstrap, topics.raw, partition)
        kafka_cluster.kill_node(state, leader)
        # The controller moves leadership once the dead broker's session expires
        # (broker.session.timeout.ms, 9 s by default).
        deadline = time.monotonic() + 60
        while kafka_cluster.partition_leader(bootstrap, topics.raw, partition) in (-1, leader):
            assert time.monotonic() < deadline, "the partition got no new leader"
            time.sleep(0.5)
        start_node(state, leader)

    run_through(cluster, tmp_path, kill_leader)


def test_the_active_controller_killed(cluster: tuple[Path, KafkaInfo], tmp_path: Path) -> None:
    def kill_controller(state: Path, bootstrap: str, topics: Topics) -> None:
        controller = kafka_cluster.quorum_leader(state)
        assert controller is not None
        kafka_cluster.kill_node(state, controller)
        deadline = time.monotonic() + 60
        while kafka_cluster.quorum_leader(state) in (None, controller):
            assert time.monotonic() < deadline, "no new controller was elected"
            time.sleep(0.2)
        start_node(state, controller)

    run_through(cluster, tmp_path, kill_controller)


def test_a_rolling_restart_of_every_broker(cluster: tuple[Path, KafkaInfo], tmp_path: Path) -> None:
    def rolling_restart(state: Path, bootstrap: str, topics: Topics) -> None:
        names = [spec.name for spec in pipeline_topics(topics.settings())]
        for node in kafka_cluster.require(state).nodes:
            assert kafka_cluster.stop_node(state, node.node_id)
            start_node(state, node.node_id)
            wait_in_sync(bootstrap, names)  # as an operator would, before the next

    run_through(cluster, tmp_path, rolling_restart)


def test_the_whole_cluster_down_for_twenty_seconds(
    cluster: tuple[Path, KafkaInfo], tmp_path: Path
) -> None:
    def outage(state: Path, bootstrap: str, topics: Topics) -> None:
        for node in kafka_cluster.require(state).nodes:
            kafka_cluster.kill_node(state, node.node_id)
        time.sleep(20)
        restart_stopped(state)

    run_through(cluster, tmp_path, outage)
