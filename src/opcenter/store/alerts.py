"""Writing the alert outbox: `record_alert`, for the engine hook that raises alerts.

An alert message (table `alert_messages`, its id the AlertId) is written in the same transaction
as the state change that raises it (an instance failed, a Dag finished, ...), with one
`alert_deliveries` row per receiver and channel, PENDING: a crash after the commit loses no
alert, a rollback raises none. A sender reads the due deliveries (`status`, `next_attempt_at`)
and marks each SENT or, after its last attempt, FAILED.

Exactly once per event: the caller names the event with `dedupe_key(...)`; a second
`record_alert` with the same key (the same event seen again, a recovered engine replaying a
transition) writes nothing and answers None.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from opcenter.store.tables import AlertDelivery, AlertMessage

__all__ = [
    "FAILED",
    "PENDING",
    "RECORDED",
    "SENT",
    "dedupe_key",
    "record_alert",
    "rules_changed",
    "rules_generation",
]

PENDING, SENT, FAILED = "PENDING", "SENT", "FAILED"
# Marks the pooled connection that recorded an alert: when it goes back to the pool (its
# transaction over), the alert sender of the process is woken (alerts/sender.py).
RECORDED = "opcenter.alert_recorded"

# Bumped after every committed rule write of this process (service/reminds.py), so that the
# engine's cache of the rules (engine/alerts.py) reloads them at its next event instead of at
# its next periodic refresh. A plain int: a lost race between two bumps still changes it.
_generation = 0


def rules_changed() -> None:
    """Tell this process's engine that the alert rules changed (call after the commit)."""
    global _generation
    _generation += 1


def rules_generation() -> int:
    """The number `rules_changed` moves."""
    return _generation


def dedupe_key(remind_id: int, trigger: str, subject: str, occurrence: int = 1) -> str:
    """The key of one event of one rule: `<remind>:<trigger>:<subject>:<occurrence>`, where
    `subject` names what it concerns (`instance/<id>`, `dag/<id>`) and `occurrence` counts the
    repeated alerts of a rule on the same subject (1 .. MaxAlertTimes)."""
    return f"{remind_id}:{trigger}:{subject}:{occurrence}"


def record_alert(
    conn: Connection,
    *,
    workspace_id: int,
    remind_id: int | None,
    remind_name: str,
    trigger: str,
    key: str,
    receivers: Iterable[tuple[str, str]],
    created_at: int,
    subject: str = "",
    content: str = "",
    dag_id: int | None = None,
    instance_id: int | None = None,
    node_id: int | None = None,
    node_name: str = "",
    node_owner: str = "",
    instance_status: str | None = None,
    next_attempt_at: int | None = None,
    source: str = "REMIND_ALERT",
) -> int | None:
    """Write one alert message and its PENDING deliveries (`receivers`: (channel, receiver)
    pairs, repeats dropped) inside the caller's transaction; the new AlertId, or None when
    `key` was recorded before. `next_attempt_at` (epoch ms) defaults to `created_at`; a rule's
    do-not-disturb end is the caller's to apply there."""
    values = {
        "workspace_id": workspace_id,
        "remind_id": remind_id,
        "remind_name": remind_name,
        "source": source,
        "trigger": trigger,
        "dag_id": dag_id,
        "instance_id": instance_id,
        "node_id": node_id,
        "node_name": node_name,
        "node_owner": node_owner,
        "instance_status": instance_status,
        "subject": subject,
        "content": content,
        "dedupe_key": key,
        "created_at": created_at,
    }
    messages = AlertMessage.__table__
    try:
        with conn.begin_nested():
            alert_id = conn.execute(
                sa.insert(messages).values(values).returning(messages.c.id)
            ).scalar_one()
    except IntegrityError:
        taken = conn.execute(sa.select(messages.c.id).where(messages.c.dedupe_key == key))
        if taken.first() is None:
            raise
        return None
    rows = [
        {
            "message_id": alert_id,
            "channel": channel,
            "receiver": receiver,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": created_at if next_attempt_at is None else next_attempt_at,
            "last_error": "",
            "sent_at": None,
        }
        for channel, receiver in dict.fromkeys(receivers)
    ]
    if rows:
        conn.execute(sa.insert(AlertDelivery.__table__), rows)
    conn.info[RECORDED] = True  # the alert sender of this process looks when it is committed
    return int(alert_id)
