"""`auditstream dev`: local Kafka, MinIO and embedded ClickHouse for development."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from auditstream.devstack import stack
from auditstream.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev", help="run local Kafka, MinIO and embedded ClickHouse (no Docker needed)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".devstack"),
        help="folder for pids, logs and data (default: .devstack)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start what is not running (idempotent)")
    up.add_argument("--no-minio", action="store_true", help="skip MinIO (no S3 archive)")
    up.add_argument(
        "--secure",
        action="store_true",
        help="Kafka on SASL_SSL with ACLs (users and passwords: <state>/kafka/users.json)",
    )
    up.add_argument(
        "--brokers",
        type=int,
        default=1,
        metavar="N",
        help="a KRaft cluster of N brokers (replication factor min(N, 3), min.insync.replicas "
        "one less; plain text); default 1",
    )
    up.add_argument("--json", action="store_true", help="machine-readable output")
    up.set_defaults(func=_up)
    status = actions.add_parser("status", help="what runs where")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    down = actions.add_parser("down", help="stop this stack's processes (data is kept)")
    down.set_defaults(func=_down)


def _print(info: stack.StackInfo, env_file: Path | None, as_json: bool) -> None:
    if as_json:
        doc = info.to_json()
        doc["env_file"] = str(env_file) if env_file else None
        print(json.dumps(doc, indent=2))
        return
    print(f"state:       {info.state_dir}")
    if info.kafka:
        size = (
            f"{info.kafka.brokers} brokers" if info.kafka.brokers > 1 else f"pid {info.kafka.pid}"
        )
        where = f"{info.kafka.bootstrap}  (Kafka {info.kafka.version}, {size})"
        print(f"kafka:       {where}")
    else:
        print("kafka:       not running")
    if info.minio:
        print(f"s3 (minio):  {info.minio.endpoint}  bucket {info.bucket}  (pid {info.minio.pid})")
        print(f"             {info.minio.version}")
    else:
        print("s3 (minio):  not running")
    print(f"clickhouse:  {info.clickhouse_dsn}  (embedded; one process at a time)")
    if env_file:
        print(f"environment: source {env_file}   # credentials stay in that file (mode 600)")


def _state_dir(args: argparse.Namespace) -> Path:
    state: Path = args.state_dir
    if state.exists() and not state.is_dir():
        raise ConfigError(f"--state-dir {state} is not a folder")
    return state


def _up(args: argparse.Namespace) -> int:
    info = stack.up(
        _state_dir(args), with_minio=not args.no_minio, secure=args.secure, brokers=args.brokers
    )
    _print(info, stack.write_env_file(args.state_dir, info), args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    info = stack.status(_state_dir(args))
    env_file = args.state_dir.resolve() / "env.sh"
    _print(info, env_file if env_file.exists() and info.kafka else None, args.json)
    return 0 if info.kafka else 3


def _down(args: argparse.Namespace) -> int:
    stopped = stack.down(_state_dir(args))
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0
