"""The `auditstream` command. Each subcommand lives in a module with a
`register(subparsers)` function, named in COMMANDS; only the module of the command that
runs is imported. `main(argv)` is what the console script calls.

Exit codes: 0 success, 1 verification found tampering (or a proof is invalid), 2 usage,
input or IO error, 130 interrupted. A failure is one line on stderr naming the command,
the resource and the cause (`cli.failures`); `--debug` or AUDITSTREAM_DEBUG=1 adds the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Final

from auditstream import __version__
from auditstream.cli.failures import describe
from auditstream.runtime import logs

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "AUDITSTREAM_DEBUG"

# Each command and the module (auditstream.cli.<module>) that registers it. Only the
# module of the command that runs is imported: most of them import clients (boto3,
# FastAPI, ClickHouse, Faust) that the others do not need, and a command starts in
# about half the time.
COMMANDS: Final = {
    "demo": "demo",
    "dev": "dev",
    "worker": "worker",
    "sink": "sink",
    "serve": "serve",
    "console": "console",
    "ingest": "ingest",
    "kafka": "kafka",
    "migrate": "migrate",
    "query": "query",
    "verify": "verify",
    "prove": "verify",
    "prove-consistency": "verify",
    "verify-proof": "verify",
    "verify-consistency": "verify",
    "erase": "erase",
    "verify-receipt": "erase",
    "report": "report",
    "archive": "archive",
    "retention": "archive",
    "replay": "archive",
    "keys": "keys",
    "deadletter": "deadletter",
    "tlog": "tlog",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line (None); with a command's name, only that command's module
    is imported and registered, and the others are bare names (enough to parse its
    arguments, or to refuse a name that is none of them: "")."""
    parser = argparse.ArgumentParser(
        prog="auditstream",
        description="Tamper-evident audit pipeline: produce, seal, store, query and verify.",
    )
    parser.add_argument("--version", action="version", version=f"auditstream {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug output, libraries' included"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get(DEBUG_ENV, "") not in ("", "0"),
        help=f"show the traceback of a failure (default: ${DEBUG_ENV})",
    )
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=os.environ.get(logs.FORMAT_ENV, "text"),
        help=f"log lines as text or one JSON object each (default: ${logs.FORMAT_ENV} or text)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = None if command is None else COMMANDS.get(command)
    registered: set[str] = set()
    for name, module in COMMANDS.items():
        if command is not None and module != chosen:
            subparsers.add_parser(name)
        elif module not in registered:
            importlib.import_module(f"{__name__}.{module}").register(subparsers)
            registered.add(module)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` runs ("" when it names none), or None when it first asks for
    the help that lists every command."""
    for word in argv:
        if word in COMMANDS:
            return word
        if word in ("-h", "--help"):
            return None
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_in(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's own parser, so the message names the command
        _parser_of(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.log_format not in logs.FORMATS:
        parser.error(f"{logs.FORMAT_ENV} must be one of {', '.join(logs.FORMATS)}")
    if not getattr(args, "owns_logging", False):  # the Faust worker hands this to Faust
        logs.configure(args.log_format, "DEBUG" if args.verbose else "INFO")
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message, known = describe(exc)
        if not known:
            message += " (a bug in auditstream; --debug shows where)"
        print(f"auditstream {command_name(args)}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return result


def _parser_of(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The (sub)parser of the command in `args`: `auditstream sink clickhouse`'s own."""
    for word in command_name(args).split():
        found = next(
            (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        if found is None or word not in found.choices:
            break
        parser = found.choices[word]
    return parser


def command_name(args: argparse.Namespace) -> str:
    """The subcommand as typed, e.g. `sink clickhouse` or `keys generate`."""
    words = [str(args.command)]
    for sub in ("kind", "action"):
        value = getattr(args, sub, None)
        if isinstance(value, str):
            words.append(value)
    return " ".join(words)
