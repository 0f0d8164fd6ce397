"""Log lines: JSON lines parse and carry the fields log shippers expect; the CLI switch
and its environment variable pick the format."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.runtime.logs import JsonFormatter, dict_config

REPO = Path(__file__).resolve().parents[2]


def test_json_lines_carry_time_level_logger_message_and_exception() -> None:
    try:
        raise ValueError('broken "quote"\nline')
    except ValueError:
        record = logging.LogRecord(
            "auditstream.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    doc = json.loads(JsonFormatter().format(record))
    assert doc["level"] == "ERROR" and doc["logger"] == "auditstream.x"
    assert doc["message"] == "failed here"
    assert doc["time"].endswith("+00:00")
    assert 'ValueError: broken "quote"' in doc["exception"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        dict_config("xml", "INFO")


def run_migrate(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> list[str]:
    argv = [sys.executable, "-m", "auditstream", *flags, "migrate"]
    argv += ["--clickhouse", f"chdb://{tmp_path / 'ch'}"]
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=True
    )
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_cli_switch_and_environment_select_json(tmp_path: Path) -> None:
    lines = run_migrate(tmp_path, "--log-format", "json")
    docs = [json.loads(line) for line in lines]
    assert any("applied migration" in d["message"] for d in docs)
    env = dict(os.environ, AUDITSTREAM_LOG_FORMAT="json")
    again = [json.loads(line) for line in run_migrate(tmp_path / "other", env=env)]
    assert again and all(d["logger"].startswith("auditstream") for d in again)
    text = run_migrate(tmp_path / "third")
    assert text and not text[0].startswith("{")


def test_librdkafka_reconnect_chatter_is_quiet_unless_debugging() -> None:
    assert dict_config("text", "INFO")["loggers"]["librdkafka"]["level"] == "WARNING"
    assert dict_config("json", "DEBUG")["loggers"]["librdkafka"]["level"] == "DEBUG"
