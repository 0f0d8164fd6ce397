"""docs/capacity.md is what scripts/capacity.py computes from bench/results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "capacity.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_capacity_page_matches_the_bench_results() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stderr


def test_a_page_out_of_date_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "capacity.md"
    page.write_text((REPO / "docs" / "capacity.md").read_text().replace("| 1,000 |", "| 999 |"))
    result = run("--check", "--out", str(page))
    assert result.returncode == 1
    assert "is stale" in result.stderr


def test_a_missing_figure_stops_the_script_with_its_name(tmp_path: Path) -> None:
    results = json.loads((REPO / "bench" / "results.json").read_text())
    for bench in results:
        if bench["bench"] == "sink":
            del bench["figures"]["sink_rows_per_s"]
    partial = tmp_path / "results.json"
    partial.write_text(json.dumps(results))
    result = run("--results", str(partial), "--out", str(tmp_path / "out.md"))
    assert result.returncode == 1
    assert "sink.sink_rows_per_s" in result.stderr
    assert not (tmp_path / "out.md").exists()


def test_a_results_file_that_is_not_bench_entries_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "out.md"
    for text, said in (
        ("{not json", "is not JSON"),
        ('{"bench": "sink"}', "is not a list of bench entries"),
        ('[{"figures": {}}]', "is not a list of bench entries"),
    ):
        results = tmp_path / "results.json"
        results.write_text(text)
        result = run("--results", str(results), "--out", str(out))
        assert result.returncode == 1 and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = run("--results", str(tmp_path / "absent.json"), "--out", str(out))
    assert result.returncode == 1 and "cannot be read" in result.stderr
    assert not out.exists()
