"""Shared fixtures. Infrastructure fixtures (Kafka, ClickHouse, S3) live in
tests/infra.py and are registered here."""

from __future__ import annotations

import pytest

from tests.lokryn import Lokryn


@pytest.fixture(scope="session")
def lokryn_v011() -> Lokryn:
    return Lokryn("0.1.1")


@pytest.fixture(scope="session")
def lokryn_v020() -> Lokryn:
    return Lokryn("0.2.0")
