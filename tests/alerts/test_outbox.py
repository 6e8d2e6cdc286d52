"""The sender's side of the alert outbox (alerts/outbox.py) on SQLite and PostgreSQL: a claim
is a compare-and-set, so two senders racing claim each delivery once; a claim's lease makes a
lost send come due again; failed attempts back off 5 s, 10 s, 20 s ... and end FAILED."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from opcenter.alerts import outbox
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.db import Database
from opcenter.store.tables import AlertDelivery
from tests.conftest import second_context

T0 = 1_796_544_000_000  # 2026-12-06T08:00:00Z
LEASE = 60_000


def _alerts(ctx: ServiceContext, count: int, receivers: int = 2) -> None:
    workspace_id = workspaces.create_project(
        ctx, project_identifier="outbox", project_name="outbox"
    ).project_id
    with ctx.db.transaction() as session:
        for n in range(count):
            record_alert(
                session.connection(),
                workspace_id=workspace_id,
                remind_id=1,
                remind_name="failures",
                trigger="ERROR",
                key=dedupe_key(1, "ERROR", f"instance/{n}"),
                receivers=[("WEBHOOKS", f"http://127.0.0.1:9/{r}") for r in range(receivers)],
                created_at=T0,
            )


def _row(db: Database, delivery_id: int) -> Any:
    with db.transaction(readonly=True) as session:
        return session.get(AlertDelivery, delivery_id)


def test_two_senders_racing_claim_each_delivery_once(ctx: ServiceContext) -> None:
    _alerts(ctx, 15)  # 30 deliveries
    other = second_context(ctx)
    claims: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def sender(name: str, db: Database) -> None:
        start.wait()
        while rows := outbox.due(db, T0, limit=5):
            for row in rows:
                held = outbox.claim(db, row, T0, LEASE)
                if held is not None:
                    claims[name].append(held.delivery_id)

    try:
        threads = [
            threading.Thread(target=sender, args=("a", ctx.db)),
            threading.Thread(target=sender, args=("b", other.db)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.db.dispose()
    every = claims["a"] + claims["b"]
    assert len(every) == 30 and len(set(every)) == 30, claims
    with ctx.db.transaction(readonly=True) as session:
        held = session.execute(sa.select(AlertDelivery.attempts, AlertDelivery.next_attempt_at))
        assert {tuple(r) for r in held} == {(1, T0 + LEASE)}


def test_a_claim_read_before_another_took_it_fails(ctx: ServiceContext) -> None:
    _alerts(ctx, 1, receivers=1)
    (row,) = outbox.due(ctx.db, T0)
    assert outbox.claim(ctx.db, row, T0, LEASE) is not None
    assert outbox.claim(ctx.db, row, T0, LEASE) is None  # stale: attempts and time moved


def test_a_send_lost_with_its_sender_comes_due_again_after_the_lease(ctx: ServiceContext) -> None:
    _alerts(ctx, 1, receivers=1)
    (row,) = outbox.due(ctx.db, T0)
    lost = outbox.claim(ctx.db, row, T0, LEASE)
    assert lost is not None and lost.attempts == 1
    assert outbox.due(ctx.db, T0 + LEASE - 1) == []
    (again,) = outbox.due(ctx.db, T0 + LEASE)
    retry = outbox.claim(ctx.db, again, T0 + LEASE, LEASE)
    assert retry is not None and retry.attempts == 2
    # The first sender wakes up late: its failure is not recorded over the new claim ...
    assert outbox.failed(ctx.db, lost, T0 + LEASE, "late", max_attempts=10) is None
    # ... but a success is one, whoever holds the delivery.
    assert outbox.sent(ctx.db, lost, T0 + LEASE + 5)
    done = _row(ctx.db, lost.delivery_id)
    assert (done.status, done.sent_at, done.attempts) == ("SENT", T0 + LEASE + 5, 2)
    assert outbox.failed(ctx.db, retry, T0 + LEASE + 6, "x", max_attempts=10) is None


def test_failed_attempts_back_off_then_fail_with_the_last_error(ctx: ServiceContext) -> None:
    assert [outbox.backoff(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    _alerts(ctx, 1, receivers=1)
    now = T0
    for attempt in (1, 2, 3):
        (row,) = outbox.due(ctx.db, now)
        held = outbox.claim(ctx.db, row, now, LEASE)
        assert held is not None and held.attempts == attempt
        status = outbox.failed(ctx.db, held, now, f"refused {attempt}", max_attempts=3)
        delivery = _row(ctx.db, held.delivery_id)
        assert delivery.last_error == f"refused {attempt}"
        if attempt < 3:
            assert status == "PENDING"
            assert delivery.next_attempt_at == now + outbox.backoff(attempt) * 1000
            assert outbox.due(ctx.db, delivery.next_attempt_at - 1) == []
            now = delivery.next_attempt_at
        else:
            assert (status, delivery.status) == ("FAILED", "FAILED")
    assert outbox.due(ctx.db, now + 10**9) == []


def test_a_final_failure_is_not_retried(ctx: ServiceContext) -> None:
    _alerts(ctx, 1, receivers=1)
    (row,) = outbox.due(ctx.db, T0)
    held = outbox.claim(ctx.db, row, T0, LEASE)
    assert held is not None
    assert outbox.failed(ctx.db, held, T0, "no address", max_attempts=10, final=True) == "FAILED"
    assert (_row(ctx.db, held.delivery_id).status, outbox.due(ctx.db, T0 + 10**9)) == ("FAILED", [])


def test_due_leaves_out_the_destinations_being_sent_to(ctx: ServiceContext) -> None:
    """A webhook's destination is its URL; every mail's is the one SMTP server."""
    _alerts(ctx, 2)  # to http://127.0.0.1:9/0 and /1, oldest first
    with ctx.db.transaction() as session:
        record_alert(
            session.connection(),
            workspace_id=1,
            remind_id=1,
            remind_name="failures",
            trigger="ERROR",
            key=dedupe_key(1, "ERROR", "instance/mail"),
            receivers=[("MAIL", "ops"), ("MAIL", "lead@example.test")],
            created_at=T0,
        )
    first, second = "http://127.0.0.1:9/0", "http://127.0.0.1:9/1"
    every = outbox.due(ctx.db, T0)
    assert [r.destination for r in every] == [first, second] * 2 + [outbox.MAIL_SERVER] * 2
    assert [r.destination for r in outbox.due(ctx.db, T0, skip={first})] == (
        [second] * 2 + [outbox.MAIL_SERVER] * 2
    )
    assert [r.destination for r in outbox.due(ctx.db, T0, skip={outbox.MAIL_SERVER})] == (
        [first, second] * 2
    )
    assert outbox.due(ctx.db, T0, skip={first, second, outbox.MAIL_SERVER}) == []
    assert outbox.destination("MAIL", "ops") == outbox.MAIL_SERVER
