"""Run every bench/*.py, collect their results into bench/results.json, and render
bench/report.md with charts (bench/throughput.png, bench/latency.png).

    python scripts/run_bench.py [--quick] [--results PATH] [NAME ...]
    python scripts/run_bench.py --report-only [--results PATH]

Each bench prints one JSON object as its last stdout line (DESIGN.md §9). A bench
that fails is recorded with its exit code and stderr tail; the run continues. Naming
benches re-runs only those and replaces their entries in the results file. The
report and charts are written next to the results file; charts need matplotlib
(`pip install 'auditstream[bench]'`), without it only report.md is written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_report  # noqa: E402 - a sibling module, found through the line above


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_benches(names: list[str], quick: bool) -> tuple[list[dict[str, Any]], int]:
    scripts = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    results: list[dict[str, Any]] = []
    failed = 0
    for script in scripts:
        print(f"== {script.name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        cmd = [sys.executable, str(script), *(["--quick"] if quick else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
        elapsed = round(time.monotonic() - started, 1)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            result = json.loads(lines[-1])
            result["elapsed_s"] = elapsed
            results.append(result)
            for name, fig in result["figures"].items():
                line = f"   {name}: {fig['value']} {fig['unit']}"
                print(f"{line} (ceiling {fig['ceiling']}, goal {fig['goal']})", file=sys.stderr)
        else:
            failed += 1
            results.append(
                {
                    "bench": script.stem,
                    "error": proc.returncode,
                    "stderr": proc.stderr[-2000:],
                    "elapsed_s": elapsed,
                }
            )
            print(proc.stderr[-2000:], file=sys.stderr)
    return results, failed


def render(results: list[dict[str, Any]], path: Path) -> None:
    for written in bench_report.write_report(results, path.parent, path.name):
        print(f"wrote {_shown(written)}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH / "results.json",
        help="results file to write (or read with --report-only); the report and charts "
        "go next to it (default: bench/results.json)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: re-render the report and charts from an existing results file",
    )
    parser.add_argument("names", nargs="*", help="only these benches (file stems)")
    args = parser.parse_args()
    path: Path = args.results
    if args.report_only:
        if args.names or args.quick:
            parser.error("--report-only runs no bench: drop --quick and bench names")
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"{path} is not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(results, list):
            print(f"{path}: expected a JSON list of bench results", file=sys.stderr)
            return 2
        render(results, path)
        return 0
    results, failed = run_benches(args.names, args.quick)
    if args.names and path.exists():  # a partial run replaces only the benches it ran
        rerun = {r["bench"] for r in results}
        kept = [r for r in json.loads(path.read_text(encoding="utf-8")) if r["bench"] not in rerun]
        results = sorted(kept + results, key=lambda r: str(r["bench"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {_shown(path)} ({len(results)} benches, {failed} failed)", file=sys.stderr)
    render(results, path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
