"""`recover` on a store left by a server that died (both backends): recorded process groups are
killed first, interrupted attempts are recorded once, logs are written only by the caller after
the commit, and a scoped recovery touches only its runs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.domain.model import InstanceStatus
from opcenter.engine.paths import log_path
from opcenter.engine.recovery import (
    INTERRUPTED_LINE,
    RERUN_LINE,
    recover,
)
from opcenter.engine.transitions import record_attempts, record_process
from opcenter.runners.base import ProcessHandle
from opcenter.runners.reaper import handle_of
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Instance, InstanceAttempt
from tests.engine.builders import make_flow, node, run_flow
from tests.runners._support import process_gone

S = InstanceStatus


def _crashed_run(
    ctx: ServiceContext, name: str = "flow", *, first: bool = True, **options: object
) -> tuple[int, int]:
    """A one-node run whose instance a dead server left RUNNING (attempt 1); (run id, id)."""
    flow = make_flow(
        ctx, [node(f"job_{name}", "shell", "true", **options)], name=name, create_workspace=first
    )
    created = run_flow(flow)
    with ctx.db.transaction() as session:
        iid = session.scalar(sa.select(Instance.id).where(Instance.dag_id == created.dag_id))
        session.execute(
            sa.update(Instance).where(Instance.id == iid).values(status=S.RUNNING.value, attempt=1)
        )
        record_attempts(session, [int(iid)], ctx.clock())  # as the engine writes it
    return created.op_seq, int(iid)


def _attempt(ctx: ServiceContext, iid: int) -> tuple[str, str]:
    """(status, error_message) of the instance's attempt row."""
    with ctx.db.transaction(readonly=True) as session:
        row = session.execute(
            sa.select(InstanceAttempt.status, InstanceAttempt.error_message).where(
                InstanceAttempt.instance_id == iid, InstanceAttempt.attempt == 1
            )
        ).one()
        return row.status, row.error_message


def _row(ctx: ServiceContext, iid: int) -> Instance:
    with ctx.db.transaction(readonly=True) as session:
        row = session.get(Instance, iid)
        assert row is not None
        session.expunge(row)
        return row


def _recover(ctx: ServiceContext, runs: list[int] | None = None):  # type: ignore[no-untyped-def]
    with ctx.db.transaction() as session:
        return recover(session, ctx.settings, ctx.clock(), runs=runs)


def _log(ctx: ServiceContext, iid: int) -> Path:
    row = _row(ctx, iid)
    return log_path(ctx.settings.data_dir, row.dag_id, iid, 1)


def test_recover_records_the_interruption_and_one_rerun_given_auto_rerun_times(
    ctx: ServiceContext,
) -> None:
    _, iid = _crashed_run(ctx, auto_rerun_times=1)

    recovery = _recover(ctx)

    row = _row(ctx, iid)
    assert (row.status, row.error_message, row.auto_rerun_left) == (
        S.WAIT_TIME.value,
        INTERRUPTED_LINE,
        0,
    )
    assert _attempt(ctx, iid) == (S.FAILURE.value, INTERRUPTED_LINE)  # the attempt failed
    assert recovery.instance_ids == [iid]
    assert not _log(ctx, iid).exists()  # nothing is written before the caller commits
    recovery.write_logs()
    assert _log(ctx, iid).read_text().count(INTERRUPTED_LINE) == 1
    assert RERUN_LINE in _log(ctx, iid).read_text()


def test_recover_ends_a_stopped_instance_without_rerun_given_stopped_by(
    ctx: ServiceContext,
) -> None:
    _, iid = _crashed_run(ctx, auto_rerun_times=3)
    with ctx.db.transaction() as session:
        session.execute(sa.update(Instance).where(Instance.id == iid).values(stopped_by="alice"))

    _recover(ctx).write_logs()

    row = _row(ctx, iid)
    assert (row.status, row.error_message, row.auto_rerun_left) == (
        S.FAILURE.value,
        "Stopped by alice.",
        3,
    )
    assert _attempt(ctx, iid) == (S.FAILURE.value, "Stopped by alice.")
    assert "Stopped by alice." in _log(ctx, iid).read_text()


def test_recover_touches_only_the_given_runs_given_runs(ctx: ServiceContext) -> None:
    mine, my_iid = _crashed_run(ctx, "mine")
    _, other_iid = _crashed_run(ctx, "other", first=False)

    recovery = _recover(ctx, runs=[mine])

    assert recovery.instance_ids == [my_iid]
    assert _row(ctx, my_iid).status == S.FAILURE.value
    assert _row(ctx, other_iid).status == S.RUNNING.value


@pytest.fixture
def orphan() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_recover_kills_a_recorded_group_still_alive_before_anything_else(
    ctx: ServiceContext, orphan: subprocess.Popen[bytes]
) -> None:
    _, iid = _crashed_run(ctx, auto_rerun_times=1)
    handle = handle_of(orphan.pid)
    assert handle is not None
    with ctx.db.transaction() as session:
        assert record_process(session, iid, 1, handle.pgid, handle.start_ticks, handle.boot_id)

    recovery = _recover(ctx)

    orphan.wait(timeout=5)
    assert process_gone(orphan.pid)
    assert recovery.reaped == [handle]
    row = _row(ctx, iid)
    assert (row.pgid, row.proc_start, row.proc_boot) == (None, None, None)
    assert row.status == S.WAIT_TIME.value


def test_recover_leaves_a_group_alone_given_a_handle_from_another_boot(
    ctx: ServiceContext, orphan: subprocess.Popen[bytes]
) -> None:
    _, iid = _crashed_run(ctx)
    handle = handle_of(orphan.pid)
    assert handle is not None
    stranger = ProcessHandle(handle.pgid, handle.start_ticks, "another-boot")
    with ctx.db.transaction() as session:
        assert record_process(
            session, iid, 1, stranger.pgid, stranger.start_ticks, stranger.boot_id
        )

    recovery = _recover(ctx)

    assert recovery.reaped == []
    assert orphan.poll() is None
    assert _row(ctx, iid).status == S.FAILURE.value
