"""The engines the driver compares: how to set each up, the timed command, and what it cannot do.

Imported by ``bench/run_peers.py`` in the project's own environment: standard library and
:mod:`opcenter_bench` only; each peer program runs in its peer's environment as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import opcenter_bench
from venvs import PEERS, peer_python
from workloads import Workload

__all__ = ["ENGINES", "FLOOR", "PEER_ENGINES", "Engine"]

PEERS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Engine:
    """One column of the comparison: an engine in one configuration."""

    key: str
    mode: str  # how it is run, shown in the table
    peer: str | None  # the venv under bench/.venvs, None for opcenter itself
    program: str
    extra_args: tuple[str, ...] = ()
    has_services: bool = False  # setup/teardown start and stop background services
    self_timed: bool = False  # the program prints {"seconds": S}: trigger to success
    unsupported: dict[str, str] = field(default_factory=dict)  # workload -> why not
    notes: dict[str, str] = field(default_factory=dict)  # workload -> how it runs it

    @property
    def label(self) -> str:
        if self.peer is None:
            return f"opcenter {opcenter_bench.version()}"
        return PEERS[self.peer].label

    def python(self) -> str:
        return sys.executable if self.peer is None else str(peer_python(self.peer))

    def setup(self, state: Path) -> None:
        """Prepare ``state`` (not timed): fresh store, definitions deployed, services started."""
        state.mkdir(parents=True, exist_ok=True)
        if self.key == FLOOR:
            return
        if self.has_services:
            self._program(["setup", "--home", str(state)])
        elif self.peer is None:
            opcenter_bench.setup(state)

    def teardown(self, state: Path) -> None:
        if self.has_services:
            self._program(["teardown", "--home", str(state)])

    def command(self, workload: Workload, state: Path) -> tuple[list[str], dict[str, str]]:
        """The timed command and its environment."""
        if self.key == FLOOR:  # opcenter's own interpreter, importing only the store library
            return [self.python(), str(PEERS_DIR / self.program)], dict(os.environ)
        if self.peer is None and not self.has_services:
            return opcenter_bench.run_command(workload), opcenter_bench.run_env(state)
        if self.key == "opcenter-endpoint":  # the CLI process against the server setup started
            return opcenter_bench.endpoint_command(workload, state)
        argv = [self.python(), str(PEERS_DIR / self.program)]
        if self.has_services:
            argv.append("run")
        argv += [workload.name, *self.extra_args]
        if self.program != "luigi_bench.py":
            argv += ["--home", str(state)]
        return argv, dict(os.environ)

    def _program(self, args: list[str]) -> None:
        subprocess.run([self.python(), str(PEERS_DIR / self.program), *args], check=True)


_IN_ORDER = "in date order"
#: Not an engine: opcenter's interpreter importing SQLAlchemy and nothing else (floor_bench.py),
#: the least any embedded `opcenter run` takes on this machine.
FLOOR = "opcenter-floor"
ENGINES: dict[str, Engine] = {
    "opcenter": Engine(
        "opcenter",
        "`opcenter run --wait`, SQLite store, 2 worker slots",
        None,
        "opcenter_bench.py",
        notes={"dates": "`--from/--to`, one Dag per date, " + _IN_ORDER},
    ),
    "opcenter-api": Engine(
        "opcenter-api",
        "`opcenter serve` already running (SQLite store, 2 worker slots), each run started with "
        "the official SDK's RunManualDagNodes and timed until every Dag succeeded (ListDags "
        "polled every 5 ms): the counterpart of Airflow's measurement",
        None,
        "opcenter_api_bench.py",
        has_services=True,
        self_timed=True,
        notes={"dates": "StartBizDate/EndBizDate, one Dag per date, " + _IN_ORDER},
    ),
    "opcenter-endpoint": Engine(
        "opcenter-endpoint",
        "`opcenter run --wait --endpoint HOST:PORT` as a whole process, against an `opcenter "
        "serve` already running (SQLite store, 2 worker slots): the run is sent to the server "
        "and followed through the API",
        None,
        "opcenter_api_bench.py",  # its setup/teardown start and stop the server
        has_services=True,
        notes={"dates": "`--from/--to`, one Dag per date, " + _IN_ORDER},
    ),
    FLOOR: Engine(
        FLOOR,
        "not an engine: opcenter's interpreter starting, importing SQLAlchemy Core and ORM (the "
        "store library every embedded command loads, garbage collector off as in the CLI) and "
        "exiting; it runs nothing, so it is the least any embedded `opcenter run --wait` takes",
        None,
        "floor_bench.py",
        notes={name: "imports only, runs nothing" for name in ("chain", "fan", "shell", "dates")},
    ),
    "luigi-1w": Engine(
        "luigi-1w",
        "local scheduler, 1 worker",
        "luigi",
        "luigi_bench.py",
        ("--workers", "1"),
        notes={
            "shell": "1 at a time (1 worker)",
            "dates": "DateParameter; each date waits for the previous one",
        },
    ),
    "luigi-2w": Engine(
        "luigi-2w",
        "local scheduler, 2 workers",
        "luigi",
        "luigi_bench.py",
        ("--workers", "2"),
        notes={"dates": "DateParameter; each date waits for the previous one"},
    ),
    "dagster": Engine(
        "dagster",
        "in-process executor, persistent SQLite instance",
        "dagster",
        "dagster_bench.py",
        notes={
            "shell": "1 at a time (the in-process executor is serial)",
            "dates": "daily partitions, one run per partition, " + _IN_ORDER,
        },
    ),
    "prefect": Engine(
        "prefect",
        "one flow, tasks submitted, dedicated `prefect server` (SQLite)",
        "prefect",
        "prefect_bench.py",
        has_services=True,
        unsupported={"dates": "no notion of business date"},
    ),
    "airflow": Engine(
        "airflow",
        "`airflow scheduler` (LocalExecutor, parallelism 2), dag-processor and api-server on "
        "PostgreSQL, timed from the REST trigger to the run's success; scheduler idle sleep "
        "0.05 s instead of the default 1 s, in Airflow's favour (with the default the chain "
        "took 232 s)",
        "airflow",
        "airflow_bench.py",
        has_services=True,
        self_timed=True,
        notes={"dates": "backfill, max_active_runs=1, " + _IN_ORDER},
    ),
}

#: ``--peers`` names: a peer selects every engine configuration of it.
PEER_ENGINES: dict[str, tuple[str, ...]] = {
    "luigi": ("luigi-1w", "luigi-2w"),
    "dagster": ("dagster",),
    "prefect": ("prefect",),
    "airflow": ("airflow",),
}
