"""The pipeline on a three-node KRaft cluster (replication factor 3, min.insync.replicas 2)
while its brokers fail: the leader of the busiest raw partition killed, the active
controller killed, a rolling restart of all three, the whole cluster down for 20 s.

Each fault test streams events over 4 partitions to 10 chains while a supervised worker
seals them and both sinks (ClickHouse, embedded, and the S3 archive on MinIO) store
them, each process restarted when it exits, as systemd would. Then: the sealed topic
holds every event exactly once, every chain contiguous from seq 0, every MAC and signed
checkpoint valid; and `auditstream verify` passes on the ClickHouse store and on the
archive, each holding every event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from auditstream.devstack import kafka_cluster
from auditstream.devstack.kafka import KafkaInfo
from auditstream.processors.topics import pipeline_topics, replication_factor
from auditstream.settings.config import S3Settings, kafka_environment
from auditstream.settings.connection import KafkaConnection
from tests.support.infra import BROKER_NICENESS, BROKER_START_S, Infra, s3_env, unique
from tests.support.pipeline import (
    REPO,
    Feed,
    Keys,
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


class Restarted:
    """An `auditstream` command kept running: started again whenever it exits (a sink
    that stops itself on a broker outage, as it should, is replaced)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.starts = 0
        self._stopping = threading.Event()
        self.proc = self._start()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "auditstream", *self.args],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            if self.proc.poll() is not None:
                self.proc = self._start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditstream", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` has committed past every record of `topic`: a reader placed at the
    group's offsets finds nothing before the end. (Offsets cannot be compared with the
    end offsets: a transactional topic ends with commit markers, which are not records.)"""
    probe = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,  # to read its offsets; it only assigns, never joins or commits
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = probe.committed(parts, timeout=10)
        probe.assign(
            [TopicPartition(topic, c.partition, c.offset if c.offset >= 0 else OFFSET_BEGINNING)
             for c in committed]
        )  # fmt: skip
        at_end: set[int] = set()
        deadline = time.monotonic() + 15
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            message = probe.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return False  # a record the group has not committed past
            if error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition())
        return len(at_end) == PARTITIONS
    finally:
        probe.close()


class Sinks:
    """Both sinks of one pipeline, each its own process, restarted when it exits."""

    def __init__(self, bootstrap: str, topics: Topics, s3: S3Settings, home: Path) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.env = {
            **os.environ,
            **kafka_environment(KafkaConnection(bootstrap)),
            **topics.env(),
            **s3_env(s3),
        }
        self.store = f"chdb://{home / 'clickhouse'}"
        self.archive = f"s3://{unique('as-cluster')}/a"
        self.groups = (unique("sink-ch"), unique("sink-s3"))
        made = cli(self.env, "archive", "init", "--archive", self.archive)
        assert made.returncode == 0, made.stderr[-2000:]
        self.running = [
            Restarted(
                ["sink", "clickhouse", "--clickhouse", self.store, "--group-id", self.groups[0]],
                self.env,
                home / "sink-clickhouse.log",
            ),
            Restarted(
                ["sink", "s3", "--archive", self.archive, "--group-id", self.groups[1],
                 "--max-entries", "5000", "--max-age", "1"],
                self.env,
                home / "sink-archive.log",
            ),
        ]  # fmt: skip

    def wait_stored(self, timeout: float = 300) -> None:
        """Until both groups have committed the whole sealed topic."""
        sealed = f"{self.topics.prefix}.sealed"
        deadline = time.monotonic() + timeout
        while not all(caught_up(self.bootstrap, g, sealed) for g in self.groups):
            assert time.monotonic() < deadline, "the sinks did not catch up"
            time.sleep(1)

    def stop(self) -> None:
        for sink in self.running:
            sink.stop()

    def verify(self, keys: Keys, home: Path, expected: int) -> None:
        """`auditstream verify` on each store: no finding, every event there."""
        exported = cli(self.env, "keys", "export-public", "--signer", str(keys.signer))
        assert exported.returncode == 0, exported.stderr
        public = home / "checkpoint.pub"
        public.write_text(exported.stdout)
        for store in (["--clickhouse", self.store], ["--archive", self.archive]):
            done = cli(
                self.env, "verify", *store, "--keys", str(keys.hmac),
                "--pubkey", str(public), "--json", "--no-progress",
            )  # fmt: skip
            assert done.returncode == 0, (store, done.stdout[-3000:], done.stderr[-3000:])
            report = json.loads(done.stdout)
            assert report["ok"] and report["entries"] == expected, (store, report["entries"])


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


def run_through(
    cluster: tuple[Path, KafkaInfo], s3: S3Settings, tmp_path: Path, fault: Fault
) -> None:
    """Stream while `fault` strikes, then check exactly-once on the sealed topic and
    verify both sinks' stores."""
    state, info = cluster
    bootstrap = info.bootstrap
    topics, keys = create_pipeline(bootstrap, PARTITIONS, tmp_path)
    app_id = unique("proc")
    supervisor = Supervisor(
        lambda name, slot: Worker(bootstrap, keys, topics, tmp_path, name, app_id, instance_id=slot)
    )
    sinks = Sinks(bootstrap, topics, s3, tmp_path)
    try:
        feed = Feed(bootstrap, topics.raw, EVENTS, CHAINS, RATE, spool=tmp_path / "spool").start()
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
        sinks.wait_stored()
        sinks.stop()
        sinks.verify(keys, tmp_path, EVENTS)
    finally:
        sinks.stop()
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
    names = [spec.name for spec in pipeline_topics(topics.settings())]
    deadline = time.monotonic() + 30
    # The broker that answers may learn of new topics a little after the one that did.
    while not set(names) <= set((metadata := admin.list_topics(timeout=10)).topics):
        assert time.monotonic() < deadline, "the topics are not in the metadata"
        time.sleep(0.2)
    for name in names:
        for partition in metadata.topics[name].partitions.values():
            assert len(partition.replicas) == 3, (name, partition.id)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2", resource
    assert replication_factor(KafkaConnection(info.bootstrap), topics.settings()) == 3


def test_the_leader_of_the_busiest_raw_partition_killed(
    cluster: tuple[Path, KafkaInfo], s3_settings: S3Settings, tmp_path: Path
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

    run_through(cluster, s3_settings, tmp_path, kill_leader)


def test_the_active_controller_killed(
    cluster: tuple[Path, KafkaInfo], s3_settings: S3Settings, tmp_path: Path
) -> None:
    def kill_controller(state: Path, bootstrap: str, topics: Topics) -> None:
        controller = kafka_cluster.quorum_leader(state)
        assert controller is not None
        kafka_cluster.kill_node(state, controller)
        deadline = time.monotonic() + 60
        while kafka_cluster.quorum_leader(state) in (None, controller):
            assert time.monotonic() < deadline, "no new controller was elected"
            time.sleep(0.2)
        start_node(state, controller)

    run_through(cluster, s3_settings, tmp_path, kill_controller)


def test_a_rolling_restart_of_every_broker(
    cluster: tuple[Path, KafkaInfo], s3_settings: S3Settings, tmp_path: Path
) -> None:
    def rolling_restart(state: Path, bootstrap: str, topics: Topics) -> None:
        names = [spec.name for spec in pipeline_topics(topics.settings())]
        for node in kafka_cluster.require(state).nodes:
            assert kafka_cluster.stop_node(state, node.node_id)
            start_node(state, node.node_id)
            wait_in_sync(bootstrap, names)  # as an operator would, before the next

    run_through(cluster, s3_settings, tmp_path, rolling_restart)


def test_the_whole_cluster_down_for_twenty_seconds(
    cluster: tuple[Path, KafkaInfo], s3_settings: S3Settings, tmp_path: Path
) -> None:
    def outage(state: Path, bootstrap: str, topics: Topics) -> None:
        for node in kafka_cluster.require(state).nodes:
            kafka_cluster.kill_node(state, node.node_id)
        time.sleep(20)
        restart_stopped(state)

    run_through(cluster, s3_settings, tmp_path, outage)
