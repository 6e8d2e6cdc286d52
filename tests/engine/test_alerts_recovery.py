"""Alerts across a crash (issue 17): `opcenter serve` killed with SIGKILL after a failure was
alerted and while another instance of the run still runs; the restarted server settles that
attempt (a failure: an ERROR event, counted in the run's budget) and raises no message twice.
The rule is written by this process, the server reads it: another process's rules are seen."""

from __future__ import annotations

import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.service import reminds
from opcenter.service.context import ServiceContext
from opcenter.store.tables import AlertEvent, AlertMessage, Workflow
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for
from tests.engine.test_crash_recovery import Server, data_ctx, server  # noqa: F401 (fixtures)


def _messages(ctx: ServiceContext) -> list[tuple[int, str, int | None]]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(AlertMessage.id, AlertMessage.dedupe_key, AlertMessage.instance_id)
        )
        return sorted((r.id, r.dedupe_key, r.instance_id) for r in rows)


def _events(ctx: ServiceContext) -> list[str]:
    with ctx.db.transaction(readonly=True) as session:
        return sorted(session.scalars(sa.select(AlertEvent.key)))


def test_a_killed_server_raises_no_alert_twice(
    data_ctx: ServiceContext,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    ctx = data_ctx
    pid_file = ctx.settings.data_dir.parent / "shared" / "sleep.pid"
    flow = make_flow(
        ctx,
        [
            node("bad", "shell", "exit 5"),
            node("long", "shell", f"sleep 60 & echo $! > {pid_file}; wait"),
        ],
        shared=[pid_file.parent],
    )
    with ctx.db.transaction(readonly=True) as session:
        workflow = session.scalar(sa.select(Workflow.id).where(Workflow.name == flow.name))
    remind_id = reminds.create_remind(
        ctx,
        project_id=flow.project_id,
        remind_name="flow fails",
        remind_unit="BIZPROCESS",
        biz_process_ids=str(workflow),
        remind_type="ERROR",
        alert_unit="OTHER",
        alert_targets="alice",
        alert_methods="MAIL",
    ).remind_id
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    # When the server has alerted `bad`'s failure and is killed while `long` runs
    server.start()
    wait_for(lambda: _messages(ctx), timeout=20)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20)
    server.kill()
    before = _messages(ctx)
    assert before == [
        (before[0][0], f"{remind_id}:ERROR:run/{created.op_seq}:1", rows["bad"].instance_id)
    ]
    assert by_name(ctx, created.dag_id)["long"].status is InstanceStatus.RUNNING
    # Then the restarted server settles `long` (one more failure of the run, counted) and
    # raises no message twice
    server.start()
    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.FAILURE
    server.kill()
    assert _messages(ctx) == before
    long_id = rows["long"].instance_id
    assert _events(ctx) == sorted(
        [
            f"{remind_id}:ERROR:instance/{rows['bad'].instance_id}/attempt/1:1",
            f"{remind_id}:ERROR:instance/{long_id}/attempt/1:1",
        ]
    )
