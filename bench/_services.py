"""Local services for benchmarks: reuse AUDITSTREAM_KAFKA_BOOTSTRAP if set, else start
a throwaway Kafka, one broker or a three-node cluster (and stop it afterwards), under a
temporary state folder."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from auditstream.devstack import kafka, kafka_cluster
from auditstream.devstack.kafka import KafkaInfo


@contextlib.contextmanager
def _bootstrap(start: Callable[[Path], KafkaInfo], stop: Callable[[Path], object]) -> Iterator[str]:
    given = os.environ.get("AUDITSTREAM_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="as-bench-") as state:
        info = start(Path(state))
        try:
            yield info.bootstrap
        finally:
            stop(Path(state))


def kafka_bootstrap() -> contextlib.AbstractContextManager[str]:
    """One broker."""
    return _bootstrap(kafka.start, kafka.stop)


def cluster_bootstrap() -> contextlib.AbstractContextManager[str]:
    """A three-node cluster (a cluster you run when AUDITSTREAM_KAFKA_BOOTSTRAP is set)."""
    return _bootstrap(functools.partial(kafka_cluster.start, brokers=3), kafka_cluster.stop)
