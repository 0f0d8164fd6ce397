"""The real lokryn-compliance-log packages, each installed into its own folder.

They are test-only dependencies: installed on first use with pip into the cache
(`$AUDITSTREAM_CACHE_DIR`, default `.cache/` in the repository) and reused after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("lokryn_helper.py")


def cache_dir() -> Path:
    return Path(os.environ.get("AUDITSTREAM_CACHE_DIR", REPO / ".cache"))


def site(version: str) -> Path:
    target = cache_dir() / "lokryn" / version
    marker = target / ".installed"
    if not marker.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "--target",
                str(target),
                f"lokryn-compliance-log=={version}",
            ],
            check=True,
        )
        marker.write_text(version)
    return target


class Lokryn:
    """Runs tests/lokryn_helper.py with one lokryn version importable."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.path = site(version)

    def run(self, *args: str, payload: Any = None) -> Any:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(self.path), str(REPO)]))
        result = subprocess.run(
            [sys.executable, str(HELPER), *args],
            input=None if payload is None else json.dumps(payload),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"lokryn {self.version} helper failed:\n{result.stderr}")
        return json.loads(result.stdout)
