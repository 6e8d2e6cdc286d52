"""Exactly once, under real races (issue 10 items 1–3): real processes through LocalExecutor,
operations from a second process, on SQLite and PostgreSQL.

- each attempt is handed to the executor at most once, whatever reloads happen;
- a refused hand-over ends that instance only;
- an operation from another process is never lost to a Dag status the engine derived from an
  older view;
- a stopped attempt leaves RUNNING only once its process group is gone, and a restart never
  overlaps it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.domain.states import derive_dag_status
from opcenter.engine.scheduler import Engine
from opcenter.engine.view import DagView
from opcenter.errors import Conflict
from opcenter.runners.base import InstanceSpec
from opcenter.runners.local import LocalExecutor
from opcenter.service import instances as ops
from opcenter.service import logs
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.runs import get_dag
from opcenter.store.db import Database
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus
PROD = "PROD"


class CountingExecutor(LocalExecutor):
    """The real LocalExecutor, counting each (instance, attempt) handed to it; `refuse` names
    instances whose hand-over raises (as a broken executor would)."""

    def __init__(self, slots: int, refuse: frozenset[int] = frozenset(), **kw: float) -> None:
        super().__init__(slots, **kw)  # type: ignore[arg-type]
        self.submitted: Counter[tuple[int, int]] = Counter()
        self.refuse = refuse
        self._count_lock = threading.Lock()

    def submit(self, spec: InstanceSpec) -> None:
        with self._count_lock:
            self.submitted[(spec.instance_id, spec.attempt)] += 1
        if spec.instance_id in self.refuse:
            raise RuntimeError("no worker will take it")
        super().submit(spec)


@pytest.fixture
def engines() -> object:
    started: list[Engine] = []

    def start(ctx: ServiceContext, executor: LocalExecutor, poll: float = 0.05) -> Engine:
        engine = Engine(ctx, executor, poll_seconds=poll)
        engine.start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()


def status_of(ctx: ServiceContext, instance_id: int) -> S:
    return ops.get_instance(ctx, instance_id=instance_id, project_env=PROD).status


def stored_revision(ctx: ServiceContext, dag_id: int) -> int:
    with ctx.db.transaction(readonly=True) as session:
        view = DagView.load(session, dag_id)
        assert view is not None
        return view.revision


def assert_no_step_failed(caplog: pytest.LogCaptureFixture) -> None:
    failed = [r.getMessage() for r in caplog.records if "engine step failed" in r.getMessage()]
    assert not failed


# -- item 1: double dispatch --------------------------------------------------------------------


def test_reloads_never_hand_an_attempt_over_twice(
    ctx: ServiceContext, engines: Callable[..., Engine], caplog: pytest.LogCaptureFixture
) -> None:
    # Given 3 slots busy with three jobs that end together, three attempts queued behind them,
    # and a suspended node whose suspend/resume makes the engine reload the Dag several times
    caplog.set_level(logging.ERROR, logger="opcenter.engine")
    flag = ctx.settings.data_dir / "go"
    hold = f"while [ ! -e {flag} ]; do sleep 0.02; done"
    jobs = [node(f"j{n}", "shell", hold) for n in range(3)]
    queued = [node(f"w{n}", "shell", "true") for n in range(3)]
    flow = make_flow(ctx, [*jobs, *queued, node("s", "shell", "true", after=["j0"])])
    executor = CountingExecutor(3)
    engine = engines(ctx, executor)
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    wait_for(lambda: all(status_of(ctx, rows[f"j{n}"].instance_id) is S.RUNNING for n in range(3)))
    wait_for(lambda: status_of(ctx, rows["w2"].instance_id) is S.WAIT_RESOURCE)
    s = rows["s"].instance_id
    for operation in (ops.suspend_instance, ops.resume_instance, ops.suspend_instance):
        operation(ctx, instance_id=s, project_env=PROD)
        revision = stored_revision(ctx, created.dag_id)
        wait_for(lambda r=revision: getattr(engine._dags.get(created.dag_id), "revision", 0) == r)
    # When the three jobs end together and the suspended node is resumed
    flag.touch()
    wait_for(lambda: all(status_of(ctx, rows[f"w{n}"].instance_id) is S.SUCCESS for n in range(3)))
    ops.resume_instance(ctx, instance_id=s, project_env=PROD)
    # Then everything ran exactly once and the engine never failed a step
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    assert executor.submitted and max(executor.submitted.values()) == 1
    assert len(executor.submitted) == 7
    assert_no_step_failed(caplog)


def test_a_refused_hand_over_fails_that_instance_only(
    ctx: ServiceContext, engines: Callable[..., Engine], caplog: pytest.LogCaptureFixture
) -> None:
    # Given three jobs started in one step, the executor refusing one of them
    caplog.set_level(logging.ERROR, logger="opcenter.engine")
    flow = make_flow(ctx, [node(n, "shell", "true") for n in ("a", "bad", "c")])
    created = run_flow(flow)  # no engine yet: the Dag waits
    rows = by_name(ctx, created.dag_id)
    bad = rows["bad"].instance_id
    engines(ctx, CountingExecutor(3, refuse=frozenset({bad})))
    # Then the refused one is FAILURE with the reason, the others of the step succeed
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    failed = ops.get_instance(ctx, instance_id=bad, project_env=PROD)
    assert failed.status is S.FAILURE
    assert failed.error_message == "cannot start: no worker will take it"
    log = logs.get_instance_log(ctx, instance_id=bad, project_env=PROD)
    assert log.rstrip().endswith("cannot start: no worker will take it")
    for name in ("a", "c"):
        assert status_of(ctx, rows[name].instance_id) is S.SUCCESS
    assert_no_step_failed(caplog)


# -- item 2: an operation from another process --------------------------------------------------


def second_process(ctx: ServiceContext) -> ServiceContext:
    """Another process's view of the same store: its own Database (own connections, no shared
    write lock), no hook into this process's engine."""
    return ServiceContext(db=Database(ctx.db.url, schema=ctx.db.schema), settings=ctx.settings)


def test_a_restart_from_another_process_survives_a_failing_result(
    ctx: ServiceContext, backend: str, engines: Callable[..., Engine]
) -> None:
    # Given a Dag with A failed and B running, and a poll slower than the race
    other = second_process(ctx)
    engines(ctx, LocalExecutor(2, stop_grace_seconds=0.5), poll=1.0)
    rng = random.Random(10)
    try:
        for round_ in range(12):
            _restart_races_a_failure(ctx, other, round_, rng)
    finally:
        other.db.dispose()


def _restart_races_a_failure(
    ctx: ServiceContext, other: ServiceContext, round_: int, rng: random.Random
) -> None:
    data = ctx.settings.data_dir
    a_ok, b_go, b_ok = data / f"a_ok{round_}", data / f"b_go{round_}", data / f"b_ok{round_}"
    b_code = f"while [ ! -e {b_go} ]; do sleep 0.01; done; test -e {b_ok}"
    flow = make_flow(
        ctx,
        [node("a", "shell", f"test -e {a_ok}"), node("b", "shell", b_code)],
        workspace=f"ws{round_}",
    )
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    a, b = rows["a"].instance_id, rows["b"].instance_id
    wait_for(lambda: status_of(ctx, a) is S.FAILURE and status_of(ctx, b) is S.RUNNING)
    # When another process restarts A and B fails within the same poll
    a_ok.touch()
    ops.restart_instance(other, instance_id=a, project_env=PROD)
    if rng.random() < 0.5:
        time.sleep(rng.random() * 0.05)
    b_go.touch()
    # Then A runs again (it is not left NOT_RUN), and once B is rerun the Dag succeeds
    wait_for(lambda: status_of(ctx, a) is S.SUCCESS, timeout=15)
    wait_for(lambda: status_of(ctx, b) is S.FAILURE)
    b_ok.touch()
    ops.restart_instance(ctx, instance_id=b, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS


# -- item 3: stop, then restart -----------------------------------------------------------------

OVERLAP_JOB = """
import os, pathlib, signal, subprocess, time

trace = pathlib.Path(TRACE)


def alive(group):
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if name.isdigit() and fields[2] == str(group) and fields[0] not in ("Z", "X"):
            return True
    return False


with trace.open("a") as out:
    for line in trace.read_text().splitlines() if trace.exists() else []:
        if line.startswith("start") and alive(int(line.split()[1])):
            out.write(f"overlap {line.split()[1]}\\n")
    out.write(f"start {os.getpgrp()}\\n")
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child: both ignore it
subprocess.run(["sleep", "3"])
with trace.open("a") as out:
    out.write("end\\n")
"""


def test_a_restart_after_a_stop_never_overlaps_the_stopped_attempt(
    ctx: ServiceContext, engines: Callable[..., Engine]
) -> None:
    # Given a job (a process group of two) that ignores SIGTERM and, when it starts, notes any
    # earlier attempt's process group with a live (not zombie) member
    trace = ctx.settings.data_dir / "trace"
    code = OVERLAP_JOB.replace("TRACE", repr(str(trace)))
    engines(ctx, LocalExecutor(2, stop_grace_seconds=1.0))
    flow = make_flow(ctx, [node("slow", "python", code)])
    created = run_flow(flow)
    slow = by_name(ctx, created.dag_id)["slow"].instance_id
    wait_for(lambda: trace.exists() and "start" in trace.read_text())
    # When it is stopped and restarted at once
    ops.stop_instance(ctx, instance_id=slow, project_env=PROD, caller=Caller(name="alice"))
    with pytest.raises(Conflict) as refused:
        ops.restart_instance(ctx, instance_id=slow, project_env=PROD)
    assert refused.value.code == "Invalid.Instance.Status"
    assert "with status RUNNING" in refused.value.message
    # Then it stays RUNNING until its process group is gone (SIGKILL after the grace)
    assert status_of(ctx, slow) is S.RUNNING
    wait_for(lambda: status_of(ctx, slow) is S.FAILURE)
    stopped = ops.get_instance(ctx, instance_id=slow, project_env=PROD)
    assert (stopped.error_message, stopped.stopped_by) == ("Stopped by alice.", "alice")
    log = logs.get_instance_log(ctx, instance_id=slow, project_env=PROD)
    assert log.rstrip().endswith("Stopped by alice.")
    # and the restart runs attempt 2 with no process of attempt 1 left
    ops.restart_instance(ctx, instance_id=slow, project_env=PROD)
    wait_for(lambda: trace.read_text().count("start") == 2)
    lines = trace.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start", "start"], lines
    assert status_of(ctx, slow) is S.RUNNING
    assert ops.get_instance(ctx, instance_id=slow, project_env=PROD).attempt == 2


# -- stress: operations mixed with completions --------------------------------------------------


def test_operations_mixed_with_completions_keep_every_invariant(
    ctx: ServiceContext, backend: str, engines: Callable[..., Engine]
) -> None:
    rng = random.Random(1010)
    executor = CountingExecutor(3, stop_grace_seconds=0.3)
    engine = engines(ctx, executor)
    other = second_process(ctx)
    names = [f"n{k}" for k in range(6)]
    defs = [
        node(
            n,
            "shell",
            f"sleep 0.0{rng.randint(1, 9)}; exit {rng.choice([0, 0, 1])}",
            after=[p for p in names[:k] if rng.random() < 0.3],
        )  # fmt: skip
        for k, n in enumerate(names)
    ]
    flow = make_flow(ctx, defs)
    try:
        created = run_flow(flow)
        rows = by_name(ctx, created.dag_id)
        ids = [rows[n].instance_id for n in names]
        operations = [
            ops.stop_instance,
            ops.restart_instance,
            ops.set_success_instance,
            ops.suspend_instance,
            ops.resume_instance,
        ]
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            operation = rng.choice(operations)
            where = rng.choice([ctx, other])
            with contextlib.suppress(Conflict):  # refused from the state it is in: fine
                operation(where, instance_id=rng.choice(ids), project_env=PROD)
            time.sleep(rng.random() * 0.03)
        _settle(ctx, ids)
        wait_for(lambda: _quiet(ctx, engine, created.dag_id), timeout=20)
        _check_invariants(ctx, engine, executor, created.dag_id)
    finally:
        other.db.dispose()


def _settle(ctx: ServiceContext, ids: list[int]) -> None:
    """Resume everything suspended, so the Dag can end."""
    for instance_id in ids:
        if ops.get_instance(ctx, instance_id=instance_id, project_env=PROD).suspended:
            with contextlib.suppress(Conflict):
                ops.resume_instance(ctx, instance_id=instance_id, project_env=PROD)


def _quiet(ctx: ServiceContext, engine: Engine, dag_id: int) -> bool:
    status = get_dag(ctx, dag_id=dag_id, project_env=PROD).status
    return (
        status in (DagStatus.SUCCESS, DagStatus.FAILURE)
        and not engine._in_flight
        and not (engine._stopping)
    )


def _check_invariants(
    ctx: ServiceContext, engine: Engine, executor: CountingExecutor, dag_id: int
) -> None:
    assert max(executor.submitted.values(), default=1) == 1  # no attempt handed over twice
    with ctx.db.transaction(readonly=True) as session:
        view = DagView.load(session, dag_id)
    assert view is not None
    for inst in view.instances.values():
        assert inst.status is not S.RUNNING or (inst.id, inst.attempt) in engine._in_flight
    facts = {i.id: (i.status, i.suspended) for i in view.instances.values()}
    assert view.status is derive_dag_status(view.status, facts, view.parents)
