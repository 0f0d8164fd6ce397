"""Starting and stopping service processes by pid, and picking free ports.

A pid file alone is not proof of ownership (pids are reused), so `is_ours` also checks
that the process's command line mentions the stack's state folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from auditstream.errors import AuditStreamError


class ServiceError(AuditStreamError):
    """A local service could not be provisioned, started or stopped."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_detached(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    niceness: int = 0,
) -> int:
    """Start a process in its own session, output to `log_file`; returns its pid.

    A positive `niceness` lowers its CPU priority. Linux schedules each session as one
    group (autogroup) and shares the CPU fairly between groups whatever their processes'
    nice values, so the group's own nice value is set as well.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by this package
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    if niceness:
        with contextlib.suppress(OSError):  # a kernel without autogroups
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(niceness))
    return proc.pid


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    state = _state(pid)
    if state:
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_ours(pid: int, marker: str) -> bool:
    """Whether `pid` is alive and its command line contains `marker`."""
    return alive(pid) and marker in _cmdline(pid)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str, timeout: float = 30.0) -> bool:
    """SIGTERM `pid` (only if it is ours), SIGKILL after `timeout`. True if it ran."""
    if not is_ours(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not alive(pid):
            break
        time.sleep(0.05)
    return True


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    pid: int | None = None,
    log_file: Path | None = None,
) -> float:
    """Poll `check` until true; returns seconds waited. Fails early if `pid` dies."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if pid is not None and not alive(pid):
            raise ServiceError(f"{what}: process {pid} exited; see {log_file}")
        if time.monotonic() - start > timeout:
            raise ServiceError(f"{what}: not ready after {timeout:.0f} s; see {log_file}")
        time.sleep(0.1)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
