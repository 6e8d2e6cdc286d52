"""Crash safety with a real `opcenter serve` process killed with SIGKILL at observed points of a
run: every Dag continues after a restart, no finished instance runs again, an instance that was
running is recorded as interrupted (log line and ErrorMessage), its auto-rerun policy applies
exactly once, and no process of the interrupted attempt outlives the restart's recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.recovery import INTERRUPTED_LINE, RERUN_LINE
from opcenter.service.context import ServiceContext
from opcenter.service.history import list_instance_history
from opcenter.service.runs import list_dags
from opcenter.settings import load_settings
from tests.engine.builders import (
    attempt_log,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_dag,
    wait_for,
)

OPCENTER = Path(sys.executable).with_name("opcenter")


@pytest.fixture
def data_ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC")
    ctx = ServiceContext.open(settings)
    yield ctx
    ctx.db.dispose()


class Server:
    """`opcenter serve` on the test's data directory, as a separate process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "OPCENTER_TIMEZONE": "UTC"}
        self.process = subprocess.Popen(
            [
                str(OPCENTER),
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--workers",
                "2",
                "--port",
                "0",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def server(data_ctx: ServiceContext) -> Iterator[Server]:
    srv = Server(data_ctx.settings.data_dir)
    yield srv
    srv.kill()


def test_a_killed_server_resumes_and_marks_the_running_instance_failed(
    data_ctx: ServiceContext, server: Server
) -> None:
    # Given a chain whose middle node runs long the first time, with one automatic rerun
    ctx = data_ctx
    marker = ctx.settings.data_dir.parent / "shared" / "second-time"
    pid_file = ctx.settings.data_dir.parent / "shared" / "sleep.pid"
    flow = make_flow(
        ctx,
        [
            node("first", "shell", "echo first"),
            node(
                "long",
                "shell",
                f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; "
                f"sleep 60 & echo $! > {pid_file}; wait",
                after=["first"],
                auto_rerun_times=1,
            ),
            node("last", "shell", "echo last", after=["long"]),
        ],
        shared=[marker.parent],
    )
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    # When the server is killed while `long` runs (its background sleep is left to recovery)
    server.start()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20)
    server.kill()
    assert by_name(ctx, created.dag_id)["long"].status is InstanceStatus.RUNNING
    # Then a new server marks it failed, reruns it (AutoRerunTimes) and finishes the Dag
    server.start()
    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.SUCCESS
    after = by_name(ctx, created.dag_id)
    assert after["first"].attempt == 1  # finished before the kill: never ran again
    assert after["long"].attempt == 2
    first_log = attempt_log(ctx, rows["long"].instance_id, 1)
    assert INTERRUPTED_LINE in first_log
    interrupted, rerun = list_instance_history(
        ctx, instance_id=rows["long"].instance_id, project_env="PROD"
    )
    assert (interrupted.status, interrupted.error_message) == (
        InstanceStatus.FAILURE,
        INTERRUPTED_LINE,
    )
    assert (rerun.status, rerun.error_message) == (InstanceStatus.SUCCESS, "")
    assert after["last"].status is InstanceStatus.SUCCESS
    assert process_gone(int(pid_file.read_text()))  # reaped by recovery


def _journaled(journal: Path) -> int:
    return len(journal.read_text().splitlines()) if journal.exists() else 0


def _running(ctx: ServiceContext, dag_ids: list[int]) -> bool:
    return any(
        inst.status is InstanceStatus.RUNNING
        for dag_id in dag_ids
        for inst in by_name(ctx, dag_id).values()
    )


def test_killing_the_server_at_several_points_of_a_range_loses_nothing(
    data_ctx: ServiceContext, server: Server
) -> None:
    # Given a 4-date range of a 3-node chain; every attempt appends a line to a journal
    ctx = data_ctx
    journal = ctx.settings.data_dir.parent / "shared" / "journal"
    code = f'echo "${{d}} $OPCENTER_INSTANCE_ID" >> {journal}; sleep 0.15'
    flow = make_flow(
        ctx,
        [
            node("a", "shell", code, params="d=$bizdate", auto_rerun_times=5),
            node("b", "shell", code, params="d=$bizdate", after=["a"], auto_rerun_times=5),
            node("c", "shell", code, params="d=$bizdate", after=["b"], auto_rerun_times=5),
        ],
        shared=[journal.parent],
    )
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-04 00:00:00"
    )
    # When the server is killed three times along the way, each time while an instance is seen
    # RUNNING after a given number of attempts has been journaled
    for journaled in (1, 4, 7):
        server.start()
        wait_for(lambda n=journaled: _journaled(journal) >= n and _running(ctx, created.dag_ids))
        server.kill()
    server.start()
    # Then every date succeeds, in order
    assert wait_dag(ctx, created.dag_ids[-1], timeout=40) is DagStatus.SUCCESS
    dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
    assert [d.status for d in dags] == [DagStatus.SUCCESS] * 4
    # and no instance ran more often than it has attempts (a finished attempt never ran again;
    # an interrupted one is a failed attempt followed by a rerun, which may have been killed
    # before its first line)
    lines = journal.read_text().splitlines()
    for dag_id in created.dag_ids:
        for inst in by_name(ctx, dag_id).values():
            runs = sum(1 for line in lines if line.endswith(f" {inst.instance_id}"))
            assert 1 <= runs <= inst.attempt, (inst.node_name, inst.attempt, runs)


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_killed_servers_job_is_reaped_before_its_one_rerun_starts(
    data_ctx: ServiceContext, server: Server
) -> None:
    # Given a Shell job that starts children and records every pid of its group (its first
    # attempt runs for ever; the rerun, after 3 s, notes any first-attempt process still alive)
    ctx = data_ctx
    pids = ctx.settings.data_dir.parent / "shared" / "pids"
    overlap = ctx.settings.data_dir.parent / "shared" / "overlap"
    first_time = ctx.settings.data_dir.parent / "shared" / "first-time"
    code = (
        f"if [ -e {first_time} ]; then\n"
        f"  for p in $(cat {pids}); do\n"
        f"    if grep -qs ') [^ZX] ' /proc/$p/stat; then echo $p >> {overlap}; fi\n"
        "  done\n"
        "  exit 0\n"
        "fi\n"
        f"touch {first_time}\n"
        f"sleep 300 & echo $! >> {pids}\n"
        f"(trap '' TERM; sleep 300) & echo $! >> {pids}\n"
        f"echo $$ >> {pids}\n"
        "sleep 300; wait\n"
    )
    flow = make_flow(
        ctx,
        [node("job", "shell", code, auto_rerun_times=1, auto_rerun_interval_millis=3000)],
        shared=[pids.parent],
    )
    created = run_flow(flow)
    server.start()
    # When the server is killed while the job is seen RUNNING with all its processes started
    wait_for(lambda: len(_pids(pids)) == 3, timeout=30)
    assert by_name(ctx, created.dag_id)["job"].status is InstanceStatus.RUNNING
    server.kill()
    # Then the job's own process dies with the server (parent-death signal); its children live
    # on until the next start's recovery kills them
    children, leader = _pids(pids)[:2], _pids(pids)[2]
    wait_for(lambda: process_gone(leader), timeout=5)
    assert not any(process_gone(pid) for pid in children)
    server.start()
    wait_for(lambda: all(process_gone(pid) for pid in children), timeout=20)
    # and the attempt is recorded as interrupted, with exactly one automatic rerun to come
    waiting = wait_for(
        lambda: (i := by_name(ctx, created.dag_id)["job"]).status is InstanceStatus.WAIT_TIME and i,
        timeout=20,
    )
    assert (waiting.attempt, waiting.error_message) == (1, INTERRUPTED_LINE)
    log = attempt_log(ctx, waiting.instance_id, 1)
    assert INTERRUPTED_LINE in log and RERUN_LINE in log
    # and the rerun (attempt 2) runs once, after the first attempt's processes were all gone
    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.SUCCESS
    assert by_name(ctx, created.dag_id)["job"].attempt == 2
    assert not overlap.exists(), f"attempt 1 still had processes: {overlap.read_text()}"


def process_gone(pid: int) -> bool:
    """True when `pid` does not exist or is a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
