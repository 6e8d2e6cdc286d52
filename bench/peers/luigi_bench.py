"""Luigi: the workloads as Luigi tasks, run by the local scheduler (``local_scheduler=True``).

Usage: ``python luigi_bench.py WORKLOAD [--workers N]``; exits 0 only if every task succeeded.
Every node has an output, a marker file in a fresh temporary directory (Luigi knows a task is
done by its output; with 2 workers tasks run in forked processes, so it cannot be in memory). A
no-op node only writes its marker; a shell node is an ``ExternalProgramTask`` running ``true``.
For ``dates`` each node has a ``DateParameter`` and the first node of a date requires the last
node of the previous date, which is Luigi's way of running a date range in order. Luigi runs at
most ``--workers`` tasks at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile

import luigi
from luigi.contrib.external_program import ExternalProgramTask
from workloads import Workload, get

_DONE: list[str] = []  # the marker directory, set in main()
UPSTREAM: dict[str, tuple[str, ...]] = {}
DATES: list[dt.date] = []


class Noop(luigi.Task):
    """A no-op node; complete once it has run in this process."""

    node = luigi.Parameter()

    def requires(self):
        return [Noop(node=up) for up in UPSTREAM[self.node]]

    def output(self):
        return luigi.LocalTarget(f"{_DONE[0]}/{self.task_id}")

    def run(self):
        self.output().open("w").close()


class DatedNoop(Noop):
    """A no-op node of one business date; the date's first node waits for the previous date."""

    date = luigi.DateParameter()

    def requires(self):
        ups = [DatedNoop(node=up, date=self.date) for up in UPSTREAM[self.node]]
        index = DATES.index(self.date)
        if not ups and index > 0:
            ups = [DatedNoop(node=next(reversed(UPSTREAM)), date=DATES[index - 1])]
        return ups


class Shell(ExternalProgramTask):
    """A shell node running ``true``."""

    node = luigi.Parameter()

    def program_args(self):
        return ["true"]

    def output(self):
        return luigi.LocalTarget(f"{_DONE[0]}/{self.task_id}")

    def run(self):
        super().run()
        self.output().open("w").close()


def _roots(workload: Workload) -> list[luigi.Task]:
    if workload.name == "shell":
        return [Shell(node=name) for name in workload.nodes]
    if workload.name == "dates":
        return [DatedNoop(node=workload.nodes[-1], date=DATES[-1])]
    sinks = set(workload.nodes) - {up for ups in workload.upstream.values() for up in ups}
    return [Noop(node=name) for name in sorted(sinks)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    workload = get(args.workload)
    UPSTREAM.update(workload.upstream)
    DATES.extend(dt.datetime.strptime(d, "%Y%m%d").date() for d in workload.dates)
    _DONE.append(tempfile.mkdtemp(prefix="luigi-bench-"))
    logging.disable(logging.INFO)  # the default INFO chatter costs time and is not the work
    result = luigi.build(
        _roots(workload),
        local_scheduler=True,
        workers=args.workers,
        detailed_summary=True,
        log_level="WARNING",
    )
    ok = result.status.name in ("SUCCESS", "SUCCESS_WITH_RETRY")
    done = len(os.listdir(_DONE[0]))
    shutil.rmtree(_DONE[0])
    if done != workload.node_runs:
        print(f"ran {done} tasks, expected {workload.node_runs}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
