"""Run every bench/*.py and collect their results into bench/results.json.

    python scripts/run_bench.py [--quick] [NAME ...]

Each bench prints one JSON object as its last stdout line (DESIGN.md §9). A bench
that fails is recorded with its exit code and stderr tail; the run continues.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    parser.add_argument("names", nargs="*", help="only these benches (file stems)")
    args = parser.parse_args()
    scripts = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    if args.names:
        scripts = [p for p in scripts if p.stem in args.names]
    results, failed = [], 0
    for script in scripts:
        print(f"== {script.name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
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
    out = BENCH / "results.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(
        f"wrote {out.relative_to(REPO)} ({len(results)} benches, {failed} failed)", file=sys.stderr
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
