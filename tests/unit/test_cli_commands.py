"""The command line imports only the module of the command that runs, and parses it
as the whole command line does."""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys

import pytest

import auditstream.cli
from auditstream.cli import COMMANDS, build_parser, command_in

NOT_COMMANDS = {"common", "failures", "render"}  # helpers of the commands


def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_module_is_listed_and_registers_its_own_name() -> None:
    modules = {m.name for m in pkgutil.iter_modules(auditstream.cli.__path__)}
    assert modules - NOT_COMMANDS == set(COMMANDS.values())
    full = choices(build_parser())
    assert list(full) == list(COMMANDS)
    for name, module in COMMANDS.items():
        alone = choices(build_parser(name))
        assert sorted(alone) == sorted(COMMANDS)
        ours = {n for n, m in COMMANDS.items() if m == module}
        for other in ours:
            assert alone[other].format_help() == full[other].format_help()
        assert all(not choices(alone[n]) and len(alone[n]._actions) == 1 for n in set(alone) - ours)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["verify", "--help"], "verify"),
        (["verify-receipt", "r.json"], "verify-receipt"),
        (["--log-format", "json", "keys", "generate"], "keys"),
        (["-v", "--debug", "sink", "clickhouse", "--clickhouse", "worker"], "sink"),
        (["--help"], None),
        (["-h", "verify"], None),
        (["--version"], ""),
        (["nosuch"], ""),
        ([], ""),
    ],
)
def test_the_command_is_the_first_of_its_names(argv: list[str], command: str | None) -> None:
    assert command_in(argv) == command


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "generate", "--hmac", "h.json", "--signer", "s.key"],
        ["--log-format", "json", "verify", "--clickhouse", "chdb:///tmp/x", "--pubkey", "p"],
        ["-v", "query", "--clickhouse", "chdb:///tmp/x", "--sql", "SELECT 1"],
        ["worker", "--instance-id", "w-0", "--session-timeout", "6"],
        ["sink", "clickhouse", "--clickhouse", "chdb:///tmp/x"],
        ["replay", "--from", "s3://b/", "--to-clickhouse", "chdb:///tmp/x", "--tenant", "acme"],
    ],
)
def test_a_command_parses_alone_as_on_the_whole_command_line(argv: list[str]) -> None:
    alone = vars(build_parser(command_in(argv)).parse_args(argv))
    whole = vars(build_parser().parse_args(argv))
    assert alone.keys() == whole.keys()
    assert {k: v for k, v in alone.items() if k != "func"} == {
        k: v for k, v in whole.items() if k != "func"
    }
    assert alone["func"].__qualname__ == whole["func"].__qualname__


def test_a_command_does_not_import_the_clients_of_the_others() -> None:
    probe = (
        "import sys; from auditstream.cli import build_parser; build_parser('keys'); "
        "print(sorted(m for m in ('boto3', 'fastapi', 'auditstream.cli.serve') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
