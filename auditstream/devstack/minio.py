"""A single-drive MinIO server (S3 with versioning and Object Lock), built from source."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from auditstream.devstack import procs
from auditstream.devstack.build import MINIO_VERSION, minio_binary
from auditstream.settings.config import S3Settings
from auditstream.settings.secret import Secret


@dataclass(frozen=True)
class MinioInfo:
    pid: int
    endpoint: str
    version: str
    log_file: str


def credentials(state: Path) -> tuple[str, Secret]:
    """Root credentials of this stack's MinIO, created on first use (file mode 600)."""
    path = state / "minio" / "credentials.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "access_key": "auditstream-" + secrets.token_hex(4),
            "secret_key": secrets.token_urlsafe(24),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle)
    doc = json.loads(path.read_text())
    return doc["access_key"], Secret(doc["secret_key"])


def server_ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/minio/health/ready", timeout=1) as resp:  # noqa: S310 - our endpoint
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def binary_version(binary: Path) -> str:
    """`go install` builds report DEVELOPMENT.GOGET; the pinned module version is truer."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return (
        first if first and "DEVELOPMENT" not in first else f"github.com/minio/minio@{MINIO_VERSION}"
    )


def start(state: Path, *, timeout: float = 60.0) -> MinioInfo:
    binary = minio_binary()
    home = state / "minio"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = credentials(state)
    port = procs.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        MINIO_ROOT_USER=access_key,
        MINIO_ROOT_PASSWORD=secret_key.reveal(),
        MINIO_SCANNER_SPEED="fastest",  # lifecycle rules apply within seconds, for tests
        MINIO_UPDATE="off",  # no update check against dl.min.io
        MINIO_BROWSER="off",  # no console listener
    )
    log_file = home / "minio.log"
    pid = procs.start_detached(
        [str(binary), "server", str(data), "--address", f"127.0.0.1:{port}", "--quiet"],
        log_file=log_file,
        pid_file=home / "minio.pid",
        env=env,
    )
    try:
        procs.wait_until(
            lambda: server_ready(endpoint),
            timeout=timeout,
            what=f"MinIO on {endpoint}",
            pid=pid,
            log_file=log_file,
        )
    except procs.ServiceError:
        procs.stop(pid, str(home))
        raise
    info = MinioInfo(pid, endpoint, binary_version(binary), str(log_file))
    (home / "minio.json").write_text(json.dumps(asdict(info)))
    return info


def running(state: Path) -> MinioInfo | None:
    home = state / "minio"
    try:
        info = MinioInfo(**json.loads((home / "minio.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if procs.is_ours(info.pid, str(home)) and server_ready(info.endpoint):
        return info
    return None


def stop(state: Path) -> bool:
    home = state / "minio"
    pid = procs.read_pid(home / "minio.pid")
    stopped = pid is not None and procs.stop(pid, str(home))
    (home / "minio.json").unlink(missing_ok=True)
    return stopped


def scoped_credentials(
    root: S3Settings, policy: dict[str, Any], *, seconds: int = 3600
) -> S3Settings:
    """Temporary credentials limited to `policy`: MinIO's STS AssumeRole with a session
    policy, asked with the `root` user's settings. How the dev stack and the tests get an
    archive writer or reader without an admin client."""
    sts = boto3.client(
        "sts",
        endpoint_url=root.endpoint,
        region_name=root.region,
        aws_access_key_id=root.access_key.reveal(),
        aws_secret_access_key=root.secret_key.reveal(),
    )
    issued = sts.assume_role(
        RoleArn="arn:minio:iam:::role/auditstream",  # MinIO ignores it for these users
        RoleSessionName="auditstream-dev",
        Policy=json.dumps(policy),
        DurationSeconds=seconds,
    )["Credentials"]
    return S3Settings(
        endpoint=root.endpoint,
        region=root.region,
        access_key=Secret(issued["AccessKeyId"]),
        secret_key=Secret(issued["SecretAccessKey"]),
        session_token=Secret(issued["SessionToken"]),
    )
