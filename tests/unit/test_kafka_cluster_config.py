"""The local Kafka cluster's node configuration and the stack's refusals, without
starting a broker (tests/cluster runs the cluster itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditstream.devstack import kafka_cluster, stack
from auditstream.errors import ConfigError


def properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def three_nodes() -> kafka_cluster.Cluster:
    nodes = tuple(kafka_cluster.Node(i, 9000 + i, 9100 + i) for i in (1, 2, 3))
    return kafka_cluster.Cluster("abc", "4.4.0", nodes)


def test_every_node_knows_the_whole_quorum_and_the_production_replication(
    tmp_path: Path,
) -> None:
    cluster = three_nodes()
    for node in cluster.nodes:
        config = kafka_cluster.node_config(tmp_path, cluster, node)
        props = properties(config.read_text())
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == (
            "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
        )
        assert props["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        )
        assert props["log.dirs"] == str(
            tmp_path / "kafka-cluster" / f"node-{node.node_id}" / "data"
        )
        for name in (
            "default.replication.factor",
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
        ):
            assert props[name] == "3", name
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
        assert props["unclean.leader.election.enable"] == "false"
    assert cluster.bootstrap == "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003"


def test_a_two_node_cluster_asks_for_two_copies_and_one_in_sync(tmp_path: Path) -> None:
    nodes = tuple(kafka_cluster.Node(i, 9000 + i, 9100 + i) for i in (1, 2))
    cluster = kafka_cluster.Cluster("abc", "4.4.0", nodes)
    props = properties(kafka_cluster.node_config(tmp_path, cluster, nodes[0]).read_text())
    assert props["default.replication.factor"] == "2"
    assert props["min.insync.replicas"] == "1"


def test_a_state_folder_keeps_its_kafka_shape(tmp_path: Path) -> None:
    (tmp_path / "single" / "kafka").mkdir(parents=True)
    with pytest.raises(ConfigError, match="holds a single broker"):
        stack.up(tmp_path / "single", with_minio=False, brokers=3)
    clustered = tmp_path / "clustered"
    kafka_cluster.home(clustered).mkdir(parents=True)
    doc = {"cluster_id": "abc", "version": "4.4.0", "nodes": [
        {"node_id": i, "port": 9000 + i, "controller_port": 9100 + i} for i in (1, 2, 3)
    ]}  # fmt: skip
    (kafka_cluster.home(clustered) / "cluster.json").write_text(json.dumps(doc))
    assert kafka_cluster.load(clustered) == three_nodes()
    with pytest.raises(ConfigError, match="pass --brokers 3"):
        stack.up(clustered, with_minio=False)
    with pytest.raises(ConfigError, match="a secured cluster is not built"):
        stack.up(clustered, with_minio=False, secure=True, brokers=3)
    with pytest.raises(ConfigError, match="at least one broker"):
        stack.up(clustered, with_minio=False, brokers=0)
