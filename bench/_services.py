"""Local services for benchmarks: reuse AUDITSTREAM_KAFKA_BOOTSTRAP if set, else start
a throwaway Kafka, one broker or a three-node cluster (and stop it afterwards), under a
temporary state folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from auditstream.devstack import kafka, kafka_cluster


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("AUDITSTREAM_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="as-bench-") as state:
        info = kafka.start(Path(state))
        try:
            yield info.bootstrap
        finally:
            kafka.stop(Path(state))


@contextlib.contextmanager
def cluster_bootstrap() -> Iterator[str]:
    """AUDITSTREAM_KAFKA_BOOTSTRAP if set (a cluster you run), else a local three-node one."""
    given = os.environ.get("AUDITSTREAM_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="as-bench-cluster-") as state:
        info = kafka_cluster.start(Path(state), brokers=3)
        try:
            yield info.bootstrap
        finally:
            kafka_cluster.stop(Path(state))
