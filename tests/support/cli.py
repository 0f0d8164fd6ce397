"""Running `python -m auditstream` as a user would, from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(
    argv: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The command's exit code and output; never raises on a failing command."""
    return subprocess.run(
        [sys.executable, "-m", "auditstream", *argv],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
