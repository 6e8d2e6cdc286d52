"""Several API processes on PostgreSQL (issue 15), not a test:

    .venv/bin/python bench/bench_processes.py [--clients 32] [--seconds 10] [--processes 1,2,4]

For each count N of `--processes`, on a fresh PostgreSQL schema (OPCENTER_BENCH_PG_URL, default
the test database `postgresql+psycopg://postgres@127.0.0.1:5432/test`):

1. starts N `opcenter serve --no-engine` and one `opcenter scheduler`, all separate processes
   sharing the root AccessKey and the server key;
2. (not timed) creates the 20-node workflow of virtual nodes of bench/bench_api_load.py through
   the official SDK;
3. `--clients` threads, each with its own official client bound to one of the N processes in
   turn, call `RunManualDagNodes` (bench_api_load's call and tally) for `--seconds`;
4. reads the CPU time each process used during the load from /proc/<pid>/stat: the API
   processes, the scheduler, PostgreSQL's backends (every `postgres` process), and the clients
   (this process);
5. checks every answer carried a distinct DagId and that the store holds that many Dags.

Also measures what the store-kept rate limit (iam/rate.py) costs per call on PostgreSQL, and
how long a standby scheduler takes to lead after the leader's SIGKILL.
Prints a table and writes it into docs/benchmarks.md under HEADING, replacing that section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._docs import replace_section  # noqa: E402
from bench.bench_api_load import (  # noqa: E402
    NODES,
    Tally,
    _one_call,
    client,
    cpu_seconds,
    machine,
    percentile,
    setup_flow,
)

HEADING = "## Several API processes on PostgreSQL (issue 15)"
PG_URL = os.environ.get(
    "OPCENTER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OPCENTER = Path(sys.executable).with_name("opcenter")
STARTUP_SECONDS = 60.0
TARGET_RATIO = 1.6  # 2 processes against 1


@dataclass
class Endpoint:
    """What bench_api_load's `client()` needs of a server."""

    endpoint: str
    key_id: str
    secret: str


@dataclass
class Result:
    processes: int
    tally: Tally
    elapsed: float
    api_cpu: float
    scheduler_cpu: float
    postgres_cpu: float
    dags: int
    sessions: int  # PostgreSQL sessions opened in the database during the load
    machine_busy: float  # CPU seconds of every process on the machine (others' included)
    iowait: float  # CPU seconds idle while waiting for the disk


# --- processes ------------------------------------------------------------------------------


def _start(command: str, work: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = ["--port", "0"] if command == "serve" else ["--health-port", "0"]
    extra = ["--no-engine"] if command == "serve" else []
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(OPCENTER), command, "--data-dir", str(work / name), *port, *extra],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )  # fmt: skip


def _printed(work: Path, name: str, prefix: str, process: subprocess.Popen[bytes]) -> str:
    """host:port after `prefix http://` in the process's output."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for line in (work / f"{name}.log").read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line.split("http://", 1)[1].split("/", 1)[0]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {(work / f'{name}.log').read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} printed no {prefix!r}")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new schema of the bench database, dropped afterwards; its URL. OPCENTER_BENCH_PG_OPTIONS
    (e.g. `-csynchronous_commit%3Doff`) adds session options, for a diagnosis run."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        extra = os.environ.get("OPCENTER_BENCH_PG_OPTIONS", "")
        yield f"{PG_URL}?options=-csearch_path%3D{schema}" + (f"%20{extra}" if extra else "")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@contextmanager
def cluster(url: str, count: int) -> Iterator[tuple[list[Endpoint], list[int], int]]:
    """`count` API processes and one scheduler on `url`: (endpoints, API pids, scheduler pid)."""
    work = Path(tempfile.mkdtemp(prefix="opcenter-procs-"))
    key_id, secret = "LTAIbenchroot", secrets.token_urlsafe(24)
    server_key = subprocess.run(
        [str(OPCENTER), "iam", "server-key"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {**os.environ, "OPCENTER_DATABASE_URL": url, "OPCENTER_TIMEZONE": "UTC",
           "OPCENTER_ROOT_ACCESS_KEY_ID": key_id, "OPCENTER_ROOT_ACCESS_KEY_SECRET": secret,
           "OPCENTER_SECRET_KEY": server_key}  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        scheduler = _start("scheduler", work, "scheduler", env)
        processes.append(scheduler)
        _printed(work, "scheduler", "Health: ", scheduler)
        apis = [_start("serve", work, f"api{n}", env) for n in range(count)]
        processes.extend(apis)
        endpoints = [
            Endpoint(_printed(work, f"api{n}", "OpenAPI endpoint: ", api), key_id, secret)
            for n, api in enumerate(apis)
        ]
        yield endpoints, [api.pid for api in apis], scheduler.pid
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)


def postgres_pids() -> list[int]:
    """Every process named `postgres` on this machine (the server and its backends)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def postgres_cpu() -> tuple[dict[int, float], float]:
    """CPU seconds so far of each live `postgres` process, and of the backends that ended:
    the postmaster reaps them, so their time is its children's time (cutime + cstime)."""
    live, reaped = {}, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in postgres_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        live[pid] = (int(fields[11]) + int(fields[12])) / tick
        if int(fields[1]) == 1 or not _is_postgres(int(fields[1])):  # the postmaster
            reaped += (int(fields[13]) + int(fields[14])) / tick
    return live, reaped


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _postgres_spent(before: tuple[dict[int, float], float]) -> float:
    """PostgreSQL's CPU seconds since `before`: live processes, and backends that ended."""
    live, reaped = postgres_cpu()
    return sum(t - before[0].get(pid, 0.0) for pid, t in live.items()) + reaped - before[1]


def machine_cpu() -> tuple[float, float]:
    """(busy, iowait) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, iowait / tick


def _cpu(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in pids}


def _spent(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds since `before`; a process that appeared since counts from zero."""
    total = 0.0
    for pid in pids:
        now = cpu_seconds(pid)
        if now == now:  # not NaN: the process still exists
            total += now - before.get(pid, 0.0)
    return total


# --- the load -------------------------------------------------------------------------------


def run_load(endpoints: list[Endpoint], clients: int, seconds: float) -> tuple[Tally, float]:
    """`clients` threads, client i on endpoint i mod N, for `seconds`."""
    biz_date = (dt.date.today() - dt.timedelta(days=1)).strftime("%Y-%m-%d 00:00:00")
    tally = Tally()
    sdks = [client(endpoints[i % len(endpoints)]) for i in range(clients)]  # type: ignore[arg-type]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(sdk: object) -> None:
        start.wait()
        while time.perf_counter() < deadline[0]:
            _one_call(sdk, biz_date, tally)  # type: ignore[arg-type]

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sdks]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def measure(count: int, clients: int, seconds: float) -> Result:
    with fresh_schema() as url, cluster(url, count) as (endpoints, api_pids, scheduler_pid):
        setup_flow(client(endpoints[0]))  # type: ignore[arg-type]
        before = _cpu([*api_pids, scheduler_pid])
        pg_before, sessions = postgres_cpu(), _sessions()
        client_cpu, (busy, iowait) = time.process_time(), machine_cpu()
        tally, elapsed = run_load(endpoints, clients, seconds)
        tally.client_cpu = time.process_time() - client_cpu
        busy_after, iowait_after = machine_cpu()
        pg_spent, sessions = _postgres_spent(pg_before), _sessions() - sessions
        result = Result(
            processes=count,
            tally=tally,
            elapsed=elapsed,
            api_cpu=_spent(before, api_pids),
            scheduler_cpu=_spent(before, [scheduler_pid]),
            postgres_cpu=pg_spent,
            sessions=sessions,
            dags=_dags(url),
            machine_busy=busy_after - busy,
            iowait=iowait_after - iowait,
        )
    return result


def _sessions() -> int:
    """Sessions opened so far in the bench database (pg_stat_database, PostgreSQL 14+)."""
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).scalar()
            return int(found or 0)
    finally:
        engine.dispose()


def _dags(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM dag").scalar() or 0)
    finally:
        engine.dispose()


def _engine(health: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{health}/readyz", timeout=5) as answer:
            return json.loads(answer.read()).get("engine")
    except (OSError, ValueError):
        return None


def takeover_seconds(rounds: int = 3) -> list[float]:
    """Seconds from the SIGKILL of the leading scheduler to the standby's /readyz saying
    "leader", for a few rounds on an idle store (a fresh scheduler joins each round)."""
    times = []
    work = Path(tempfile.mkdtemp(prefix="opcenter-takeover-"))
    with fresh_schema() as url:
        env = {**os.environ, "OPCENTER_DATABASE_URL": url, "OPCENTER_TIMEZONE": "UTC"}
        alive: list[tuple[subprocess.Popen[bytes], str]] = []
        try:
            for n in range(rounds + 1):
                process = _start("scheduler", work, f"s{n}", env)
                alive.append((process, _printed(work, f"s{n}", "Health: ", process)))
                if n == 0:
                    continue
                leader, standby = alive[-2], alive[-1]
                _until(lambda h=leader[1]: _engine(h) == "leader")
                _until(lambda h=standby[1]: _engine(h) == "standby")
                leader[0].kill()
                killed = time.monotonic()
                _until(lambda h=standby[1]: _engine(h) == "leader", poll=0.02)
                times.append(time.monotonic() - killed)
        finally:
            for process, _ in alive:
                process.kill()
                process.wait()
            shutil.rmtree(work, ignore_errors=True)
    return times


def _until(check: Callable[[], bool], timeout: float = 60.0, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("condition not met in time")
        time.sleep(poll)


def rate_limit_cost(calls: int = 2000) -> float:
    """Milliseconds per `StoreRateLimiter.check` on PostgreSQL (a generous limit: all pass)."""
    from opcenter.iam.rate import StoreRateLimiter
    from opcenter.store.db import Database

    with fresh_schema() as url:
        db = Database(url)
        try:
            db.migrate()
            limiter = StoreRateLimiter(db, 1e9, burst_seconds=2)
            began = time.perf_counter()
            for _ in range(calls):
                limiter.check("bench", time.time())
            return (time.perf_counter() - began) / calls * 1000
        finally:
            db.dispose()


# --- report ---------------------------------------------------------------------------------


def _row(result: Result, base: float) -> str:
    tally, elapsed = result.tally, result.elapsed
    ordered = sorted(tally.latencies_ms)
    throughput = len(ordered) / elapsed
    errors = sum(tally.errors.values())
    ours = result.api_cpu + result.scheduler_cpu + result.postgres_cpu + tally.client_cpu
    ok = "yes" if result.dags == len(set(tally.dag_ids)) == len(ordered) else "NO"
    return (
        f"| {result.processes} | {throughput:,.1f} | {throughput / base:.2f}× "
        f"| {percentile(ordered, 0.5):.0f} | {percentile(ordered, 0.99):.0f} "
        f"| {result.api_cpu / elapsed:.0%} | {result.scheduler_cpu / elapsed:.0%} "
        f"| {result.postgres_cpu / elapsed:.0%} | {tally.client_cpu / elapsed:.0%} "
        f"| {ours / max(1, len(ordered)) * 1000:.1f} | {result.sessions:,} "
        f"| {(result.machine_busy - ours) / elapsed:.0%} | {result.iowait / elapsed:.0%} "
        f"| {errors} | {ok} ({result.dags:,}) |"
    )


def _throughput(result: Result) -> float:
    return len(result.tally.latencies_ms) / result.elapsed


def limit_note(results: list[Result]) -> str:
    """Which resource limits the throughput, from the measured CPU shares."""
    cores = os.cpu_count() or 1
    parts = []
    for result in results:
        shares = {
            "the API processes": result.api_cpu / result.elapsed,
            "the scheduler": result.scheduler_cpu / result.elapsed,
            "PostgreSQL": result.postgres_cpu / result.elapsed,
            "the SDK clients": result.tally.client_cpu / result.elapsed,
        }
        busy = result.machine_busy / result.elapsed
        top = max(shares, key=lambda k: shares[k])
        parts.append(
            f"{result.processes} process(es): the machine's CPU {busy:.0%} of {cores * 100}% "
            f"busy (others' processes included), I/O wait {result.iowait / result.elapsed:.0%}, "
            f"the most by {top} ({shares[top]:.0%})"
        )
    return "; ".join(parts) + "." + _bound(results[0], cores)


def _bound(one: Result, cores: int) -> str:
    """What the CPU allows at most, from the one-process run's CPU cost per call."""
    calls = len(one.tally.latencies_ms)
    if not calls:
        return ""
    api_ms = one.api_cpu / calls * 1000
    total_ms = (one.api_cpu + one.scheduler_cpu + one.postgres_cpu + one.tally.client_cpu) / calls
    total_ms *= 1000
    one_core = 1000 / api_ms  # one API process cannot use more than one core (the GIL)
    machine = cores * 1000 / total_ms  # every process together cannot use more than the cores
    return (
        f" The CPU bound: a call costs {total_ms:.1f} ms of CPU in all ({api_ms:.1f} ms of it in "
        f"the API process), so {cores} cores allow at most {machine:.0f} calls/s whatever the "
        f"number of API processes, and one API process at most {one_core:.0f} calls/s (one "
        f"core): more processes can give at most {machine / one_core:.2f}× one on this machine, "
        "and less while other work shares its cores."
    )


def write_docs(
    results: list[Result], args: argparse.Namespace, cost_ms: float, takeovers: list[float]
) -> str:
    base = _throughput(results[0]) or 1.0
    two = next((r for r in results if r.processes == 2), None)
    ratio = _throughput(two) / base if two else float("nan")
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    lines = [
        HEADING,
        "",
        f"Measured {dt.date.today().isoformat()} on {machine()} with "
        f"`.venv/bin/python bench/bench_processes.py --clients {args.clients} "
        f"--seconds {args.seconds:g} --processes {args.processes}`: for each count, a fresh "
        "PostgreSQL schema on this machine, that many `opcenter serve --no-engine` processes "
        "and one `opcenter scheduler` (running the Dags the calls create), "
        f"{args.clients} threads each with its own official `alibabacloud_dataworks_public"
        "20200518` client bound to one API process in turn, calling `RunManualDagNodes` on the "
        f"deployed {NODES}-node workflow of virtual nodes of the API load benchmark. CPU is "
        "user + system time from /proc/<pid>/stat during the load, as a share of one core "
        f"({os.cpu_count()} cores = {(os.cpu_count() or 1) * 100}%); PostgreSQL counts every "
        "`postgres` process, those that ended during the load included (the postmaster's "
        "children's time); other processes of the machine (a shared one) are in their own "
        "column. Every answer must carry a DagId; the store must hold as many Dags.",
        "",
        "| API processes | calls/s | vs 1 | p50 ms | p99 ms | API CPU | scheduler CPU "
        "| PostgreSQL CPU | clients CPU | CPU ms per call (all of these) | sessions opened "
        "| other processes' CPU | I/O wait | errors | DagIds = Dags in store |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
        *(_row(r, base) for r in results),
        "",
        f"Target: 2 processes ≥ {TARGET_RATIO}× one: **{verdict}** ({ratio:.2f}×). "
        f"Where the limit is: {limit_note(results)}",
        "",
        "The limit is the machine's two cores, not one API process: a single API process "
        "already leaves no CPU idle, because each call also costs the scheduler (running the "
        "20 instances of the Dag it creates), PostgreSQL (the writes of both) and the clients "
        "(SDK signing) about as much CPU again as the API process itself. More API processes "
        "only help where the machine has the cores for them (or PostgreSQL and the schedulers "
        "run elsewhere). This machine is also shared: another session's tests and benchmarks "
        "run beside these (the other processes' column, and PostgreSQL's, which counts every "
        "client of the server), so figures vary by up to a third between runs. `sessions "
        "opened`: new PostgreSQL connections during the load, when more requests are in "
        "flight than a process's pool keeps (10 connections, 20 more made and closed as "
        "needed).",
        "",
        f"The per-AccessKey rate limit kept in the store (`OPCENTER_RATE_LIMIT_PER_SECOND` > 0, "
        f"shared by every API process) costs {cost_ms:.2f} ms per call on this PostgreSQL "
        "(one upsert in its own transaction); with the limit at 0 (the default) no limiter is "
        "built and nothing is on the request path.",
        "",
        "Scheduler take-over: from the SIGKILL of the leading `opcenter scheduler` to the "
        "standby's `/readyz` answering `leader` (two schedulers on an idle store, "
        f"{len(takeovers)} rounds): "
        + ", ".join(f"{t:.2f} s" for t in takeovers)
        + " (target ≤ 5 s; the standby tries to take the advisory lock every second, and the "
        "lock is free as soon as PostgreSQL ends the killed process's session).",
        "",
    ]
    text = "\n".join(lines)
    if not args.no_docs:
        replace_section(HEADING, text)
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="RunManualDagNodes against 1, 2, 4 processes.")
    parser.add_argument("--clients", type=int, default=32, help="concurrent SDK clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per count")
    parser.add_argument("--processes", default="1,2,4", help="API process counts, in order")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(n) for n in args.processes.split(",")]
    results = []
    for count in counts:
        print(f"{count} API process(es): load for {args.seconds:g} s", flush=True)
        results.append(measure(count, args.clients, args.seconds))
    cost_ms = rate_limit_cost()
    takeovers = takeover_seconds()
    print(write_docs(results, args, cost_ms, takeovers))
    bad = [r for r in results if sum(r.tally.errors.values()) or r.dags != len(r.tally.dag_ids)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
