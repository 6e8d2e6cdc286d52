"""The alert outbox (store/alerts.py): `record_alert` writes a message and its PENDING
deliveries at most once per dedupe key, inside the caller's transaction; on both backends."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.tables import AlertDelivery, AlertMessage


def _alert(ctx: ServiceContext, workspace_id: int, key: str, **more: Any) -> int | None:
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "remind_id": 7,
        "remind_name": "failures",
        "trigger": "ERROR",
        "key": key,
        "receivers": [("MAIL", "root"), ("MAIL", "root"), ("WEBHOOKS", "https://hook/x")],
        "created_at": 1000,
        "instance_id": 42,
    }
    values.update(more)
    with ctx.db.transaction() as session:
        return record_alert(session.connection(), **values)


def _workspace(ctx: ServiceContext) -> int:
    return workspaces.create_project(
        ctx, project_identifier="outbox", project_name="outbox"
    ).project_id


def test_a_message_and_one_pending_delivery_per_receiver_and_channel_are_written(
    ctx: ServiceContext,
) -> None:
    workspace_id = _workspace(ctx)
    alert_id = _alert(ctx, workspace_id, dedupe_key(7, "ERROR", "instance/42"))
    assert isinstance(alert_id, int)
    with ctx.db.transaction(readonly=True) as session:
        message = session.get(AlertMessage, alert_id)
        assert message is not None
        assert (message.dedupe_key, message.instance_id) == ("7:ERROR:instance/42:1", 42)
        deliveries = session.execute(
            sa.select(
                AlertDelivery.channel,
                AlertDelivery.receiver,
                AlertDelivery.status,
                AlertDelivery.attempts,
                AlertDelivery.next_attempt_at,
            )
            .where(AlertDelivery.message_id == alert_id)
            .order_by(AlertDelivery.id)
        ).all()
    assert [tuple(d) for d in deliveries] == [
        ("MAIL", "root", "PENDING", 0, 1000),
        ("WEBHOOKS", "https://hook/x", "PENDING", 0, 1000),
    ]


def test_the_same_event_is_recorded_once_and_the_next_occurrence_again(
    ctx: ServiceContext,
) -> None:
    workspace_id = _workspace(ctx)
    first = _alert(ctx, workspace_id, dedupe_key(7, "TIMEOUT", "instance/42"))
    again = _alert(ctx, workspace_id, dedupe_key(7, "TIMEOUT", "instance/42"), content="x")
    second = _alert(ctx, workspace_id, dedupe_key(7, "TIMEOUT", "instance/42", occurrence=2))
    assert isinstance(first, int) and again is None and isinstance(second, int)
    with ctx.db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AlertMessage)) == 2
        assert session.scalar(sa.select(sa.func.count()).select_from(AlertDelivery)) == 4


def test_a_rolled_back_state_change_leaves_no_alert(ctx: ServiceContext) -> None:
    workspace_id = _workspace(ctx)
    key = dedupe_key(7, "ERROR", "instance/43")

    class Undone(Exception):
        pass

    try:
        with ctx.db.transaction() as session:
            assert record_alert(
                session.connection(),
                workspace_id=workspace_id,
                remind_id=7,
                remind_name="failures",
                trigger="ERROR",
                key=key,
                receivers=[("MAIL", "root")],
                created_at=1000,
            )
            raise Undone
    except Undone:
        pass
    with ctx.db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AlertMessage)) == 0
    assert isinstance(_alert(ctx, workspace_id, key), int)


def test_writers_racing_on_one_event_make_one_message(ctx: ServiceContext) -> None:
    workspace_id = _workspace(ctx)
    key = dedupe_key(7, "FINISHED", "dag/9")
    results: list[int | None] = []
    start = threading.Barrier(4)

    def write() -> None:
        start.wait()
        results.append(_alert(ctx, workspace_id, key))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r is None for r in results) == [False, True, True, True]
    with ctx.db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AlertMessage)) == 1
