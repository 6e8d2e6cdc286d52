"""The engine's scheduling rules, observed from the outside on both backends: never more jobs
running than executor slots, higher priority first when slots are scarce, and RerunMode
ALL_DENIED (no automatic rerun, RestartInstance refused)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.errors import Conflict
from opcenter.service import instances as ops
from opcenter.service import logs
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Instance
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag

S = InstanceStatus
PROD = "PROD"


def _job(running: Path, seen: Path, name: str) -> str:
    """Shell code: mark itself running, record how many jobs run now, hold a second, unmark."""
    return f"touch {running}/{name}; ls {running} | wc -l >> {seen}; sleep 1; rm {running}/{name}"


@pytest.fixture
def store_watch(ctx: ServiceContext) -> Iterator[list[int]]:
    """The number of RUNNING instances in the store, sampled every 20 ms during the test."""
    counts: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            with ctx.db.transaction(readonly=True) as s:
                counts.append(
                    s.scalar(sa.select(sa.func.count()).where(Instance.status == S.RUNNING.value))
                    or 0
                )

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    yield counts
    done.set()
    thread.join()


def test_never_more_jobs_run_than_slots(
    ctx: ServiceContext, start_engine: Callable[..., Engine], store_watch: list[int]
) -> None:
    # Given 2 slots and 5 independent jobs of a second each
    running, seen = ctx.settings.data_dir / "running", ctx.settings.data_dir / "seen"
    running.mkdir()
    names = [f"j{i}" for i in range(5)]
    flow = make_flow(ctx, [node(n, "shell", _job(running, seen, n)) for n in names])
    start_engine(ctx, slots=2)
    # When they run
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.SUCCESS
    # Then each job saw at most 2 running (itself included), and the slots were used in full
    observed = [int(line) for line in seen.read_text().split()]
    assert len(observed) == 5
    assert max(observed) == 2
    # and the store never showed more than 2 RUNNING instances either
    assert max(store_watch) == 2


def test_higher_priority_instances_start_first_when_slots_are_scarce(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given one slot, a gate holding it, and three jobs after the gate created lowest priority
    # first (so first-come order and priority order disagree)
    order = ctx.settings.data_dir / "order"
    flow = make_flow(
        ctx,
        [node("gate", "shell", "sleep 0.5")]
        + [node(n, "shell", f"echo {n} >> {order}", after=["gate"]) for n in ("low", "mid", "hi")],
    )
    created = run_flow(flow)  # no engine yet: nothing starts
    rows = by_name(ctx, created.dag_id)
    # (no operation sets a node's priority: it is set in the store, as DataWorks sets it)
    with ctx.db.transaction() as s:
        for name, priority in (("low", 1), ("mid", 5), ("hi", 8)):
            s.get(Instance, rows[name].instance_id).priority = priority  # type: ignore[union-attr]
    # When the engine runs them on one slot
    start_engine(ctx, slots=1)
    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.SUCCESS
    # Then they ran highest priority first
    assert order.read_text().split() == ["hi", "mid", "low"]
    after = by_name(ctx, created.dag_id)
    starts = [after[n].begin_running_time for n in ("hi", "mid", "low")]
    assert starts == sorted(starts)


def test_all_denied_is_never_rerun_automatically_nor_restarted(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a failing node with RerunMode ALL_DENIED and 3 automatic reruns configured
    tries = ctx.settings.data_dir / "tries"
    flow = make_flow(
        ctx,
        [
            node(
                "no",
                "shell",
                f"echo x >> {tries}; exit 1",
                rerun_mode="ALL_DENIED",
                auto_rerun_times=3,
                auto_rerun_interval_millis=100,
            )
        ],
    )
    # When it runs and fails
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    # Then it ran once: one attempt, no automatic rerun announced or used (TaskRerunTime 0:
    # it cannot be rerun)
    no = by_name(ctx, created.dag_id)["no"]
    assert (no.status, no.attempt, no.task_rerun_time) == (S.FAILURE, 1, 0)
    assert tries.read_text() == "x\n"
    log = logs.get_instance_log(ctx, instance_id=no.instance_id, project_env=PROD)
    assert "exit code 1" in log and "automatic rerun" not in log
    # and RestartInstance is refused with the reason, changing nothing
    with pytest.raises(Conflict) as refused:
        ops.restart_instance(ctx, instance_id=no.instance_id, project_env=PROD)
    assert (refused.value.code, refused.value.http_status, str(refused.value)) == (
        "Invalid.Instance.Status",
        409,
        f"RestartInstance is not allowed for InstanceId={no.instance_id} with status FAILURE: "
        "the node's RerunMode is ALL_DENIED.",
    )
    again = ops.get_instance(ctx, instance_id=no.instance_id, project_env=PROD)
    assert (again.status, again.attempt) == (S.FAILURE, 1)
