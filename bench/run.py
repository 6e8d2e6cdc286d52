"""`make bench`: every in-repo benchmark, one after another, each printing its own table.

Benchmarks are not tests: they measure and report (PASS/MISS against the targets of the issues),
and the engine, isolation, API, CLI, console and worker benchmarks write their figures into
docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_params.py",
    "bench_engine.py",
    "bench_isolation.py",
    "bench_api_load.py",
    "bench_processes.py",
    "bench_cli.py",
    "bench_console.py",
    "bench_workers.py",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]])
        print(f"--- {name}: exit {code} in {time.perf_counter() - started:.1f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that did not complete cleanly: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
