"""The store side of sending alerts: due deliveries, the claim, and the outcome of an attempt.

At least once, never twice at the same time:

1. `due()` lists PENDING deliveries whose `next_attempt_at` has come, oldest first, leaving out
   the destinations (`destination()`: a webhook's URL; the mail server for every mail) that
   the caller is sending to already.
2. `claim()` takes one by compare-and-set on (`status`, `attempts`, `next_attempt_at`) as read,
   setting `attempts + 1` and `next_attempt_at = now + lease`, and commits **before** anything
   is sent. Of two senders racing, one updates the row and the other matches nothing.
3. After sending: `sent()` (SENT, `sent_at`), or `failed()` — retried `backoff(attempts)` later,
   or FAILED with `last_error` once `max_attempts` are spent (or at once when retrying cannot
   help: an address that cannot be resolved, no SMTP server).

A process killed between 2 and 3 leaves the delivery PENDING with its lease as
`next_attempt_at`: once the lease has passed, the next sender sends it again. The receiver may
so see an alert twice; each carries its AlertId to tell.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from opcenter.store.alerts import FAILED, PENDING, SENT
from opcenter.store.db import Database
from opcenter.store.tables import (
    AlertDelivery,
    AlertMessage,
    Dag,
    Instance,
    Workflow,
    Workspace,
)

__all__ = [
    "MAIL_SERVER",
    "MAX_BACKOFF_SECONDS",
    "RETRY_SECONDS",
    "Claim",
    "Due",
    "Message",
    "backoff",
    "claim",
    "destination",
    "due",
    "failed",
    "load_message",
    "sent",
]

RETRY_SECONDS = 5  # the wait after the first failed attempt; doubled after each next one
MAX_BACKOFF_SECONDS = 300  # ... up to five minutes
_DUE_BATCH = 50
_ERROR_CHARS = 2000

_deliveries = AlertDelivery.__table__
MAIL = "MAIL"
MAIL_SERVER = "smtp:"  # the destination of every mail: they all go through the one SMTP server


def destination(channel: str, receiver: str) -> str:
    """Where a delivery is sent over the network: the URL of a webhook or robot; for mail, the
    SMTP server (`MAIL_SERVER`), through which every mail goes, whoever it is for."""
    return MAIL_SERVER if channel == MAIL else receiver


def backoff(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed attempt: 5, 10, 20, 40 ... 300."""
    return min(RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class Due(NamedTuple):
    """A due delivery as `due` read it: what `claim` compares, and where it goes."""

    id: int
    attempts: int
    next_attempt_at: int
    destination: str


@dataclass(frozen=True)
class Claim:
    """A delivery this sender holds until `lease_until` (epoch ms): its `attempts`-th."""

    delivery_id: int
    message_id: int
    channel: str
    receiver: str
    attempts: int
    lease_until: int


def due(
    db: Database, now: int, limit: int = _DUE_BATCH, *, skip: Collection[str] = ()
) -> list[Due]:
    """The PENDING deliveries due at `now`, oldest first, but those to the destinations in
    `skip` (`destination()`)."""
    c = _deliveries.c
    query = sa.select(c.id, c.attempts, c.next_attempt_at, c.channel, c.receiver).where(
        c.status == PENDING, c.next_attempt_at <= now
    )
    urls = [d for d in skip if d != MAIL_SERVER]
    if urls:
        query = query.where(sa.or_(c.channel == MAIL, c.receiver.not_in(urls)))
    if MAIL_SERVER in skip:
        query = query.where(c.channel != MAIL)
    with db.transaction(readonly=True) as session:
        rows = session.execute(query.order_by(c.next_attempt_at, c.id).limit(limit)).all()
    return [Due(int(r[0]), int(r[1]), int(r[2]), destination(r[3], r[4])) for r in rows]


def claim(db: Database, row: Due, now: int, lease_ms: int) -> Claim | None:
    """Take the delivery `row` (as `due` read it) for one attempt, committed on return; None
    when another sender took it (or it changed) in between."""
    delivery_id, attempts, next_at = row.id, row.attempts, row.next_attempt_at
    c = _deliveries.c
    until = now + lease_ms
    with db.transaction() as session:
        changed = session.execute(
            sa.update(_deliveries)
            .where(
                c.id == delivery_id,
                c.status == PENDING,
                c.attempts == attempts,
                c.next_attempt_at == next_at,
            )
            .values(attempts=attempts + 1, next_attempt_at=until)
        ).rowcount
        if changed != 1:
            return None
        found = session.execute(
            sa.select(c.message_id, c.channel, c.receiver).where(c.id == delivery_id)
        ).one()
    return Claim(delivery_id, int(found[0]), found[1], found[2], attempts + 1, until)


def sent(db: Database, held: Claim, now: int) -> bool:
    """Mark the delivery SENT (whoever holds it now: it went out); False if it was not
    PENDING any more."""
    c = _deliveries.c
    with db.transaction() as session:
        return (
            session.execute(
                sa.update(_deliveries)
                .where(c.id == held.delivery_id, c.status == PENDING)
                .values(status=SENT, sent_at=now, last_error="")
            ).rowcount
            == 1
        )


def failed(
    db: Database, held: Claim, now: int, error: str, *, max_attempts: int, final: bool = False
) -> str | None:
    """Record a failed attempt: PENDING again after `backoff(attempts)`, or FAILED when that
    was the last attempt (or `final`). The new status, or None when the claim was lost (the
    lease ran out and another sender holds the delivery)."""
    c = _deliveries.c
    error = error[:_ERROR_CHARS]
    give_up = final or held.attempts >= max_attempts
    values: dict[str, object] = {"last_error": error}
    if give_up:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = now + backoff(held.attempts) * 1000
    with db.transaction() as session:
        changed = session.execute(
            sa.update(_deliveries)
            .where(c.id == held.delivery_id, c.status == PENDING, c.attempts == held.attempts)
            .values(**values)
        ).rowcount
    if changed != 1:
        return None
    return FAILED if give_up else PENDING


@dataclass(frozen=True)
class Message:
    """What an alert says, with where it happened (names looked up for the text)."""

    alert_id: int
    remind_id: int | None
    remind_name: str
    trigger: str
    workspace_id: int
    workspace: str
    workflow_id: int | None
    workflow: str
    dag_id: int | None
    instance_id: int | None
    node_id: int | None
    node_name: str
    node_owner: str
    status: str | None
    biz_date: str | None
    env: str | None
    created_at: int
    subject: str
    content: str


def load_message(db: Database, message_id: int) -> Message | None:
    """The alert `message_id` with its workspace, workflow, Dag and business date."""
    with db.transaction(readonly=True) as session:
        m = session.get(AlertMessage, message_id)
        if m is None:
            return None
        workspace = session.get(Workspace, m.workspace_id)
        dag_id = m.dag_id
        if dag_id is None and m.instance_id is not None:
            dag_id = session.scalar(sa.select(Instance.dag_id).where(Instance.id == m.instance_id))
        dag = session.get(Dag, dag_id) if dag_id is not None else None
        workflow = session.get(Workflow, dag.workflow_id) if dag is not None else None
        return Message(
            alert_id=m.id,
            remind_id=m.remind_id,
            remind_name=m.remind_name,
            trigger=m.trigger,
            workspace_id=m.workspace_id,
            workspace=workspace.identifier if workspace is not None else "",
            workflow_id=workflow.id if workflow is not None else None,
            workflow=workflow.name if workflow is not None else "",
            dag_id=dag_id,
            instance_id=m.instance_id,
            node_id=m.node_id,
            node_name=m.node_name,
            node_owner=m.node_owner,
            status=m.instance_status or (dag.status if dag is not None else None),
            biz_date=dag.biz_date.isoformat() if dag is not None else None,
            env=dag.env if dag is not None else None,
            created_at=m.created_at,
            subject=m.subject,
            content=m.content,
        )
