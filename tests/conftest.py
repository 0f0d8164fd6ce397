"""Shared fixtures: the real lokryn packages, and real services (tests/support/infra.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.archive import s3
from auditstream.settings.config import S3Settings
from tests.support.infra import Infra, clickhouse_client, session_infra, unique
from tests.support.lokryn import Lokryn


@pytest.fixture(scope="session")
def lokryn_v011() -> Lokryn:
    return Lokryn("0.1.1")


@pytest.fixture(scope="session")
def lokryn_v020() -> Lokryn:
    return Lokryn("0.2.0")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    # Short path: MinIO and Kafka put it into command lines and socket paths.
    with (
        tempfile.TemporaryDirectory(prefix="as-test-") as state,
        session_infra(Path(state)) as services,
    ):
        yield services


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap()


@pytest.fixture(scope="session")
def s3_settings(infra: Infra) -> S3Settings:
    return infra.s3()


@pytest.fixture
def lock_bucket(s3_settings: S3Settings) -> str:
    """A new bucket with versioning and Object Lock, made by the project's own code."""
    name = unique("as-test")
    s3.ensure_lock_bucket(s3.client(s3_settings), name)
    return name


@pytest.fixture(scope="session")
def clickhouse(infra: Infra) -> Any:
    """A clickhouse-connect client for this process (one chdb path per session)."""
    return clickhouse_client(infra.clickhouse_dsn())


@pytest.fixture
def ch_database(clickhouse: Any) -> Iterator[str]:
    name = unique("test").replace("-", "_")
    clickhouse.command(f"CREATE DATABASE {name}")
    yield name
    clickhouse.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def topic_name() -> str:
    return unique("test.topic")
