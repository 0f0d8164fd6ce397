"""The worker: a Faust application whose one task runs the sealing loop.

Faust is the application around the hot path — the `auditstream worker` process, its
lifecycle, signals and graceful shutdown, its logging. Raw records do not go through
Faust's streams: its per-event machinery costs more than all the sealing work
(docs/decisions/0011-worker-hot-path-on-librdkafka.md). They are consumed, sealed and
published exactly once by `processors.loop.SealingLoop`, in a thread the app's task
owns; a stop of the app stops the loop between two transactions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from aiokafka.conn import AbstractTokenProvider
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from auditstream.core.classify import Classifier
from auditstream.core.content import DigestPolicy
from auditstream.core.deadletter import DeadLetterRecipient
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.retention import Policy
from auditstream.core.validate import Limits, Validator
from auditstream.privacy.protect import SubjectProtection
from auditstream.processors import DEFAULT_BATCH_SIZE
from auditstream.processors.engine import EngineConfig, PartitionSealer
from auditstream.processors.loop import LoopConfig, SealingLoop, fail_stop
from auditstream.processors.recovery import read_partition_state
from auditstream.processors.topics import replication_factor
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    kafka: KafkaConnection
    topics: Topics
    keyring: Keyring
    signer: NoteSigner
    content: DigestPolicy
    policy: Policy
    state_dir: Path
    # Dead-letter originals are kept only encrypted for this key (None: not kept).
    dead_letters: DeadLetterRecipient | None = None
    app_id: str = "auditstream-processor"
    engine: EngineConfig = field(default_factory=EngineConfig)
    limits: Limits = field(default_factory=Limits)
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_within_s: float = 0.05
    # A member that died is noticed after this long; then its partitions move.
    session_timeout_s: float = 10.0
    recovery_timeout_s: float = 300.0
    # Records waiting and none consumed for this long: the worker is wedged and exits.
    stall_timeout_s: float = 60.0
    # Unique per running worker; the group's metadata fences a worker that lost its
    # partitions (KIP-447), so it need not be stable across restarts. A stable one (a
    # pod's name) lets a restarted worker take over at once: its transactional id
    # aborts its predecessor's open transaction, and its Faust consumer is a static
    # member that replaces its predecessor without waiting out a session.
    instance_id: str = ""
    # Personal fields encrypted under per-subject keys (None: sealed in clear).
    protection: SubjectProtection | None = None

    @property
    def transactional_id(self) -> str:
        instance = self.instance_id or f"{socket.gethostname()}-{os.getpid()}"
        return f"{self.app_id}-{instance}"


class Sealer:
    """What the loop needs to rebuild a partition's engine, and the loop itself."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._validator = Validator(config.limits, config.content)
        self._classifier = Classifier(dead_letters=config.dead_letters)
        self.loop = SealingLoop(
            LoopConfig(
                kafka=config.kafka,
                topics=config.topics,
                group_id=config.app_id,
                transactional_id=config.transactional_id,
                batch_size=config.batch_size,
                batch_within_s=config.batch_within_s,
                session_timeout_s=config.session_timeout_s,
                recovery_timeout_s=config.recovery_timeout_s,
                stall_timeout_s=config.stall_timeout_s,
            ),
            self.restore,
        )

    def restore(self, partition: int) -> PartitionSealer:
        """A partition's engine, with the state Kafka holds for it."""
        config = self.config
        engine = PartitionSealer(
            partition,
            keyring=config.keyring,
            signer=config.signer,
            validator=self._validator,
            classifier=self._classifier,
            policy=config.policy,
            config=config.engine,
            protection=config.protection,
        )
        state = read_partition_state(
            config.kafka,
            state_topic=config.topics.state,
            sealed_topic=config.topics.sealed,
            checkpoints_topic=config.topics.checkpoints,
            partition=partition,
            tail_entries=max(config.engine.dedupe_window, 4 * config.batch_size),
            tail_since_ns=config.engine.tail_since_ns,
            timeout=config.recovery_timeout_s,
        )
        engine.restore(state.snapshots, state.tail, state.checkpoints)
        return engine

    def run_guarded(self, stop: threading.Event) -> None:
        """The loop; any exception out of it, or a round that hangs, stops the process
        (`fail_stop`)."""
        done = threading.Event()
        threading.Thread(
            target=self._watch, args=(done,), name="sealing-watchdog", daemon=True
        ).start()
        try:
            self.loop.run(stop)
        except BaseException:
            fail_stop("sealing failed")
        finally:
            done.set()

    def _watch(self, done: threading.Event) -> None:
        limit = self.loop.config.hang_timeout_s
        while not done.wait(min(5.0, limit / 4)):
            if time.monotonic() - self.loop.heartbeat > limit:
                fail_stop(f"a round of the sealing loop has not finished for {limit:.0f} s")


def faust_app(
    app_id: str,
    kafka: KafkaConnection,
    state_dir: Path,
    replication_factor: int = 1,
    **settings: Any,
) -> faust.App:
    """The worker's Faust application (`settings` add to its Faust settings; the
    benches use them to give a no-op stream the settings a stream would need)."""
    return faust.App(
        app_id,
        broker=f"kafka://{kafka.bootstrap}",
        broker_credentials=faust_credentials(kafka),
        store="memory://",
        topic_replication_factor=replication_factor,
        datadir=str(state_dir / "faust"),
        web_enabled=False,
        autodiscover=False,
        **settings,
    )


def faust_credentials(kafka: KafkaConnection) -> CredentialsT | None:
    """The connection as Faust's `broker_credentials` (None for PLAINTEXT)."""
    context = kafka.ssl_context()
    if kafka.uses_sasl:
        if kafka.sasl_mechanism == "OAUTHBEARER":
            return OAuthCredentials(oauth_cb=_TokenProvider(kafka), ssl_context=context)
        return SASLCredentials(
            username=kafka.username,
            password=kafka.password.reveal(),
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    return None if context is None else SSLCredentials(context)


class _TokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """aiokafka's form of the connection's OAUTHBEARER token callback."""

    def __init__(self, kafka: KafkaConnection) -> None:
        assert kafka.token_provider is not None  # KafkaConnection.check() requires it
        self._provider = kafka.token_provider

    async def token(self) -> str:
        return self._provider()[0]


def group_settings(config: WorkerConfig) -> dict[str, Any]:
    """Faust settings of the app's own consumer group. Faust starts the app's tasks (the
    sealing loop among them) only once that consumer has joined, which waits out the
    session of a member that died: its session is the worker's (Faust's default, 60 s,
    kept every restarted worker from sealing for a minute). With a stable instance id it
    is a static member, which its replacement takes over without waiting at all."""
    return {
        "broker_session_timeout": config.session_timeout_s,
        "broker_heartbeat_interval": min(3.0, config.session_timeout_s / 3),
        "consumer_group_instance_id": config.transactional_id if config.instance_id else None,
    }


def build_app(config: WorkerConfig) -> tuple[faust.App, Sealer]:
    # The app's own id must not be the sealing consumer's group: Faust's consumer joins
    # its group with Faust's assignor, which librdkafka's members cannot share.
    # Faust's own topic gets as many copies as the pipeline's (it needs a number).
    copies = replication_factor(config.kafka, config.topics)
    app = faust_app(
        f"{config.app_id}-app", config.kafka, config.state_dir, copies, **group_settings(config)
    )
    sealer = Sealer(config)

    async def seal() -> None:
        stop = threading.Event()
        running = asyncio.get_running_loop().run_in_executor(None, sealer.run_guarded, stop)
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            # The app is stopping: let the loop finish the transaction it is in.
            stop.set()
            await asyncio.wait_for(asyncio.shield(running), config.recovery_timeout_s)
            raise

    app.task(seal)
    return app, sealer
