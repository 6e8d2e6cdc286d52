"""The paths a user takes, timed whole (issue 16); a benchmark, not a test.

Run: `.venv/bin/python bench/bench_paths.py`.

1. `opcenter run --wait` as a whole process (interpreter start, imports, the run, its embedded
   engine's start and stop) on the peer comparison's workloads: the 200-node no-op chain, the
   200-node fan and the 30-date × 20-node range;
2. the same workloads through the API with `opcenter serve` already up: RunManualDagNodes with
   the official SDK, timed until every Dag succeeded (ListDags polled every 5 ms), per node.

The programs are the peer comparison's own (bench/peers/opcenter_bench.py and
opcenter_api_bench.py), so these figures and the peer table measure the same thing. Each cell:
one warm-up, then `--runs` timed runs, the two ways alternating. Writes its section of
docs/benchmarks.md and, under `make bench`, the rows of the issue's table (bench/_summary.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))  # the peer modules import each other by plain name

from engines import ENGINES  # noqa: E402
from run_peers import time_once  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

from bench._docs import replace_section  # noqa: E402
from bench._summary import compile_sources, record  # noqa: E402

HEADING = "## The user's paths, timed whole (issue 16)"
WORKLOAD_NAMES = ("chain", "fan", "dates")
CLI_TARGETS = {"chain": 0.30, "fan": 0.30, "dates": 0.40}  # seconds, whole process
API_TARGET_MS_PER_NODE = 0.25  # chain and fan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per cell")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args, _ = parser.parse_known_args(argv)
    engines = [ENGINES["opcenter"], ENGINES["opcenter-api"]]
    compile_sources()
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="opcenter-paths-") as tmp:
        states = {e.key: Path(tmp) / e.key for e in engines}
        try:
            for engine in engines:
                engine.setup(states[engine.key])
            for name in WORKLOAD_NAMES:
                workload = WORKLOADS[name]
                for engine in engines:
                    time_once(engine, workload, states[engine.key])  # warm-up
                for _ in range(args.runs):
                    for engine in engines:
                        seconds = time_once(engine, workload, states[engine.key])
                        times.setdefault((name, engine.key), []).append(seconds)
                        print(f"  {engine.key:12} {name:6} {seconds:7.3f} s", flush=True)
        finally:
            for engine in engines:
                engine.teardown(states[engine.key])
    lines = report(times, args.runs)
    print("\n".join(lines))
    if not args.no_write:
        replace_section(HEADING, "\n".join(lines))
    return 0


def report(times: dict[tuple[str, str], list[float]], runs: int) -> list[str]:
    lines = [
        HEADING,
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}, with `.venv/bin/python bench/bench_paths.py`: "
        f"medians of {runs} runs after a warm-up, the two ways alternating (SQLite store, 2 "
        "worker slots). `opcenter run --wait` is a whole process; through the API the server "
        "is already up and the time runs from the RunManualDagNodes call to the last Dag "
        "seen SUCCESS.",
        "",
        "| workload | `run --wait` median (min–max) | target | through the API | per node "
        "| target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in WORKLOAD_NAMES:
        workload = WORKLOADS[name]
        cli, api = times[(name, "opcenter")], times[(name, "opcenter-api")]
        cli_med, api_med = statistics.median(cli), statistics.median(api)
        per_node = api_med / workload.node_runs * 1000
        cli_ok = cli_med <= CLI_TARGETS[name]
        api_target = "≤ 0.25 ms" if name != "dates" else "—"
        api_ok = per_node <= API_TARGET_MS_PER_NODE if name != "dates" else None
        lines.append(
            f"| {workload.title} | {cli_med:.3f} s ({min(cli):.3f}–{max(cli):.3f}) "
            f"| ≤ {CLI_TARGETS[name]:.2f} s: {'PASS' if cli_ok else 'MISS'} "
            f"| {api_med * 1000:.1f} ms | {per_node:.3f} ms "
            f"| {api_target}{'' if api_ok is None else ': ' + ('PASS' if api_ok else 'MISS')} |"
        )
        record(f"cli_{name}", f"{cli_med:.3f} s", cli_ok)
        if name != "dates":
            record(f"api_{name}", f"{per_node:.3f} ms/node ({api_med * 1000:.1f} ms)", api_ok)
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
