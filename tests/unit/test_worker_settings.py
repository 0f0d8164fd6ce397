"""The worker's Faust settings: its app's group must not hold a restarted worker back."""

from __future__ import annotations

from pathlib import Path

import faust

from auditstream.processors.app import WorkerConfig, faust_app, group_settings
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from tests.support.chains import KEYRING, SIGNER
from tests.support.engine_kit import CONTENT, POLICY


def config(tmp_path: Path, **fields: object) -> WorkerConfig:
    return WorkerConfig(
        kafka=KafkaConnection("127.0.0.1:9"),
        topics=Topics(),
        keyring=KEYRING,
        signer=SIGNER,
        content=CONTENT,
        policy=POLICY,
        state_dir=tmp_path,
        **fields,  # type: ignore[arg-type]
    )


def app(worker: WorkerConfig) -> faust.App:
    return faust_app("proc-app", worker.kafka, worker.state_dir, 1, **group_settings(worker))


def test_the_apps_group_has_the_workers_session_not_fausts_minute(tmp_path: Path) -> None:
    conf = app(config(tmp_path, session_timeout_s=10.0)).conf
    assert conf.broker_session_timeout == 10.0
    assert conf.broker_heartbeat_interval == 3.0
    assert conf.broker_session_timeout < conf.broker_request_timeout  # Faust requires it
    assert app(config(tmp_path, session_timeout_s=6.0)).conf.broker_heartbeat_interval == 2.0


def test_a_stable_instance_id_makes_the_app_a_static_member(tmp_path: Path) -> None:
    stable = config(tmp_path, app_id="proc", instance_id="worker-0")
    assert app(stable).conf.consumer_group_instance_id == "proc-worker-0"
    assert stable.transactional_id == "proc-worker-0"
    per_process = config(tmp_path, app_id="proc")
    assert app(per_process).conf.consumer_group_instance_id is None
    assert per_process.transactional_id.startswith("proc-")
