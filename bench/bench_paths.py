"""The paths a user takes, timed whole (issue 16); a benchmark, not a test.

Run: `.venv/bin/python bench/bench_paths.py`.

1. `opcenter run --wait` as a whole process (interpreter start, imports, the run, its embedded
   engine's start and stop) on the peer comparison's workloads: the 200-node no-op chain, the
   200-node fan and the 30-date × 20-node range;
2. the same workloads through the API with `opcenter serve` already up: RunManualDagNodes with
   the official SDK, timed until every Dag succeeded (ListDags polled every 5 ms), per node;
3. `opcenter run --wait --endpoint HOST:PORT` as a whole process, against that same server
   (signed with the AccessKey the API bench's server was started with): the CLI's fast path;
4. the floor of the embedded run: opcenter's interpreter importing SQLAlchemy and nothing else
   (bench/peers/floor_bench.py), the least any `opcenter run` that opens the store takes.

Whole processes are timed by wall clock and by their CPU (user + system, from `wait4`).

The programs are the peer comparison's own (bench/peers/opcenter_bench.py and
opcenter_api_bench.py), so these figures and the peer table measure the same thing. Each cell:
one warm-up, then `--runs` timed runs, the three ways alternating. Writes its section of
docs/benchmarks.md and, under `make bench`, the rows of the issue's table (bench/_summary.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))  # the peer modules import each other by plain name

import opcenter_bench  # noqa: E402
from engines import ENGINES  # noqa: E402
from run_peers import RunFailed, time_once  # noqa: E402
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
    cpu: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="opcenter-paths-") as tmp:
        states = {e.key: Path(tmp) / e.key for e in engines}
        try:
            for engine in engines:
                engine.setup(states[engine.key])
            ways = [*(e.key for e in engines), ENDPOINT, FLOOR]
            for name in WORKLOAD_NAMES:
                workload = WORKLOADS[name]
                for way in ways:
                    _time_way(way, workload, states)  # warm-up
                for _ in range(args.runs):
                    for way in ways:
                        seconds, used = _time_way(way, workload, states)
                        times.setdefault((name, way), []).append(seconds)
                        if used is not None:
                            cpu.setdefault((name, way), []).append(used)
                        shown = "" if used is None else f"  cpu {used:6.3f} s"
                        print(f"  {way:12} {name:6} {seconds:7.3f} s{shown}", flush=True)
        finally:
            for engine in engines:
                engine.teardown(states[engine.key])
    lines = report(times, cpu, args.runs)
    print("\n".join(lines))
    if not args.no_write:
        replace_section(HEADING, "\n".join(lines))
    return 0


ENDPOINT = "endpoint"  # `opcenter run --wait --endpoint`, against the opcenter-api server
FLOOR = "floor"  # opcenter's interpreter importing SQLAlchemy, nothing else (floor_bench.py)


def _time_way(way: str, workload: object, states: dict[str, Path]) -> tuple[float, float | None]:
    """One timed run of `way`: wall seconds, and the process's CPU seconds for a CLI process
    (None for the API, timed inside its client)."""
    if way == "opcenter-api":
        return time_once(ENGINES[way], workload, states[way]), None  # type: ignore[arg-type]
    if way == FLOOR:
        return _time_process(
            [sys.executable, str(BENCH / "peers" / "floor_bench.py")], dict(os.environ), BENCH
        )
    if way == "opcenter":
        home = states[way]
        argv, env = opcenter_bench.run_command(workload), opcenter_bench.run_env(home)
    else:
        home = states["opcenter-api"]
        argv, env = opcenter_bench.endpoint_command(workload, home)  # type: ignore[arg-type]
    return _time_process(argv, env, home)


def _time_process(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run a process to its end: its wall time and its CPU (user + system) in seconds."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            out.seek(0)
            tail = " | ".join(out.read().decode(errors="replace").strip().splitlines()[-3:])
            raise RunFailed(f"exit {process.returncode}: {tail[-300:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def report(
    times: dict[tuple[str, str], list[float]], cpu: dict[tuple[str, str], list[float]], runs: int
) -> list[str]:
    lines = [
        HEADING,
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}, with `.venv/bin/python bench/bench_paths.py`: "
        f"medians of {runs} runs after a warm-up, the three ways alternating (SQLite store, 2 "
        "worker slots). `opcenter run --wait` is a whole process, embedded (it writes the run "
        "to the local store and drives its own engine) or with `--endpoint` (it sends the run "
        "to the server already up and follows it through the API); its CPU is the process's "
        "user + system time. Through the API the server is already up and the time runs from "
        "the RunManualDagNodes call to the last Dag seen SUCCESS.",
        "",
        "| workload | `run --wait` median (min–max) | CPU | target "
        "| `run --wait --endpoint` median (min–max) | CPU | target "
        "| through the API | per node | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    floor = [t for name in WORKLOAD_NAMES for t in times[(name, FLOOR)]]
    floor_med = statistics.median(floor)
    floor_cpu = [t for name in WORKLOAD_NAMES for t in cpu[(name, FLOOR)]]
    for name in WORKLOAD_NAMES:
        workload = WORKLOADS[name]
        cli, api = times[(name, "opcenter")], times[(name, "opcenter-api")]
        cli_med, api_med = statistics.median(cli), statistics.median(api)
        per_node = api_med / workload.node_runs * 1000
        cli_ok = cli_med <= CLI_TARGETS[name]
        api_target = "≤ 0.25 ms" if name != "dates" else "—"
        api_ok = per_node <= API_TARGET_MS_PER_NODE if name != "dates" else None
        remote = times[(name, ENDPOINT)]
        remote_med = statistics.median(remote)
        remote_ok = remote_med <= CLI_TARGETS[name]
        cli_cpu = statistics.median(cpu[(name, "opcenter")])
        remote_cpu = statistics.median(cpu[(name, ENDPOINT)])
        lines.append(
            f"| {workload.title} | {cli_med:.3f} s ({min(cli):.3f}–{max(cli):.3f}) "
            f"| {cli_cpu:.3f} s | ≤ {CLI_TARGETS[name]:.2f} s: {'PASS' if cli_ok else 'MISS'} "
            f"| {remote_med:.3f} s ({min(remote):.3f}–{max(remote):.3f}) | {remote_cpu:.3f} s "
            f"| ≤ {CLI_TARGETS[name]:.2f} s: {'PASS' if remote_ok else 'MISS'} "
            f"| {api_med * 1000:.1f} ms | {per_node:.3f} ms "
            f"| {api_target}{'' if api_ok is None else ': ' + ('PASS' if api_ok else 'MISS')} |"
        )
        record(
            f"cli_{name}",
            f"{cli_med:.3f} s (of which importing SQLAlchemy alone: {floor_med:.3f} s)",
            cli_ok,
        )
        record(f"cli_{name}_endpoint", f"{remote_med:.3f} s", remote_ok)
        if name != "dates":
            record(f"api_{name}", f"{per_node:.3f} ms/node ({api_med * 1000:.1f} ms)", api_ok)
    lines += [
        "",
        f"The floor of the embedded run, timed alternating with the runs above: opcenter's "
        f"interpreter starting, importing SQLAlchemy Core and ORM (the store library; garbage "
        f"collector off, as the CLI loads) and exiting took {floor_med:.3f} s "
        f"({min(floor):.3f}–{max(floor):.3f}; CPU {statistics.median(floor_cpu):.3f} s). Every "
        "embedded `opcenter run --wait` pays it before its own work; `--endpoint` does not.",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
