"""Side-by-side benchmark of opcenter against Luigi, Dagster, Prefect and Airflow (issue 7).

    /work/main/.venv/bin/python bench/run_peers.py [--runs N] [--peers luigi,...]
                                                   [--workloads chain,fan,shell,dates]

Installs each selected peer into ``bench/.venvs/<peer>/`` at its pinned version when missing,
sets every engine up (not timed), then per workload runs a warm-up of every engine and N timed
runs, opcenter and the peers in turn, each timed as a whole process (Airflow: from the trigger
request to the run's success). Writes the table to ``docs/benchmarks.md`` under
``## Peers (issue 7)`` (that section only) and the raw times to
``bench/.venvs/_state/peers-results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH / "peers"))  # the peer modules import each other by plain name

from engines import ENGINES, FLOOR, PEER_ENGINES, Engine  # noqa: E402
from venvs import PEERS, VENVS_DIR, ensure_venv  # noqa: E402
from workloads import WORKLOADS, Workload  # noqa: E402

STATE = VENVS_DIR / "_state"
RESULTS = STATE / "peers-results.json"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Peers (issue 7)"
DEFAULT_RUNS = 3
DEFAULT_AIRFLOW_RUNS = 1  # one Airflow run of the shell workload takes about five minutes


READING = (
    "Reading the table: a ratio above 1× means the engine took longer than opcenter. The times "
    "of `opcenter run`, Luigi, Dagster and Prefect include starting the interpreter and "
    "importing the engine (for `opcenter run`: SQLAlchemy Core and ORM first, which the "
    "`opcenter-floor` row times alone, then the models, the engine and the run path's modules, "
    "plus start and stop of its embedded engine); Airflow's and opcenter-api's do not (their runs "
    "are triggered over HTTP with the components already up), so compare Airflow with "
    "opcenter-api (the `vs API` column). The machine was shared with other work while "
    "measuring; the min–max spread shows how much that moved the figures.",
    "",
    'Where opcenter\'s time goes: see "Performance round 2 (issue 16)" above. In short, '
    "through the API a 200-node no-op run is the RunManualDagNodes call writing the Dag and "
    "its 200 instances in one transaction, the engine finishing the virtual nodes in one or two "
    "steps, and the client's ListDags polls (every 5 ms, about 0.7 ms of server CPU each); "
    "as a CLI process, `opcenter run --wait` is mostly imports (SQLAlchemy first), then "
    "compiling the statements it uses once, the run, and its engine's start and stop.",
)


@dataclass
class Cell:
    """The measurements of one engine on one workload."""

    times: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


class RunFailed(Exception):
    """Raised when a timed command exits non-zero."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per cell")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (not Airflow)")
    parser.add_argument(
        "--airflow-runs",
        type=int,
        default=DEFAULT_AIRFLOW_RUNS,
        help="timed Airflow runs per cell (no warm-up: its setup already parsed and ran)",
    )
    parser.add_argument("--peers", default=",".join(PEER_ENGINES), help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing; write the table again from the last results file",
    )
    args = parser.parse_args(argv)
    args.peers = _names(parser, "--peers", args.peers, PEER_ENGINES)
    args.workloads = _names(parser, "--workloads", args.workloads, WORKLOADS)
    if args.runs < 1 or args.airflow_runs < 1 or args.warmup < 0:
        parser.error("--runs and --airflow-runs must be at least 1, --warmup at least 0")
    return args


def _names(parser: argparse.ArgumentParser, option: str, value: str, known) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def _runs(engine: Engine, args: argparse.Namespace) -> tuple[int, int]:
    """(warm-up runs, timed runs) of ``engine``."""
    if engine.key == "airflow":
        return 0, args.airflow_runs
    return args.warmup, args.runs


def time_once(engine: Engine, workload: Workload, state: Path | None = None) -> float:
    """Run the engine's command once (in `state`, by default the engine's folder under the
    peers' state); its wall time in seconds (RunFailed if it fails)."""
    state = STATE / engine.key if state is None else state
    argv, env = engine.command(workload, state)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        code = subprocess.run(argv, env=env, cwd=state, stdout=out, stderr=subprocess.STDOUT)
        elapsed = time.perf_counter() - start
        out.seek(0)
        output = out.read().decode(errors="replace")
    if code.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise RunFailed(f"exit {code.returncode}: {tail[-300:]}")
    if engine.self_timed:
        return float(json.loads(output.strip().splitlines()[-1])["seconds"])
    return elapsed


def measure(engines: list[Engine], workload: Workload, args: argparse.Namespace):
    """Warm up, then time the engines in turn, round after round."""
    cells = {e.key: Cell() for e in engines}
    live = [e for e in engines if workload.name not in e.unsupported]
    for engine in live:
        for _ in range(_runs(engine, args)[0]):
            _attempt(engine, workload, cells[engine.key], record=False)
    for round_no in range(max(_runs(e, args)[1] for e in live)):
        for engine in live:
            cell = cells[engine.key]
            if round_no < _runs(engine, args)[1] and cell.failure is None:
                _attempt(engine, workload, cell, record=True)
    return cells


def _attempt(engine: Engine, workload: Workload, cell: Cell, *, record: bool) -> None:
    if cell.failure is not None:
        return
    try:
        seconds = time_once(engine, workload)
    except RunFailed as exc:
        cell.failure = str(exc)
        print(f"  {engine.key:9} {workload.name:6} FAILED {exc}", flush=True)
        return
    if record:
        cell.times.append(seconds)
    kind = "run" if record else "warm-up"
    print(f"  {engine.key:9} {workload.name:6} {kind:7} {seconds:8.2f} s", flush=True)


def machine() -> str:
    """One line describing this machine."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = match.group(1).strip() if match else cpu
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        mem = f", {int(match.group(1)) / 1024**2:.0f} GiB RAM" if match else ""
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def render(engines, workloads, results, args, started: dt.datetime) -> str:
    lines = [
        HEADING,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run_peers.py` on: {machine()}.",
        f"Each cell: {args.runs} timed runs after {args.warmup} warm-up "
        f"(Airflow: {args.airflow_runs} run, no warm-up), engines in turn; wall time of the "
        "whole process (Airflow: trigger request → run seen successful). Setup (workspace, "
        "deploy, database, services) is not timed. Per node = median ÷ node runs; "
        "ratio = median ÷ opcenter's median on the same workload (`opcenter run --wait`, a whole "
        "process); vs API = median ÷ opcenter-api's median (server already up, like Airflow).",
        "",
        "| workload | engine | version | median s | min–max s | per node ms | ratio | vs API "
        "| note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for workload in workloads:
        base = _median(results[workload.name].get("opcenter"))
        api = _median(results[workload.name].get("opcenter-api"))
        for engine in engines:
            cell = results[workload.name].get(engine.key) or Cell(failure="not run")
            lines.append(_row(workload, engine, cell, base, api))
    lines += ["", *targets(results), "", *READING, "", "Engines:", ""]
    lines += [f"- **{e.key}** ({e.label}): {e.mode}." for e in engines]
    lines += [
        "",
        "Workloads: " + "; ".join(f"`{w.name}` {w.title}" for w in workloads) + ".",
        "Peer programs: `bench/peers/<peer>_bench.py`; pinned versions and their locked "
        "dependencies: `bench/peers/venvs.py`, `bench/peers/locks/`.",
        "",
    ]
    return "\n".join(lines)


#: The peer targets of issue 16: (workload, opcenter's engine, peer engine, times ahead).
PEER_TARGETS = (
    ("chain", "opcenter", "luigi-1w", 1.5),
    ("chain", "opcenter", "dagster", 20.0),
    ("chain", "opcenter-endpoint", "luigi-1w", 1.5),
    ("chain", "opcenter-endpoint", "dagster", 20.0),
    ("fan", "opcenter-api", "airflow", 10.0),
)


def targets(results: dict[str, dict[str, Cell]]) -> list[str]:
    """The issue's peer targets, each with how far ahead opcenter measured (peer ÷ ours)."""
    lines = ["Targets (issue 16): how many times faster opcenter was (peer's median ÷ ours).", ""]
    for workload, ours, peer, wanted in PEER_TARGETS:
        row = results.get(workload, {})
        mine, theirs = _median(row.get(ours)), _median(row.get(peer))
        what = f"- {workload}: `{ours}` ≥ {wanted:g}× ahead of {peer}: "
        if mine is None or theirs is None:
            lines.append(what + "not measured in this run")
            continue
        ahead = theirs / mine
        line = what + f"{ahead:.1f}× ({'PASS' if ahead >= wanted else 'MISS'})"
        floor = _median(row.get(FLOOR)) if ours == "opcenter" else None
        if floor is not None:  # what no embedded run can beat: importing the store library
            line += (
                f"; at best {theirs / floor:.1f}×, since `{FLOOR}` (importing SQLAlchemy and "
                f"nothing else) took {floor:.3f} s"
            )
        lines.append(line)
    return lines


def _median(cell: Cell | None) -> float | None:
    return cell.median if cell and cell.times else None


def _row(
    workload: Workload, engine: Engine, cell: Cell, base: float | None, api: float | None = None
) -> str:
    head = f"| {workload.name} | {engine.key} | {engine.label} |"
    note = engine.notes.get(workload.name, "")
    if workload.name in engine.unsupported:
        return f"{head} — | — | — | — | — | cannot: {engine.unsupported[workload.name]} |"
    if not cell.times:
        return f"{head} — | — | — | — | — | failed: {_short(cell.failure or 'not run')} |"
    med = cell.median
    per_node = med / workload.node_runs * 1000
    ratio = f"{med / base:.1f}×" if base else "—"
    vs_api = f"{med / api:.1f}×" if api else "—"
    spread = f"{min(cell.times):.2f}–{max(cell.times):.2f}"
    if cell.failure:
        note = f"{note}; a later run failed: {_short(cell.failure)}".lstrip("; ")
    return f"{head} {med:.2f} | {spread} | {per_node:.2f} | {ratio} | {vs_api} | {note} |"


def _short(failure: str) -> str:
    """A failure message fit for a table cell: its last part, no pipes."""
    return failure.rsplit(" | ", 1)[-1].replace("|", "/")[-160:]


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace the ``## Peers (issue 7)`` section of ``doc`` (create file or section if absent)."""
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = text.rstrip("\n") + "\n"
    if pattern.search(current):
        updated = pattern.sub(lambda _: section + "\n", current, count=1).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(updated)


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT end the run through ``finally`` so that services are torn down
    (a background job may have been started with SIGINT ignored)."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _save(results: dict[str, dict[str, Cell]], args: argparse.Namespace, started) -> None:
    meta = {k: getattr(args, k) for k in ("runs", "warmup", "airflow_runs", "peers", "workloads")}
    cells = {w: {k: vars(c) for k, c in row.items()} for w, row in results.items()}
    payload = {"started": started.isoformat(), "args": meta, "results": cells}
    RESULTS.write_text(json.dumps(payload, indent=1))


def _load() -> tuple[dict[str, dict[str, Cell]], argparse.Namespace, dt.datetime]:
    payload = json.loads(RESULTS.read_text())
    results = {w: {k: Cell(**c) for k, c in row.items()} for w, row in payload["results"].items()}
    args = argparse.Namespace(**payload["args"])
    return results, args, dt.datetime.fromisoformat(payload["started"])


def _run(args: argparse.Namespace, engines: list[Engine], workloads: list[Workload]):
    for peer in args.peers:
        ensure_venv(PEERS[peer], log=lambda line: print(line, flush=True))
    shutil.rmtree(STATE, ignore_errors=True)
    results: dict[str, dict[str, Cell]] = {}
    try:
        for engine in engines:
            print(f"setting up {engine.key} ...", flush=True)
            engine.setup(STATE / engine.key)
        for workload in workloads:
            print(f"{workload.name}: {workload.title}", flush=True)
            results[workload.name] = measure(engines, workload, args)
    finally:
        for engine in engines:
            engine.teardown(STATE / engine.key)
    return results


def main(argv: list[str] | None = None) -> int:
    cli = _parse_args(argv)
    _stop_on_signals()
    clock = time.monotonic()
    if cli.report_only:
        results, args, started = _load()
    else:
        args, started = cli, dt.datetime.now(dt.UTC)
    engines = [ENGINES[k] for k in ("opcenter", "opcenter-api", "opcenter-endpoint", FLOOR)]
    engines += [ENGINES[k] for p in args.peers for k in PEER_ENGINES[p]]
    workloads = [WORKLOADS[w] for w in args.workloads]
    if not cli.report_only:
        sys.path.insert(0, str(ROOT))
        from bench._summary import compile_sources

        compile_sources()
        results = _run(args, engines, workloads)
        _save(results, args, started)
    text = render(engines, workloads, results, args, started)
    print(text)
    if not cli.no_write:
        write_section(text)
        print(f"wrote {DOC.relative_to(ROOT)} ({time.monotonic() - clock:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
