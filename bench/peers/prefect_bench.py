"""Prefect 3: the workloads as one flow whose tasks are submitted (``task.submit``) with their
upstream futures in ``wait_for``, on the default thread-pool task runner.

Usage (with the Prefect venv's python):
  ``prefect_bench.py setup --home DIR``   start ``prefect server start`` (SQLite database under
      ``PREFECT_HOME``=DIR), the dedicated server Prefect recommends (not timed)
  ``prefect_bench.py run WORKLOAD --home DIR``   run the flow against that server; exits 0 only
      if every task completed
  ``prefect_bench.py teardown --home DIR``   stop the server
Without a server Prefect would start an ephemeral one inside each flow process, which costs
about 8 s more per run on this machine (measured on a one-task flow: 11 s). The shell workload uses
``ThreadPoolTaskRunner(max_workers=2)``; shell nodes are tasks calling ``subprocess.run(true)``.
Prefect has no notion of business date, so it does not run the ``dates`` workload.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import services
from workloads import SHELL_PARALLELISM, Workload, get

PORT = 28794
API_URL = f"http://127.0.0.1:{PORT}/api"
READY_TIMEOUT_SECONDS = 120


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=API_URL,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


def setup(home: Path) -> None:
    teardown(home)
    home.mkdir(parents=True, exist_ok=True)
    prefect = str(Path(sys.executable).parent / "prefect")
    argv = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(PORT)]
    services.start(home, "server", argv, _env(home))

    def healthy() -> bool:
        with urllib.request.urlopen(f"{API_URL}/health", timeout=5) as response:
            return json.loads(response.read()) is True

    services.wait_until(healthy, READY_TIMEOUT_SECONDS, f"Prefect server (log in {home})")


def teardown(home: Path) -> None:
    services.stop_all(home)


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
            futures[name] = body.with_options(name=name).submit(wait_for=[futures[u] for u in ups])
        states = [f.wait() or f.state for f in futures.values()]
        return sum(1 for s in states if s.is_completed())

    return bench


def run(workload: Workload, home: Path) -> int:
    if workload.name == "dates":
        print("Prefect has no notion of business date", file=sys.stderr)
        return 2
    os.environ.update(_env(home))
    completed = _flow(workload)()
    if completed != len(workload.nodes):
        print(f"{completed} tasks completed, expected {len(workload.nodes)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=("setup", "run", "teardown"))
    parser.add_argument("workload", nargs="?")
    parser.add_argument("--home", required=True, type=Path, help="PREFECT_HOME")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    if args.command == "setup":
        setup(home)
    elif args.command == "teardown":
        teardown(home)
    else:
        return run(get(args.workload), home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
