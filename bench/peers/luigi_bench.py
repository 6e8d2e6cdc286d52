"""Luigi: the workloads as Luigi tasks, run by the local scheduler (``local_scheduler=True``).

Usage: ``python luigi_bench.py WORKLOAD [--workers N]``; exits 0 only if every task succeeded.
No-op nodes are tasks whose ``run`` does nothing (completion kept in memory, since they make no
output); shell nodes are ``ExternalProgramTask(true)``. For ``dates`` each node has a
``DateParameter`` and the first node of a date requires the last node of the previous date, which
is Luigi's way of running a date range in order. Luigi runs at most ``--workers`` tasks at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

import luigi
from luigi.contrib.external_program import ExternalProgramTask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import Workload, get  # noqa: E402

_DONE: set[str] = set()
UPSTREAM: dict[str, tuple[str, ...]] = {}
DATES: list[dt.date] = []


class Noop(luigi.Task):
    """A no-op node; complete once it has run in this process."""

    node = luigi.Parameter()

    def requires(self):
        return [Noop(node=up) for up in UPSTREAM[self.node]]

    def complete(self):
        return self.task_id in _DONE

    def run(self):
        _DONE.add(self.task_id)


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

    def complete(self):
        return self.task_id in _DONE

    def run(self):
        super().run()
        _DONE.add(self.task_id)


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
    logging.disable(logging.INFO)  # the default INFO chatter costs time and is not the work
    result = luigi.build(
        _roots(workload),
        local_scheduler=True,
        workers=args.workers,
        detailed_summary=True,
        log_level="WARNING",
    )
    ok = result.status.name in ("SUCCESS", "SUCCESS_WITH_RETRY")
    expected = workload.node_runs
    if len(_DONE) != expected and args.workers == 1:
        print(f"ran {len(_DONE)} tasks, expected {expected}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
