"""Prefect 3: the workloads as one flow whose tasks are submitted (``task.submit``) with their
upstream futures in ``wait_for``, on the default thread-pool task runner.

Usage: ``python prefect_bench.py WORKLOAD --home DIR``; exits 0 only if every task completed.
State goes to Prefect's own SQLite database under ``PREFECT_HOME`` through the ephemeral API
server that Prefect starts in process when no server URL is configured. The shell workload uses
``ThreadPoolTaskRunner(max_workers=2)``; shell nodes are tasks calling ``subprocess.run(true)``.
Prefect has no notion of business date, so it does not run the ``dates`` workload.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import SHELL_PARALLELISM, Workload, get  # noqa: E402


def _flow(workload: Workload):
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    @task
    def noop() -> None:
        return None

    @task
    def shell() -> None:
        subprocess.run(["true"], check=True)

    body = shell if workload.kind == "shell" else noop
    workers = SHELL_PARALLELISM if workload.kind == "shell" else None

    @flow(name=f"bench_{workload.name}", task_runner=ThreadPoolTaskRunner(max_workers=workers))
    def bench() -> int:
        futures = {}
        for name, ups in workload.upstream.items():
            futures[name] = body.with_options(name=name).submit(
                wait_for=[futures[u] for u in ups]
            )
        states = [f.wait() or f.state for f in futures.values()]
        return sum(1 for s in states if s.is_completed())

    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload")
    parser.add_argument("--home", required=True, help="PREFECT_HOME (its SQLite database)")
    args = parser.parse_args(argv)
    workload = get(args.workload)
    if workload.name == "dates":
        print("Prefect has no notion of business date", file=sys.stderr)
        return 2
    os.environ["PREFECT_HOME"] = str(Path(args.home).resolve())
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    completed = _flow(workload)()
    if completed != len(workload.nodes):
        print(f"{completed} tasks completed, expected {len(workload.nodes)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
