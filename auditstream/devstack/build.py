"""Fetching and building what the local services run, once, into the shared cache.

Concurrent callers (two test runs) serialize on a lock file; results are moved into
place atomically, so a half-finished download or build is never used.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from auditstream.devstack.paths import cache_dir, resource
from auditstream.devstack.procs import ServiceError

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
# MinIO publishes no semver tags; the module proxy serves commits as pseudo-versions.
# This is the last upstream commit (after RELEASE.2025-10-15T17-29-55Z).
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
# litewitness, a C2SP tlog-witness; the last release that builds with Go 1.26.
TORCHWOOD_VERSION = "v0.6.1"
WITNESS_COMMANDS = ("litewitness", "witnessctl")


@contextmanager
def _locked(name: str) -> Iterator[None]:
    lock_path = cache_dir() / "locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], *, env: dict[str, str], what: str, cwd: Path | None = None) -> None:
    log.info("%s: %s", what, " ".join(argv))
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv
            argv, env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise ServiceError(f"{what}: {argv[0]} is not installed") from exc
    if proc.returncode != 0:
        raise ServiceError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Folder with every jar the broker needs, fetched with Maven from the pinned pom."""
    target = cache_dir() / "kafka" / version / "jars"
    if (target / ".complete").exists():
        return target
    with _locked(f"kafka-{version}"):
        if (target / ".complete").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="jars-", dir=target.parent))
        env = dict(os.environ)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(resource("kafka-pom.xml")),
                f"-Dmaven.repo.local={cache_dir() / 'maven'}",
                f"-Dkafka.version={version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            env=env,
            what=f"fetching Kafka {version} jars",
        )
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Maven fetched no kafka_2.13 jar into {staging}")
        (staging / ".complete").write_text(version)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def minio_binary(version: str = MINIO_VERSION) -> Path:
    """The MinIO server binary, built once with `go install` (takes minutes cold)."""
    target = cache_dir() / "minio" / version
    go_install(target, [f"github.com/minio/minio@{version}"], ["minio"], f"MinIO {version}")
    return target / "minio"


def witness_binaries(version: str = TORCHWOOD_VERSION) -> Path:
    """Folder with `litewitness` and `witnessctl` (a C2SP tlog-witness and its admin
    tool, from filippo.io/torchwood), built once with `go install`."""
    target = cache_dir() / "torchwood" / version
    packages = [f"filippo.io/torchwood/cmd/{name}@{version}" for name in WITNESS_COMMANDS]
    go_install(target, packages, list(WITNESS_COMMANDS), f"litewitness {version}")
    return target


def go_install(
    target: Path, packages: list[str], binaries: list[str], what: str, *, cwd: Path | None = None
) -> None:
    """`go install` the packages (module@version, or `.` in `cwd`) unless every one of
    `binaries` is in the folder `target` already. Each binary is built in a staging
    folder and moved into place; the module and build caches (gigabytes for MinIO) are
    removed afterwards."""
    if all((target / name).exists() for name in binaries):
        return
    with _locked(target.relative_to(cache_dir()).as_posix().replace("/", "-")):
        if all((target / name).exists() for name in binaries):
            return
        # Each build has its own module cache, so two builds never delete each other's.
        go_root = Path(tempfile.mkdtemp(prefix="go-", dir=cache_dir()))
        staging = Path(tempfile.mkdtemp(prefix="bin-", dir=cache_dir()))
        env = dict(
            os.environ,
            GOBIN=str(staging),
            GOPATH=str(go_root),
            GOMODCACHE=str(go_root / "pkg" / "mod"),
            GOCACHE=str(go_root / "build-cache"),
            GOFLAGS="-modcacherw",
            CGO_ENABLED="0",
            GOTOOLCHAIN="local",
        )
        try:
            _run(
                ["go", "install", "-ldflags=-s -w", *packages],
                env=env,
                what=f"building {what}",
                cwd=cwd,
            )
            target.mkdir(parents=True, exist_ok=True)
            for name in binaries:
                (staging / name).rename(target / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(go_root, ignore_errors=True)
