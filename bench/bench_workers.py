"""Celery workers (issue 15), not a test: `.venv/bin/python bench/bench_workers.py`.

400 Shell nodes running `true` (a wide DAG) on PostgreSQL with RabbitMQ, run through `opcenter
worker` processes by an engine with a `CeleryExecutor`, side by side in one run: one worker,
then two workers, each with the same `--concurrency`. Prints a table (seconds, attempts per
second, the ratio) with the CPU time each kind of process used, and writes it into
docs/benchmarks.md under its heading.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._docs import replace_section  # noqa: E402
from opcenter.domain.model import DagStatus  # noqa: E402
from opcenter.engine.scheduler import Engine  # noqa: E402
from opcenter.runners.remote.executor import WATCH_SECONDS, CeleryExecutor  # noqa: E402
from opcenter.service.context import ServiceContext  # noqa: E402
from opcenter.settings import load_settings  # noqa: E402
from opcenter.store.db import Database  # noqa: E402
from tests.engine.builders import (  # noqa: E402
    attempt_log,
    biz,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_dag,
)

HEADING = "## Celery workers: one vs two (issue 15)"
COUNT, CONCURRENCY = int(os.environ.get("BENCH_WORKERS_COUNT", "400")), 4
PG_URL = os.environ.get("OPCENTER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OPCENTER = Path(sys.executable).with_name("opcenter")


def _vhost() -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return "amqp://guest:guest@127.0.0.1:5672//"
    subprocess.run([tool, "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        [tool, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return f"amqp://guest:guest@127.0.0.1:5672/{name}"


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process and its reaped children (the jobs, their
    sandbox), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _workers(count: int, url: str, broker: str, tmp: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for number in range(count):
        data = tmp / f"w{number}-{time.monotonic_ns()}"
        data.mkdir()
        env = {
            **os.environ,
            "OPCENTER_DATABASE_URL": url,
            "OPCENTER_BROKER_URL": broker,
            "OPCENTER_DATA_DIR": str(data),
        }
        args = [str(OPCENTER), "worker", "--concurrency", str(CONCURRENCY), "--name", f"b{number}"]
        procs.append(
            subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return procs


def _run(ctx: ServiceContext, flow, days_ago: int, workers: int, url: str, broker: str, tmp: Path):  # type: ignore[no-untyped-def]
    procs = _workers(workers, url, broker, tmp)
    engine = Engine(ctx, CeleryExecutor(ctx.db, broker), poll_seconds=0.1)
    engine.start()
    try:
        while engine.executor.slots < workers * CONCURRENCY:  # every worker is up
            time.sleep(0.05)
        cpu_before = [_cpu(p.pid) for p in procs]
        me_before = time.process_time()
        started = time.perf_counter()
        dag_id = run_flow(flow, biz_date=biz(days_ago=days_ago)).dag_ids[0]
        status = wait_dag(ctx, dag_id, timeout=600)
        seconds = time.perf_counter() - started
        if status is not DagStatus.SUCCESS:
            failed = [i for i in by_name(ctx, dag_id).values() if i.status.value != "SUCCESS"]
            for inst in failed[:3]:
                print(inst.node_name, inst.status, attempt_log(ctx, inst.instance_id, inst.attempt))
            raise SystemExit(f"the run ended {status.value}")
        worker_cpu = sum(_cpu(p.pid) - b for p, b in zip(procs, cpu_before, strict=True))
        return seconds, worker_cpu, time.process_time() - me_before
    finally:
        engine.stop()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait()


def main() -> int:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    broker = _vhost()
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    tmp.chmod(0o755)  # the jobs run as the tenant user (as root) and must reach their folders
    db = Database(PG_URL, schema=schema)
    db.migrate()
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp / "scheduler", timezone="UTC")
    settings.data_dir.mkdir()
    ctx = ServiceContext(db=db, settings=settings)
    try:
        flow = make_flow(ctx, [node(f"n{i}", "shell", "true") for i in range(COUNT)])
        one = _run(ctx, flow, 0, 1, url, broker, tmp)
        two = _run(ctx, flow, 1, 2, url, broker, tmp)
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        if broker.rsplit("/", 1)[1] and shutil.which("rabbitmqctl"):
            subprocess.run(["rabbitmqctl", "delete_vhost", broker.rsplit("/", 1)[1]], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [("1 worker", *one), ("2 workers", *two)]

    def busy(run: tuple[float, float, float]) -> float:
        return (run[1] + run[2]) / (run[0] * (os.cpu_count() or 1))

    table = [
        HEADING,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}: {COUNT} Shell nodes `true` "
        f"(no edges) on PostgreSQL, RabbitMQ broker, `--concurrency {CONCURRENCY}` per worker, "
        "the engine (with its `CeleryExecutor`) in the benchmark's process; one run each.",
        "",
        "| workers | seconds | attempts/s | workers' CPU s (with jobs) | engine's CPU s |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {name} | {sec:.2f} | {COUNT / sec:.0f} | {wcpu:.1f} | {ecpu:.1f} |"
            for name, sec, wcpu, ecpu in rows
        ),
        "",
        f"Two workers vs one: {one[0] / two[0]:.2f}× the throughput.",
        "",
        f"The limit is not CPU: the processes used {busy(one):.0%} and {busy(two):.0%} of the "
        f"{os.cpu_count()} CPUs. It is each slot's round trip: a `true` job takes a few ms, then "
        f"its result waits for the scheduler's watcher (it reads the worker rows every "
        f"{WATCH_SECONDS:g} s) before the engine hands the slot its next attempt, so throughput "
        "is about slots ÷ (watch period + job), and doubling the workers doubles the slots. "
        "Longer jobs hide the round trip; more slots per worker scale the same way.",
        "",
    ]
    print("\n".join(table))
    replace_section(HEADING, "\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
