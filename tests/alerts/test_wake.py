"""The sender looks at once when a transaction of its process recorded an alert, without
waiting for its next poll; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from opcenter.alerts import sender as sender_module
from opcenter.alerts.sender import AlertSender
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import dedupe_key, record_alert
from tests.alerts.receivers import HttpReceiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().up()
    yield http
    http.down()


def test_a_committed_alert_is_sent_at_once_not_at_the_next_poll(
    ctx: ServiceContext, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "POLL_SECONDS", 60.0)  # only the wake-up can be in time
    workspace_id = workspaces.create_project(
        ctx, project_identifier="wake", project_name="wake"
    ).project_id
    sender = AlertSender(ctx.db, ctx.settings, base_url="http://127.0.0.1:8080").start()
    try:
        deadline = time.monotonic() + 10
        while sender.rounds < 1:  # the first look (at an empty outbox) is over
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with ctx.db.transaction() as session:
            record_alert(
                session.connection(),
                workspace_id=workspace_id,
                remind_id=1,
                remind_name="failures",
                trigger="ERROR",
                key=dedupe_key(1, "ERROR", "instance/1"),
                receivers=[("WEBHOOKS", receiver.url("/now"))],
                created_at=int(time.time() * 1000),
            )
        committed = time.monotonic()
        while not receiver.received("/now"):
            assert time.monotonic() - committed < 5, "not sent before the next poll"
            time.sleep(0.01)
        assert receiver.received("/now")[0].at - committed < 2.0
    finally:
        sender.stop()
