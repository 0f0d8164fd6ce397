"""A real headless Chromium (Debian's, installed by scripts/install_chromium.sh) driven
by Playwright through its executable path; a missing browser fails the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path(os.environ.get("AUDITSTREAM_CHROMIUM", "/usr/bin/chromium"))
# The flags this closed network needs: without the background-networking ones Chromium
# keeps dialling Google's hosts and getting refused.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS_ENV = "AUDITSTREAM_SCREENSHOTS"  # a folder, e.g. docs/console


# Module scope: Playwright's sync API keeps an event loop running in the main thread
# until it stops, and later tests call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser`", pytrace=False)
    with sync_playwright() as playwright:  # each launch gets a new, empty profile
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $AUDITSTREAM_SCREENSHOTS when set, else a scratch folder."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
