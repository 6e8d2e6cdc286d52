"""Dagster: the workloads as a job of ops, run with the in-process executor on a persistent
SQLite instance (``DAGSTER_HOME``; run, event and schedule storage all on disk).

Usage: ``python dagster_bench.py WORKLOAD --home DIR``; exits 0 only if every run succeeded.
Dependencies are ``Nothing`` inputs, so ops pass no data. The in-process executor runs one op at
a time, so the shell workload runs 1 at a time here (its multiprocess executor would start a
Python process per op). For ``dates`` the job is partitioned by day and the 30 partitions are run
in order, one run each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from workloads import Workload, get


def _job(workload: Workload):
    import dagster as dg

    @dg.op(ins={"after": dg.In(dg.Nothing)})
    def noop() -> None:
        return None

    @dg.op(ins={"after": dg.In(dg.Nothing)})
    def shell() -> None:
        subprocess.run(["true"], check=True)

    op = shell if workload.kind == "shell" else noop
    deps = {
        dg.NodeInvocation(op.name, alias=name): (
            {"after": dg.MultiDependencyDefinition([dg.DependencyDefinition(u) for u in ups])}
            if ups
            else {}
        )
        for name, ups in workload.upstream.items()
    }
    graph = dg.GraphDefinition(name=f"bench_{workload.name}", node_defs=[op], dependencies=deps)
    partitions = (
        dg.DailyPartitionsDefinition(start_date="2024-01-01") if workload.name == "dates" else None
    )
    return graph.to_job(executor_def=dg.in_process_executor, partitions_def=partitions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload")
    parser.add_argument("--home", required=True, help="DAGSTER_HOME (persistent SQLite instance)")
    args = parser.parse_args(argv)
    workload = get(args.workload)
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # defaults: SQLite storages under DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(home.resolve())

    import dagster as dg

    job = _job(workload)
    with dg.DagsterInstance.get() as instance:
        for date in workload.dates:
            key = f"{date[:4]}-{date[4:6]}-{date[6:]}" if workload.name == "dates" else None
            result = job.execute_in_process(instance=instance, partition_key=key)
            if not result.success:
                return 1
            steps = len(result.get_step_success_events())
            if steps != len(workload.nodes):
                print(f"{steps} steps succeeded, expected {len(workload.nodes)}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
