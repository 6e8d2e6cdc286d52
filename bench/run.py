"""`make bench`: every in-repo benchmark, one after another, each printing its own table, then
every row of the performance round's targets (issue 16) with its target, in one table.

Benchmarks are not tests: they measure and report (PASS/MISS against the targets of the issues),
and each writes its figures into its section of docs/benchmarks.md; the targets table goes
there too, under "## Targets (issue 16)", with the machine and the date.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._docs import machine, replace_section  # noqa: E402
from bench._summary import SUMMARY_ENV, read, render  # noqa: E402

HEADING = "## Targets (issue 16)"
BENCHMARKS = [
    "bench_params.py",
    "bench_engine.py",
    "bench_paths.py",
    "bench_isolation.py",
    "bench_api_load.py",
    "bench_memory.py",
    "bench_processes.py",
    "bench_cli.py",
    "bench_console.py",
    "bench_workers.py",
]


def main() -> int:
    failed = []
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="opcenter-bench-") as tmp:
        summary = Path(tmp) / "summary.jsonl"
        env = {**os.environ, SUMMARY_ENV: str(summary)}
        for name in BENCHMARKS:
            if not (HERE / name).exists():
                continue
            print(f"\n=== {name} ===", flush=True)
            began = time.perf_counter()
            code = subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]], env=env)
            print(f"--- {name}: exit {code} in {time.perf_counter() - began:.1f} s", flush=True)
            if code != 0:
                failed.append(name)
        found = read(summary)
    lines = [
        HEADING,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `make bench` on {machine()}: every row of "
        "the performance round's table, SQLite store (the default), each figure taken by the "
        "benchmark named in its section below.",
        "",
        *render(found),
    ]
    print("\n" + "\n".join(lines))
    replace_section(HEADING, "\n".join(lines), before="## Parameters (issue 3)")
    if failed:
        print(f"\nbenchmarks that did not complete cleanly: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
