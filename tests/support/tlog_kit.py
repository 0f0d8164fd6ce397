"""The generic C2SP client the acceptance tests check the archive's logs with:
tests/support/tlogcheck (filippo.io/torchwood and golang.org/x/mod/sumdb), built once
into the cache with `go install`, keyed by a hash of its sources."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from auditstream.devstack.build import cache_dir, go_install

SOURCE = Path(__file__).resolve().parent / "tlogcheck"


def tlogcheck_binary() -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    target = cache_dir() / "tlogcheck" / digest.hexdigest()[:16]
    go_install(target, ["."], ["tlogcheck"], "tlogcheck", cwd=SOURCE)
    return target / "tlogcheck"


def tlogcheck(
    log_url: str, vkey: str, origin: str, indexes: list[int], history: list[str]
) -> tuple[int, dict[str, Any] | None, str]:
    """Exit code, the JSON result (None on failure) and stderr of one tlogcheck run."""
    argv = [str(tlogcheck_binary()), "-log", log_url, "-vkey", vkey, "-origin", origin]
    argv += [a for i in indexes for a in ("-index", str(i))]
    argv += [a for h in history for a in ("-history", h)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    result = json.loads(done.stdout) if done.returncode == 0 else None
    return done.returncode, result, done.stderr
