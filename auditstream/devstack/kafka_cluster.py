"""A local KRaft cluster of several Kafka nodes from the same jars as the single broker.

Every node is both broker and controller (a static quorum of all nodes), on its own free
ports, with its data, log and pid under `<state>/kafka-cluster/node-<id>/`. Topics get
the production replication settings: as many copies as nodes (at most three), and a
write needs all but one of them (`min.insync.replicas`). The cluster is plain text;
`devstack.kafka` has the secured single broker.

The fault tests stop, kill and restart single nodes (`kill_node`, `start_node`) and ask
which node leads a partition or the metadata quorum.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from auditstream.devstack import procs
from auditstream.devstack.build import KAFKA_VERSION, kafka_jars
from auditstream.devstack.kafka import (
    DEFAULT_HEAP,
    HEAP_ENV,
    KafkaInfo,
    java_command,
    new_cluster_id,
)
from auditstream.devstack.paths import resource
from auditstream.settings.connection import KafkaConnection

MAX_REPLICATION = 3
LAST_NODE_GRACE_S = 10.0


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Cluster:
    """What `<state>/kafka-cluster/cluster.json` records: enough to restart any node."""

    cluster_id: str
    version: str
    nodes: tuple[Node, ...]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> Node:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise procs.ServiceError(f"the cluster has no node {node_id}")


def home(state: Path) -> Path:
    return state / "kafka-cluster"


def _node_home(state: Path, node_id: int) -> Path:
    return home(state) / f"node-{node_id}"


def load(state: Path) -> Cluster | None:
    try:
        doc = json.loads((home(state) / "cluster.json").read_text())
        nodes = tuple(Node(**node) for node in doc.pop("nodes"))
        return Cluster(nodes=nodes, **doc)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def require(state: Path) -> Cluster:
    cluster = load(state)
    if cluster is None:
        raise procs.ServiceError(f"no Kafka cluster in {home(state)}")
    return cluster


def start(
    state: Path,
    *,
    brokers: int = 3,
    version: str = KAFKA_VERSION,
    timeout: float = 240.0,
    niceness: int = 0,
) -> KafkaInfo:
    """Start every node of the cluster (formatting storage the first time) and wait
    until each answers and the cluster has all its brokers. Idempotent: running nodes
    are left alone, stopped ones are started on their previous ports."""
    if brokers < 2:
        raise procs.ServiceError("a cluster needs at least two brokers; use devstack.kafka")
    cluster = load(state)
    if cluster is not None and len(cluster.nodes) != brokers:
        raise procs.ServiceError(
            f"{home(state)} holds a cluster of {len(cluster.nodes)} brokers, not {brokers}; "
            "use another state folder"
        )
    if cluster is None:
        nodes = tuple(Node(i, procs.free_port(), procs.free_port()) for i in range(1, brokers + 1))
        cluster = Cluster(new_cluster_id(), version, nodes)
        home(state).mkdir(parents=True, exist_ok=True)
        doc = asdict(cluster)
        (home(state) / "cluster.json").write_text(json.dumps(doc, indent=2))
    for node in cluster.nodes:
        if not _node_alive(state, node.node_id):
            _launch(state, cluster, node, niceness)
    wait_ready(state, timeout=timeout)
    return info(state, cluster)


def info(state: Path, cluster: Cluster) -> KafkaInfo:
    first = cluster.nodes[0]
    return KafkaInfo(
        procs.read_pid(_node_home(state, first.node_id) / "broker.pid") or 0,
        cluster.bootstrap,
        first.controller_port,
        cluster.version,
        str(_node_home(state, first.node_id) / "broker.log"),
        brokers=len(cluster.nodes),
    )


def node_config(state: Path, cluster: Cluster, node: Node) -> Path:
    """Write `node`'s server.properties (its ids, ports, the quorum, replication)."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster.nodes)
    replication = min(MAX_REPLICATION, len(cluster.nodes))
    text = (
        resource("kafka-cluster.properties")
        .read_text()
        .format(
            node_id=node.node_id,
            voters=voters,
            port=node.port,
            controller_port=node.controller_port,
            log_dir=_node_home(state, node.node_id) / "data",
            replication=replication,
            min_insync=replication - 1,
        )
    )
    path = _node_home(state, node.node_id) / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _launch(state: Path, cluster: Cluster, node: Node, niceness: int) -> int:
    jars = kafka_jars(cluster.version)
    where = _node_home(state, node.node_id)
    config = node_config(state, cluster, node)
    if not (where / "data" / "meta.properties").exists():
        argv = java_command(
            jars, "kafka.tools.StorageTool", "format", "-t", cluster.cluster_id,
            "-c", str(config), heap="256m",
        )  # fmt: skip
        pid = procs.start_detached(
            argv, log_file=where / "format.log", pid_file=where / "format.pid"
        )
        procs.wait_until(lambda: not procs.alive(pid), timeout=120, what="kafka storage format")
        if not (where / "data" / "meta.properties").exists():
            log = procs.tail(where / "format.log")
            raise procs.ServiceError(f"formatting node {node.node_id} failed:\n{log}")
    return procs.start_detached(
        java_command(jars, "kafka.Kafka", str(config), heap=os.environ.get(HEAP_ENV, DEFAULT_HEAP)),
        log_file=where / "broker.log",
        pid_file=where / "broker.pid",
        niceness=niceness,
    )


def _node_pid(state: Path, node_id: int) -> int | None:
    where = _node_home(state, node_id)
    pid = procs.read_pid(where / "broker.pid")
    return pid if pid is not None and procs.is_ours(pid, str(where)) else None


def _node_alive(state: Path, node_id: int) -> bool:
    return _node_pid(state, node_id) is not None


def brokers_in_metadata(bootstrap: str) -> set[int]:
    """The node ids the cluster's metadata lists as brokers (empty if nobody answers)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": 1000})
    try:
        return set(admin.list_topics(timeout=2.0).brokers)
    except Exception:  # any failure means "not ready yet"
        return set()


def wait_ready(state: Path, *, timeout: float = 240.0) -> None:
    """Until every node runs and the metadata lists all of them as brokers."""
    cluster = require(state)
    wanted = {node.node_id for node in cluster.nodes}

    def ready() -> bool:
        for node in cluster.nodes:
            # The pid file names the process just started: whether it lives is enough.
            # (Its command line, which `_node_alive` checks, can read empty while `nice`
            # executes java, and a live node would look dead.)
            pid = procs.read_pid(_node_home(state, node.node_id) / "broker.pid")
            if pid is None or not procs.alive(pid):
                log = _node_home(state, node.node_id) / "broker.log"
                raise procs.ServiceError(
                    f"Kafka node {node.node_id} exited; {log} ends:\n{procs.tail(log)}"
                )
        return brokers_in_metadata(cluster.bootstrap) == wanted

    procs.wait_until(ready, timeout=timeout, what=f"Kafka cluster on {cluster.bootstrap}")


def running(state: Path) -> KafkaInfo | None:
    """The cluster of this state folder, if all its nodes run and answer."""
    cluster = load(state)
    if cluster is None or not all(_node_alive(state, n.node_id) for n in cluster.nodes):
        return None
    if brokers_in_metadata(cluster.bootstrap) != {n.node_id for n in cluster.nodes}:
        return None
    return info(state, cluster)


def connection(state: Path) -> KafkaConnection:
    return KafkaConnection(require(state).bootstrap)


def kill_node(state: Path, node_id: int) -> None:
    """SIGKILL one node, as a machine crash would: no controlled shutdown."""
    pid = _node_pid(state, node_id)
    if pid is None:
        raise procs.ServiceError(f"Kafka node {node_id} is not running")
    os.kill(pid, signal.SIGKILL)
    procs.wait_until(lambda: not procs.alive(pid), timeout=30, what=f"killing node {node_id}")


def stop_node(state: Path, node_id: int, timeout: float = 60.0) -> bool:
    """Stop one node cleanly (SIGTERM: controlled shutdown, leadership moved away)."""
    pid = _node_pid(state, node_id)
    return pid is not None and procs.stop(pid, str(_node_home(state, node_id)), timeout=timeout)


def start_node(state: Path, node_id: int, *, niceness: int = 0, timeout: float = 240.0) -> None:
    """Start one stopped node on its ports, with its data, and wait for the cluster."""
    cluster = require(state)
    if not _node_alive(state, node_id):
        _launch(state, cluster, cluster.node(node_id), niceness)
    wait_ready(state, timeout=timeout)


def quorum_leader(state: Path) -> int | None:
    """The node that leads the metadata quorum (the active controller), as the running
    nodes last recorded it in their `quorum-state` files: the highest epoch's leader."""
    cluster = load(state)
    if cluster is None:
        return None
    best: tuple[int, int] | None = None
    for node in cluster.nodes:
        if not _node_alive(state, node.node_id):
            continue
        path = _node_home(state, node.node_id) / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        epoch, leader = int(doc.get("leaderEpoch", -1)), int(doc.get("leaderId", -1))
        if leader >= 0 and (best is None or epoch > best[0]):
            best = (epoch, leader)
    return None if best is None else best[1]


def partition_leader(bootstrap: str, topic: str, partition: int) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    metadata = admin.list_topics(topic, timeout=10)
    leader: int = metadata.topics[topic].partitions[partition].leader
    return leader


def stop(state: Path) -> bool:
    """Stop every node (only processes of this state folder). True if any ran.

    One after another, each with a controlled shutdown, while the others still form a
    quorum; the last one alone has no quorum to confirm its shutdown with and would wait
    for it, so it gets LAST_NODE_GRACE_S before SIGKILL (its data is on disk; the next
    start checks its logs)."""
    cluster = load(state)
    if cluster is None:
        return False
    *first, last = cluster.nodes
    stopped = [stop_node(state, node.node_id) for node in first]
    stopped.append(stop_node(state, last.node_id, timeout=LAST_NODE_GRACE_S))
    return any(stopped)
