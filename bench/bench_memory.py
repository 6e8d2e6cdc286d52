"""Server memory benchmark (issue 16), not a test:

    .venv/bin/python bench/bench_memory.py [--instances 100000] [--phase 10000] [--warmup 10000]

Does the server's memory stay flat once instances are finished, or does it grow with every
instance it ever ran? The benchmark

1. starts `opcenter serve` as a separate process on 127.0.0.1 on a fresh data directory with
   its default SQLite store (bench/bench_api_load.py `running_server`: the root AccessKey from
   the environment, the engine running), and deploys the same 20-node workflow of virtual
   nodes through the official `alibabacloud_dataworks_public20200518` SDK;
2. sends `RunManualDagNodes` calls (20 instances each) from `--clients` SDK clients, in
   phases of `--phase` instances; after each phase it waits until the engine is idle (every
   Dag in the store finished, then `--settle` seconds more, longer than the engine's 10 s
   change look-back) and samples the server process's memory from /proc/<pid>/status: VmRSS
   (resident), and its part RssAnon (the heap: what a leak makes grow);
3. stops the server and checks in its store that every Dag and instance SUCCEEDED.

"Flat" is defined as: over the second half of the run (from 50,000 to 100,000 instances by
default), the least-squares slope of VmRSS is at most 2 MiB per 100,000 instances (20 KiB per
1,000; a leak of more than about 20 bytes per finished instance fails it). The growth after
the warm-up (`--warmup`, 10,000 instances) is printed too: it is larger, because bounded
memory keeps filling long after the first instances (SQLite's page cache of each pooled
connection, up to 2 MiB each, and glibc's per-thread malloc arenas), which is why "flat" is
judged over the second half, where most of that filling is done (not all of it: the docs
section says how much). The samples' noise (the largest residual from the line) is printed next
to each slope. Under `make bench` the result also goes to the issue 16 targets table
(bench/_summary.py, row "memory").

Prints a table and the markdown section and writes it into docs/benchmarks.md under "## Server
memory (issue 16)" (not with `--no-docs`, nor for a diagnostic run). `--tracemalloc DIR` is a
diagnostic: the server runs through bench/_api_server.py with `tracemalloc` on, dumps a snapshot
into DIR after each phase (on SIGUSR1), and the growth between the warm-up and the last snapshot
is printed by allocation site (tracemalloc costs memory and time: such a run's figures are not
the ones reported); `--frames 0` keeps only the native figures (SQLite's heap, malloc's bytes in
use and free-but-kept, and the count of run seeds the engine has not taken), at full speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sqlite3
import sys
import time
import tracemalloc
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._docs import replace_section  # noqa: E402
from bench._summary import record  # noqa: E402
from bench.bench_api_load import (  # noqa: E402
    NODES,
    Server,
    client,
    machine,
    run_load,
    running_server,
    setup_flow,
)

HEADING = "## Server memory (issue 16)"
FLAT_MIB_PER_100K = 2.0  # the target: VmRSS growth after the warm-up, per 100,000 instances
SNAPSHOT_ENV = "OPCENTER_BENCH_TRACEMALLOC"  # read by bench/_api_server.py
FRAMES_ENV = "OPCENTER_BENCH_TRACEMALLOC_FRAMES"
IDLE_TIMEOUT_SECONDS = 600.0
MIB = 1024 * 1024


@dataclass
class Sample:
    instances: int  # finished instances when sampled
    rss: int  # VmRSS, bytes
    anon: int  # RssAnon, bytes
    load_seconds: float
    calls_per_second: float
    errors: int


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) of a process, in bytes, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values.get("RssAnon", 0)


def unfinished(store: Path) -> tuple[int, int]:
    """(Dags, Dags not finished) in the running server's SQLite store, read-only."""
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('SUCCESS', 'FAILURE')) "
            "FROM dag"
        ).fetchone()
    return int(row[0]), int(row[1])


def wait_idle(server: Server, dags: int, settle: float) -> None:
    """Until every one of the `dags` Dags has finished, then `settle` seconds more."""
    store = server.data_dir / "data" / "opcenter.db"
    deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
    while True:
        total, running = unfinished(store)
        if total >= dags and running == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the engine is not idle: {running} of {total} Dags unfinished")
        time.sleep(0.5)
    time.sleep(settle)


def sample(server: Server) -> tuple[int, int]:
    """The median of five readings half a second apart (the allocator moves a little)."""
    readings = []
    for _ in range(5):
        readings.append(memory(server.process.pid))
        time.sleep(0.5)
    readings.sort()
    return readings[len(readings) // 2]


def snapshot(server: Server, folder: Path, name: str) -> Path:
    """Ask the diagnostic server for a tracemalloc snapshot (SIGUSR1) and wait for it."""
    target = folder / f"{name}.snap"
    (folder / "next").write_text(str(target))
    server.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not (folder / f"{name}.done").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server wrote no tracemalloc snapshot")
        time.sleep(0.2)
    return target


def print_native(snapshots: list[Path]) -> None:
    """SQLite's heap and malloc's in-use / free-but-kept bytes at each snapshot (MiB), and the
    run seeds the engine has not taken (a count)."""
    print("\nnative memory at each snapshot (MiB):")
    for path in snapshots:
        figures = json.loads(path.with_suffix(".json").read_text())
        seeds = figures.pop("seeds_kept", None)
        line = ", ".join(f"{k} {v / MIB:.2f}" for k, v in figures.items())
        if seeds is not None:
            line += f"; run seeds not taken: {seeds}"
        print(f"  {path.stem:>12}: {line}")


def print_growth(first: Path, last: Path, top: int = 25) -> None:
    """Allocation sites that grew between two snapshots, largest first."""
    old = tracemalloc.Snapshot.load(str(first))
    new = tracemalloc.Snapshot.load(str(last))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignore), new.filter_traces(ignore)
    stats = new.compare_to(old, "traceback")
    before = sum(t.size for t in old.traces)
    after = sum(t.size for t in new.traces)
    print(
        f"\ntracemalloc: live Python allocations {before / MIB:.2f} MiB at {first.stem}, "
        f"{after / MIB:.2f} MiB at {last.stem} ({(after - before) / 1024:+.1f} KiB); "
        "growth by allocation site:"
    )
    for stat in stats[:top]:
        print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        for line in stat.traceback.format(limit=8):
            print(f"      {line}")


# --- figures ----------------------------------------------------------------------------------


def slope(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares slope (bytes per instance) of (instances, bytes) and the largest residual."""
    if len(points) < 2:
        return float("nan"), float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    residual = max(abs(y - (my + b * (x - mx))) for x, y in points)
    return b, residual


@dataclass
class Figures:
    samples: list[Sample]
    warmup: int
    store: dict[str, int]
    started_rss: int

    def after(self, start: int) -> list[Sample]:
        return [s for s in self.samples if s.instances >= start]

    @property
    def half(self) -> int:
        """Where the second half of the run starts (a sampled point)."""
        end = self.samples[-1].instances if self.samples else 0
        return min((s.instances for s in self.samples if s.instances >= end / 2), default=0)

    def at(self, instances: int) -> Sample | None:
        return next((s for s in self.samples if s.instances == instances), None)

    def growth(self, field: str, start: int) -> tuple[float, float]:
        """(KiB per 1,000 instances, noise in KiB) of `field` from `start` instances on."""
        b, residual = slope([(s.instances, getattr(s, field)) for s in self.after(start)])
        return b * 1000 / 1024, residual / 1024

    def flat(self) -> bool:
        kib, _ = self.growth("rss", self.half)
        return kib == kib and kib * 100 / 1024 <= FLAT_MIB_PER_100K


def rows_of(fig: Figures) -> list[tuple[str, str]]:
    def mib(value: int) -> str:
        return f"{value / MIB:,.1f} MiB"

    rows = [("server started, flow deployed (no instance)", f"VmRSS {mib(fig.started_rss)}")]
    last = fig.samples[-1] if fig.samples else None
    marks = sorted({fig.warmup, fig.half, last.instances}) if last else []
    for instances in marks:
        s = fig.at(instances)
        if s is not None:
            label = "after the warm-up, " if instances == fig.warmup else "after "
            rows.append(
                (
                    f"{label}{instances:,} instances finished",
                    f"VmRSS {mib(s.rss)} (RssAnon {mib(s.anon)})",
                )
            )
    end = last.instances if last else 0

    def growth(start: int) -> str:
        rss, rss_noise = fig.growth("rss", start)
        anon, anon_noise = fig.growth("anon", start)
        return (
            f"VmRSS {rss:+.1f} KiB (samples within ±{rss_noise:,.0f} KiB of that line), "
            f"RssAnon {anon:+.1f} KiB (±{anon_noise:,.0f} KiB)"
        )

    def rise(start: int) -> str:
        first = fig.at(start)
        if not (last and first):
            return "n/a"
        return f"{(last.rss - first.rss) / MIB:+.2f} MiB over {end - start:,} instances"

    half, _ = fig.growth("rss", fig.half)
    rows += [
        (
            f"growth per 1,000 instances after the warm-up ({fig.warmup:,}; least squares)",
            growth(fig.warmup),
        ),
        (f"VmRSS from {fig.warmup:,} to {end:,} instances", rise(fig.warmup)),
        (
            f"growth per 1,000 instances over the second half ({fig.half:,} to {end:,})",
            growth(fig.half),
        ),
        (f"VmRSS from {fig.half:,} to {end:,} instances", rise(fig.half)),
        (
            f"flat (second half: ≤ {FLAT_MIB_PER_100K:g} MiB per 100,000 instances)",
            ("yes" if fig.flat() else "NO")
            + f": {half * 100 / 1024:+.2f} MiB per 100,000 instances",
        ),
        (
            "in the store afterwards",
            f"{fig.store.get('dags', 0):,} Dags ({fig.store.get('dags_success', 0):,} SUCCESS), "
            f"{fig.store.get('instances', 0):,} instances "
            f"({fig.store.get('success', 0):,} SUCCESS)",
        ),
    ]
    return rows


def phase_table(fig: Figures) -> list[str]:
    lines = [
        "| instances finished | VmRSS | RssAnon | calls/s in the phase | errors |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in fig.samples:
        lines.append(
            f"| {s.instances:,} | {s.rss / MIB:,.1f} MiB | {s.anon / MIB:,.1f} MiB | "
            f"{s.calls_per_second:,.1f} | {s.errors} |"
        )
    return lines


ANALYSIS = (
    "**Where the memory goes** (measured 2026-12-06 on the machine above, 2 CPUs, in runs of "
    "this benchmark with `--tracemalloc`). No Python object outlives its instance: the "
    "server's live Python allocations were 17.04 MiB after 10,000 instances and 17.08 MiB "
    "after 40,000 (+44 KiB for 30,000 instances; the largest site, +21 KiB, is the text of "
    "`IN (?, …)` statements of new lengths kept by sqlite3's statement cache, 128 per "
    "connection), and the engine holds no view, queue or in-flight entry of a finished Dag "
    "(tests/engine/test_engine_memory.py). With `--frames 0` (native figures, full speed), "
    "from 10,000 to 100,000 instances VmRSS rose 3.9 MiB: SQLite's own heap +1.7 MiB "
    "(3.3 to 5.0 MiB: the page caches of the pooled connections filling, bounded by "
    "`cache_size`, 2 MiB per connection, up to 8 pooled), other memory in use from malloc "
    "+0.3 MiB, and memory glibc malloc keeps free in its arenas +2.0 MiB (5.5 to 7.5 MiB: "
    "fragmentation). Both are bounded, not a function of the instances run: with "
    "`MALLOC_ARENA_MAX=2` a 200,000-instance run grew 0.9 MiB from 100,000 to 200,000 "
    "instances (91.3 MiB at 20,000, 94.4 MiB at 200,000), and with `PRAGMA cache_size=-64` "
    "VmRSS at 60,000 instances was 95.7 MiB against 97.1 to 99.9 MiB in three default runs. "
    "How fast the caches fill depends on the load's timing, so the second-half slope varies "
    "from run to run (1.1 to 2.9 MiB per 100,000 instances in five default runs on a loaded "
    "machine): the 2 MiB target is met by some runs and missed by others until SQLite's "
    "caches are full."
)


def markdown(fig: Figures, args: argparse.Namespace) -> str:
    rows = rows_of(fig)
    return "\n".join(
        [
            HEADING,
            "",
            f"Measured {dt.date.today().isoformat()} on {machine()} with "
            f"`.venv/bin/python bench/bench_memory.py --instances {args.instances} "
            f"--phase {args.phase} --warmup {args.warmup} --clients {args.clients}`: "
            f"`opcenter serve` in a separate process on a fresh SQLite data directory, "
            f"{args.clients} official SDK clients call `RunManualDagNodes` on a deployed "
            f"{NODES}-node workflow of virtual nodes ({NODES} instances per call) in phases of "
            f"{args.phase:,} instances; after each phase the benchmark waits until every Dag "
            f"has finished and {args.settle:g} s more, then reads the server's VmRSS and "
            "RssAnon (its heap) from /proc (median of 5 readings). Flat means: over the "
            "second half of the run, the least-squares slope of VmRSS is at most "
            f"{FLAT_MIB_PER_100K:g} MiB per 100,000 instances (a leak of more than about 20 "
            "bytes per finished instance fails it); the slope after the first "
            f"{args.warmup:,} instances is given too. The samples' largest distance from "
            "each line is given as its noise.",
            "",
            "| figure | measured |",
            "| --- | --- |",
            *(f"| {name} | {value} |" for name, value in rows),
            "",
            *phase_table(fig),
            "",
            ANALYSIS,
            "",
        ]
    )


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Server RSS over many finished instances.")
    parser.add_argument(
        "--instances",
        type=int,
        default=100_000,
        help="instances in all (flatness needs tens of thousands)",
    )
    parser.add_argument("--phase", type=int, default=10_000, help="instances per phase")
    parser.add_argument("--warmup", type=int, default=10_000, help="instances of the warm-up")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SDK clients")
    parser.add_argument(
        "--settle", type=float, default=12.0, help="seconds waited after the engine is idle"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--notes", type=Path, help="also write the markdown section into this file")
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="DIR",
        help="diagnostic: snapshots of the server's allocations into DIR, growth printed",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=5,
        help="with --tracemalloc: frames per traced allocation; 0: native figures only (fast)",
    )
    args = parser.parse_args(argv)
    for name in ("instances", "phase", "warmup"):
        if getattr(args, name) % NODES:
            parser.error(f"--{name} must be a multiple of {NODES}")
    if args.warmup > args.instances or args.phase <= 0:
        parser.error("--warmup must not exceed --instances, and --phase must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    how = "cli"
    snapshots: list[Path] = []
    if args.tracemalloc is not None:
        how = "launcher"
        args.tracemalloc.mkdir(parents=True, exist_ok=True)
        os.environ[SNAPSHOT_ENV] = str(args.tracemalloc.resolve())
        os.environ[FRAMES_ENV] = str(args.frames)
    # Phase boundaries: the warm-up is one of them, so the figure "after the warm-up" is measured.
    marks = sorted({*range(args.phase, args.instances + 1, args.phase), args.warmup})
    if marks[-1] != args.instances:
        marks.append(args.instances)
    samples: list[Sample] = []
    errors = 0
    with running_server(how, None) as server:
        print(f"server: {how} on {server.endpoint}, pid {server.process.pid}", flush=True)
        setup_flow(client(server))
        wait_idle(server, 0, args.settle)
        started_rss, _ = sample(server)
        print(f"started: VmRSS {started_rss / MIB:.1f} MiB", flush=True)
        done = 0
        for mark in marks:
            calls = (mark - done) // NODES
            tally, elapsed = run_load(server, args.clients, 1e9, calls)
            errors += sum(tally.errors.values())
            done += len(tally.dag_ids) * NODES
            wait_idle(server, done // NODES, args.settle)
            rss, anon = sample(server)
            samples.append(
                Sample(done, rss, anon, elapsed, len(tally.dag_ids) / elapsed, len(tally.errors))
            )
            print(
                f"{done:>8,} instances: VmRSS {rss / MIB:7.1f} MiB, RssAnon {anon / MIB:7.1f} "
                f"MiB ({len(tally.dag_ids) / elapsed:.1f} calls/s, errors {dict(tally.errors)})",
                flush=True,
            )
            if args.tracemalloc is not None:
                snapshots.append(snapshot(server, args.tracemalloc, f"at-{done}"))
    fig = Figures(samples, args.warmup, server.store, started_rss)
    rows = rows_of(fig)
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    print("\n".join(phase_table(fig)))
    text = markdown(fig, args)
    if args.notes is not None:
        args.notes.write_text(text)
    if args.tracemalloc is not None:
        print_native(snapshots)
        first = next((p for p in snapshots if p.stem == f"at-{args.warmup}"), snapshots[0])
        if args.frames > 0:
            print_growth(first, snapshots[-1])
    elif not args.no_docs:
        replace_section(HEADING, text)
    half, _ = fig.growth("rss", fig.half)
    last = samples[-1] if samples else None
    first = fig.at(args.warmup)
    if last is not None and first is not None:
        record(
            "memory",
            f"VmRSS {first.rss / MIB:,.1f} MiB after {args.warmup:,} instances, "
            f"{last.rss / MIB:,.1f} MiB after {last.instances:,}; second half "
            f"{half * 100 / 1024:+.2f} MiB per 100,000 (flat: ≤ {FLAT_MIB_PER_100K:g})",
            fig.flat(),
        )
    store = server.store
    ok = (
        errors == 0
        and store.get("instances") == done
        and store.get("success") == done
        and store.get("dags_success") == store.get("dags")
    )
    if not ok:
        print(f"NOT every instance succeeded, or errors: {errors} errors, store {store}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
