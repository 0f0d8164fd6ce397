"""Subprocess for the kill -9 test: spools events while Kafka is unreachable, says
so, then waits to be killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.settings.connection import KafkaConnection


def main() -> None:
    spool, topic, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    # Nothing listens on port 9: every event stays in the spool.
    producer = AuditProducer(
        ProducerConfig(
            kafka=KafkaConnection("127.0.0.1:9"), topic=topic, spool_dir=spool, tenant_id="acme"
        )
    )
    ids = [
        producer.login(f"user-{n % 13}", resource="auth/login", message=f"login {n}")
        for n in range(count)
    ]
    (spool / "ids.txt").write_text("\n".join(ids))
    print("SPOOLED", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
