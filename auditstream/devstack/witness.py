"""Local C2SP tlog-witnesses: filippo.io/torchwood's litewitness, built from the Go
module proxy (`build.witness_binaries`), each with its Ed25519 key in a dedicated
ssh-agent (litewitness signs through one).

Everything stays on this machine: litewitness listens on 127.0.0.1 (no `-bastion`, so
it dials nothing), its agent on a unix socket in the witness's folder. A witness
cosigns only logs it was told about: `add_log` registers a chain's origin and the
log's verifier key with `witnessctl`, as a witness operator would.

    <state>/witness/<name>/  key (0600), agent.sock, witness.db, *.pid, *.log, witness.json
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_ssh_private_key,
)

from auditstream.core.checkpoint import origin_for
from auditstream.core.cosignature import CosignatureVerifier
from auditstream.core.keys import NoteVerifier
from auditstream.devstack import procs
from auditstream.devstack.build import witness_binaries


@dataclass(frozen=True)
class WitnessInfo:
    name: str  # the witness's key name, e.g. witness-1.auditstream.test
    url: str  # its submission prefix
    vkey: str  # its cosignature/v1 verifier key
    pid: int
    agent_pid: int
    log_file: str

    @property
    def spec(self) -> str:
        """`URL=VKEY`, as `auditstream witness run --witness` takes it."""
        return f"{self.url}={self.vkey}"


def _home(state: Path, name: str) -> Path:
    return state / "witness" / name


def _key(home: Path) -> tuple[Path, CosignatureVerifier, str]:
    """The witness key in OpenSSH format (created once), its verifier and its SSH
    fingerprint (how litewitness picks it from the agent)."""
    path = home / "key"
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    private = load_ssh_private_key(path.read_bytes(), None)
    assert isinstance(private, Ed25519PrivateKey)
    public = private.public_key()
    blob = base64.b64decode(public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return path, CosignatureVerifier(home.name, raw), fingerprint


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1):  # noqa: S310 - our loopback witness
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _ctl(home: Path, *args: str) -> None:
    binary = witness_binaries() / "witnessctl"
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [str(binary), args[0], "-db", str(home / "witness.db"), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise procs.ServiceError(f"witnessctl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def start(state: Path, name: str, *, timeout: float = 30.0) -> WitnessInfo:
    """Start the witness `name` (a key name, e.g. `witness-1.auditstream.test`)."""
    binaries = witness_binaries()
    home = _home(state.resolve(), name)
    home.mkdir(parents=True, exist_ok=True)
    key, verifier, fingerprint = _key(home)
    socket = home / "agent.sock"
    socket.unlink(missing_ok=True)
    agent_log = home / "agent.log"
    agent = procs.start_detached(
        ["ssh-agent", "-D", "-a", str(socket)], log_file=agent_log, pid_file=home / "agent.pid"
    )
    try:
        procs.wait_until(
            socket.exists,
            timeout=timeout,
            what=f"ssh-agent of {name}",
            pid=agent,
            log_file=agent_log,
        )
        added = subprocess.run(  # noqa: S603 - fixed argv
            ["ssh-add", str(key)],  # noqa: S607 - ssh-agent and ssh-add come from PATH
            env=dict(os.environ, SSH_AUTH_SOCK=str(socket)),
            capture_output=True,
            text=True,
            check=False,
        )
        if added.returncode != 0:
            raise procs.ServiceError(f"ssh-add for {name} failed: {added.stderr.strip()}")
        port = procs.free_port()
        url = f"http://127.0.0.1:{port}"
        log_file = home / "witness.log"
        pid = procs.start_detached(
            [
                str(binaries / "litewitness"),
                "-name",
                name,
                "-db",
                str(home / "witness.db"),
                "-key",
                fingerprint,
                "-ssh-agent",
                str(socket),
                "-listen",
                f"127.0.0.1:{port}",
            ],
            log_file=log_file,
            pid_file=home / "witness.pid",
        )
        procs.wait_until(
            lambda: _answers(url),
            timeout=timeout,
            what=f"litewitness {name}",
            pid=pid,
            log_file=log_file,
        )
    except procs.ServiceError:
        stop(state, name)
        raise
    info = WitnessInfo(name, url, verifier.encode(), pid, agent, str(log_file))
    (home / "witness.json").write_text(json.dumps(asdict(info)))
    return info


def add_log(state: Path, name: str, chain_id: str, log_key: NoteVerifier) -> None:
    """Tell witness `name` to cosign the log of `chain_id`, signed by `log_key`."""
    home = _home(state.resolve(), name)
    origin = origin_for(chain_id)
    _ctl(home, "add-log", "-origin", origin)
    _ctl(home, "add-key", "-origin", origin, "-key", log_key.encode())


def stop(state: Path, name: str) -> bool:
    """Stop the witness and its agent (by their pids, if they are this stack's)."""
    home = _home(state.resolve(), name)
    stopped = False
    for pid_file in ("witness.pid", "agent.pid"):
        pid = procs.read_pid(home / pid_file)
        stopped = (pid is not None and procs.stop(pid, str(home))) or stopped
    (home / "witness.json").unlink(missing_ok=True)
    return stopped
