"""The processor (`auditstream worker`) as a child process of the demo, stopped by pid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from auditstream.cli.demo.keys import DemoKeys
from auditstream.devstack import procs
from auditstream.errors import DemoError
from auditstream.settings.config import Topics, kafka_environment
from auditstream.settings.connection import KafkaConnection

WORKER_READY = "Worker ready"


class DemoWorker:
    """The processor as a child process in its own session, stopped by pid."""

    def __init__(self, pid: int, home: Path, log: Path) -> None:
        self.pid, self.home, self.log = pid, home, log

    @classmethod
    def start(
        cls, home: Path, kafka: KafkaConnection, topics: Topics, keys: DemoKeys, run: str
    ) -> DemoWorker:
        home.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            **kafka_environment(kafka),
            AUDITSTREAM_TOPIC_RAW=topics.raw,
            AUDITSTREAM_TOPIC_SEALED=topics.sealed,
            AUDITSTREAM_TOPIC_CHECKPOINTS=topics.checkpoints,
            AUDITSTREAM_TOPIC_DEADLETTER=topics.deadletter,
            AUDITSTREAM_TOPIC_STATE=topics.state,
            AUDITSTREAM_TOPIC_PARTITIONS=str(topics.partitions),
        )
        argv = [
            sys.executable, "-m", "auditstream", "worker",
            "--state-dir", str(home / "worker"),
            "--app-id", f"demo-{run}",
            "--hmac-keys", str(keys.hmac),
            "--checkpoint-key", str(keys.signer),
            "--content-keys", str(keys.content),
            "--dead-letter-key", str(keys.dead_letter_public),
            # Rounds of 1,000 (the default is 10,000): a checkpoint closes a round, so a
            # demo's few thousand events give each chain several checkpoints to show.
            "--batch-size", "1000",
            "--checkpoint-every", "1000",
            "--checkpoint-interval", "2",
        ]  # fmt: skip
        log = home / "worker.log"
        pid = procs.start_detached(argv, log_file=log, pid_file=home / "worker.pid", env=env)
        return cls(pid, home, log)

    def ensure_alive(self) -> None:
        if not procs.alive(self.pid):
            raise DemoError(f"the processor exited; its log:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            return WORKER_READY in self.log.read_text(errors="replace")
        except OSError:
            return False

    def log_tail(self) -> str:
        return procs.tail(self.log, 30)

    def stop(self) -> None:
        procs.stop(self.pid, str(self.home), timeout=20)
