"""The Celery application both sides use: one task, `opcenter.run_attempt`, whose message
carries an attempt's spec (runners/remote/wire.py) to the queue of its resource group.

Settings, and why: `task_acks_late` with `task_reject_on_worker_lost` (a message is acknowledged
only once its attempt was handled, so a worker lost before it claimed the attempt does not lose
it), `worker_prefetch_multiplier=1` (a worker holds no more messages than it has free slots, so a
busy worker does not sit on work another could start), JSON only. The broker is a delivery
mechanism, not the truth: the claim on the `worker_attempt` row decides who runs an attempt.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TASK_NAME", "make_app"]

TASK_NAME = "opcenter.run_attempt"


def make_app(broker_url: str) -> Any:
    """A Celery app on `broker_url` (amqp:// or redis://)."""
    from celery import Celery  # imported here: only a Celery deployment pays for it

    app = Celery("opcenter", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="default",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_heartbeat=10,
    )
    return app
