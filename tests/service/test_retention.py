"""Retention (service/retention.py): real runs, real files, real rows, an explicit clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.alerts import outbox
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.paths import log_path, workdir
from opcenter.engine.scheduler import Engine
from opcenter.errors import NotFound
from opcenter.runners.local import LocalExecutor
from opcenter.service import instances, reminds, retention, workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.logs import get_instance_log
from opcenter.service.retention import DAY_MS, RetentionSweeper, sweep
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.tables import AlertDelivery, AlertEvent, AlertMessage
from tests.engine.builders import Flow, by_name, make_flow, node, run_flow, wait_dag, wait_for

PROD = "PROD"


@pytest.fixture
def runs(ctx: ServiceContext) -> Iterator[tuple[Flow, int, int]]:
    """Two Dags of one flow `a → b`: the first ran to SUCCESS; in the second `b` is suspended,
    so `a` succeeded but the Dag is still RUNNING."""
    flow = make_flow(
        ctx, [node("a", "shell", "echo data > out.txt; echo hi"), node("b", "shell", after=["a"])]
    )
    done = run_flow(flow).dag_id
    running = run_flow(flow, biz_date="2020-01-01 00:00:00").dag_id
    # Suspended before any engine runs, so it cannot have started yet
    instances.suspend_instance(
        ctx, instance_id=by_name(ctx, running)["b"].instance_id, project_env=PROD
    )
    engine = Engine(ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        assert wait_dag(ctx, done, timeout=60) is DagStatus.SUCCESS
        wait_for(lambda: by_name(ctx, running)["a"].status is InstanceStatus.SUCCESS, 60)
    finally:
        engine.stop()
    yield flow, done, running


def _files(ctx: ServiceContext, dag_id: int, name: str) -> tuple[Path, Path]:
    inst = by_name(ctx, dag_id)[name]
    data_dir = ctx.settings.data_dir
    return (
        log_path(data_dir, dag_id, inst.instance_id, inst.attempt),
        workdir(data_dir, inst.instance_id, inst.attempt),
    )


def test_sweep_removes_old_finished_files_and_keeps_rows_given_the_age_is_past(
    ctx: ServiceContext, runs: tuple[Flow, int, int]
) -> None:
    _, done, running = runs
    old = [*_files(ctx, done, "a"), *_files(ctx, done, "b")]
    kept = _files(ctx, running, "a")
    assert all(p.exists() for p in (*old, *kept))
    later = ctx.clock() + 31 * DAY_MS
    # When a sweep runs 31 days later
    report = sweep(ctx, now=later, days=30)
    # Then the finished Dag's logs and work directories are gone, with their empty folders
    assert not any(p.exists() for p in old)
    assert not old[0].parent.exists() and not old[1].parent.exists()
    assert (report.logs, report.workdirs, len(report.instances)) == (2, 2, 2)
    assert report.summary().startswith(
        "Removed 2 log file(s) and 2 work directory(ies) of 2 instance(s) finished more than "
        "30 day(s) ago: "
    )
    assert report.freed_bytes > 0
    # And the rows are kept: the instance is still there, its log now empty
    a = by_name(ctx, done)["a"]
    assert a.status is InstanceStatus.SUCCESS
    assert get_instance_log(ctx, instance_id=a.instance_id, project_env=PROD) == ""
    # And an instance whose Dag is not finished keeps its files
    assert all(p.exists() for p in kept)


def test_sweep_removes_nothing_given_recent_instances_a_dry_run_or_retention_off(
    ctx: ServiceContext, runs: tuple[Flow, int, int]
) -> None:
    _, done, _ = runs
    files = _files(ctx, done, "a")
    later = ctx.clock() + 31 * DAY_MS

    recent = sweep(ctx, days=30)
    dry = sweep(ctx, now=later, days=30, dry_run=True)
    off = sweep(ctx, now=later, days=0)

    assert (recent.logs, recent.workdirs, recent.freed_bytes) == (0, 0, 0)
    assert dry.summary().startswith("Would remove 2 log file(s) and 2 work directory(ies)")
    assert dry.summary().endswith(" would free.")
    assert off.summary() == "Retention is off (OPCENTER_RETENTION_DAYS=0): nothing removed."
    assert all(p.exists() for p in files)


def test_sweep_keeps_an_attempt_newer_than_the_recorded_one_given_a_rerun_started(
    ctx: ServiceContext, runs: tuple[Flow, int, int]
) -> None:
    _, done, _ = runs
    log, work = _files(ctx, done, "b")
    newer_log = log.with_name(log.name.replace(".1.log", ".2.log"))
    newer_log.write_text("attempt 2 starting\n")
    newer_work = work.with_name("2")
    newer_work.mkdir()

    sweep(ctx, now=ctx.clock() + 31 * DAY_MS, days=30)

    assert not log.exists() and not work.exists()
    assert newer_log.exists() and newer_work.exists()


def test_retention_sweeper_sweeps_in_the_background_given_a_short_delay(
    ctx: ServiceContext, runs: tuple[Flow, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, done, _ = runs
    log, work = _files(ctx, done, "a")
    ctx.clock = lambda: 10**13 + 31 * DAY_MS  # a clock far past the runs (explicit)
    sweeper = RetentionSweeper(ctx, interval_seconds=0.05, first_delay_seconds=0.01)
    with caplog.at_level(logging.INFO, logger="opcenter.service.retention"):
        sweeper.start()
        try:
            wait_for(lambda: sweeper.sweeps >= 2, timeout=60)
        finally:
            sweeper.stop()
    assert not log.exists() and not work.exists()
    assert "retention: Removed 2 log file(s)" in caplog.text


def test_sweep_removes_the_logs_workers_kept_in_the_store_given_the_age_is_past(
    ctx: ServiceContext, runs: tuple[Flow, int, int]
) -> None:
    # Given stored logs (as Celery workers write them) of a finished and of a running Dag
    from opcenter.runners.remote import rows

    old = by_name(ctx, runs[1])["a"]
    kept = by_name(ctx, runs[2])["a"]
    with ctx.db.transaction() as session:
        for inst in (old, kept):
            key = (inst.instance_id, inst.attempt)
            rows.queue(session, key, "default", "{}", 0)
            rows.append_chunk(session, key, b"stored line\n", 0)
    # When a sweep runs 31 days later
    report = sweep(ctx, now=ctx.clock() + 31 * DAY_MS, days=30)
    # Then the finished Dag's stored log is gone, the running Dag's is kept
    assert report.stored_logs == 1
    assert get_instance_log(ctx, instance_id=old.instance_id, project_env=PROD) == ""
    assert "stored line" in get_instance_log(ctx, instance_id=kept.instance_id, project_env=PROD)


def _raise_alert(ctx: ServiceContext, workspace_id: int, name: str, created_at: int) -> int:
    """An alert message as the engine records it: one MAIL and one WEBHOOKS delivery, PENDING."""
    with ctx.db.transaction() as session:
        alert_id = record_alert(
            session.connection(),
            workspace_id=workspace_id,
            remind_id=1,
            remind_name=name,
            trigger="ERROR",
            key=dedupe_key(1, "ERROR", f"instance/{name}"),
            receivers=[("MAIL", "ops"), ("WEBHOOKS", "https://hooks.example.com/x")],
            created_at=created_at,
        )
    assert alert_id is not None
    return alert_id


def _deliver(ctx: ServiceContext, alert_id: int, channel: str, outcome: str, now: int) -> None:
    """Take the message's `channel` delivery as the sender does, and record it SENT or FAILED."""
    with ctx.db.transaction(readonly=True) as session:
        row = session.execute(
            sa.select(
                AlertDelivery.id, AlertDelivery.attempts, AlertDelivery.next_attempt_at
            ).where(AlertDelivery.message_id == alert_id, AlertDelivery.channel == channel)
        ).one()
    due = outbox.Due(row[0], row[1], row[2], destination="")  # what `due` would have read
    held = outbox.claim(ctx.db, due, now, 60_000)
    assert held is not None
    if outcome == "SENT":
        assert outbox.sent(ctx.db, held, now)
    else:
        assert outbox.failed(ctx.db, held, now, "refused", max_attempts=1) == "FAILED"


def _kept(ctx: ServiceContext) -> tuple[set[int], set[int]]:
    """(ids of the alert messages, message ids of the deliveries) in the store."""
    with ctx.db.transaction(readonly=True) as session:
        messages = set(session.scalars(sa.select(AlertMessage.id)))
        deliveries = set(session.scalars(sa.select(AlertDelivery.message_id)))
    return messages, deliveries


def test_sweep_removes_old_sent_or_failed_alerts_with_their_deliveries_but_never_pending_ones(
    ctx: ServiceContext,
) -> None:
    # Given alert messages raised 40 days ago (sent; failed on one channel; one delivery still
    # pending) and one raised today (sent)
    workspace_id = workspaces.create_project(
        ctx, project_identifier="alerted", project_name="alerted"
    ).project_id
    now = ctx.clock()
    old = now - 40 * DAY_MS
    sent_old, failed_old, pending_old = (
        _raise_alert(ctx, workspace_id, name, old) for name in ("sent", "failed", "pending")
    )
    recent = _raise_alert(ctx, workspace_id, "recent", now)
    for alert_id, mail, webhook in (
        (sent_old, "SENT", "SENT"),
        (failed_old, "SENT", "FAILED"),
        (recent, "SENT", "SENT"),
    ):
        _deliver(ctx, alert_id, "MAIL", mail, now)
        _deliver(ctx, alert_id, "WEBHOOKS", webhook, now)
    _deliver(ctx, pending_old, "MAIL", "SENT", now)  # its webhook delivery stays PENDING
    everything = {sent_old, failed_old, pending_old, recent}

    # When a dry run, then a sweep with a 30-day retention, look
    dry = sweep(ctx, now=now, days=30, dry_run=True)
    assert dry.alerts == 2 and _kept(ctx) == (everything, everything)
    assert "2 alert message(s) raised more than 30 day(s) ago would be removed" in dry.summary()
    report = sweep(ctx, now=now, days=30)

    # Then the old messages whose deliveries all ended are gone with their deliveries; the one
    # still pending and the recent one are kept, with theirs
    assert report.alerts == 2
    assert "2 alert message(s) raised more than 30 day(s) ago were removed" in report.summary()
    assert _kept(ctx) == ({pending_old, recent}, {pending_old, recent})
    with pytest.raises(NotFound):
        reminds.get_alert_message(ctx, alert_id=sent_old)
    assert len(reminds.get_alert_message(ctx, alert_id=pending_old).deliveries) == 2
    # And once the pending delivery is given up, the next sweep removes that message too
    _deliver(ctx, pending_old, "WEBHOOKS", "FAILED", now)
    assert sweep(ctx, now=now, days=30).alerts == 1
    assert _kept(ctx) == ({recent}, {recent})
    # And retention off keeps every alert
    assert sweep(ctx, now=now + 400 * DAY_MS, days=0).alerts == 0
    assert _kept(ctx) == ({recent}, {recent})


def test_sweep_removes_the_rules_old_events_and_keeps_recent_ones(ctx: ServiceContext) -> None:
    # Given events the rules saw 40 days ago (more than a batch) and one today
    now = ctx.clock()
    old = now - 40 * DAY_MS
    with ctx.db.transaction() as session:
        session.execute(
            sa.insert(AlertEvent),
            [
                {
                    "key": f"old/{n}",
                    "remind_id": 1,
                    "run_id": 1,
                    "trigger": "ERROR",
                    "created_at": old,
                }
                for n in range(retention._IDS_PER_QUERY + 3)
            ]
            + [
                {
                    "key": "recent",
                    "remind_id": 1,
                    "run_id": 2,
                    "trigger": "ERROR",
                    "created_at": now,
                }
            ],
        )

    # When a sweep with a 30-day retention runs
    sweep(ctx, now=now, days=30)

    # Then only today's event is left
    with ctx.db.transaction(readonly=True) as session:
        assert list(session.scalars(sa.select(AlertEvent.key))) == ["recent"]


def test_sweep_removes_old_alerts_in_several_transactions_given_more_than_a_batch(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given seven old alerts whose deliveries were all given up, and batches of two messages
    from opcenter.service import retention

    monkeypatch.setattr(retention, "_IDS_PER_QUERY", 2)
    workspace_id = workspaces.create_project(
        ctx, project_identifier="many", project_name="many"
    ).project_id
    now = ctx.clock()
    raised = [_raise_alert(ctx, workspace_id, f"old{n}", now - 40 * DAY_MS) for n in range(7)]
    for alert_id in raised:
        for channel in ("MAIL", "WEBHOOKS"):
            _deliver(ctx, alert_id, channel, "FAILED", now)
    # When a sweep runs
    report = sweep(ctx, now=now, days=30)
    # Then every one of them went, with its deliveries
    assert report.alerts == 7
    assert _kept(ctx) == (set(), set())
