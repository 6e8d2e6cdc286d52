"""What the alert tests share besides the receivers (receivers.py): an `opcenter serve` process
set up to send to them, the deliveries of an alert as stored, the server's alert counters, and
the alert messages as the official SDK lists them."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alibabacloud_dataworks_public20200518 import models as dw
from prometheus_client.parser import text_string_to_metric_families

from opcenter.store.db import Database
from opcenter.store.tables import AlertDelivery
from tests.alerts.receivers import MailReceiver
from tests.cli.processes import Proc

T = TypeVar("T")
TIMEOUT = "3"  # OPCENTER_ALERT_TIMEOUT_SECONDS of the servers, unless told: a lease of 18 s
MAIL_FROM = "opcenter@alerts.test"
OPS_ADDRESS = "ops-team@alerts.test"  # the address of the user `ops`


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `probe()` every 50 ms until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_server(tmp_path: Path, name: str, url: str, smtp: MailReceiver, **env: str) -> Proc:
    """`opcenter serve` on the store at `url` (data directory `tmp_path/name`), mailing through
    `smtp`, the user `ops` at OPS_ADDRESS; started and listening."""
    (tmp_path / name).mkdir(exist_ok=True)
    settings = {
        "OPCENTER_SMTP_HOST": "127.0.0.1",
        "OPCENTER_SMTP_PORT": str(smtp.port),
        "OPCENTER_MAIL_FROM": MAIL_FROM,
        "OPCENTER_MAIL_ADDRESSES": f"ops={OPS_ADDRESS}",
        "OPCENTER_ALERT_TIMEOUT_SECONDS": TIMEOUT,
        **env,
    }
    proc = Proc("serve", url, tmp_path / name / "data", tmp_path / f"{name}.out", **settings)
    proc.start().endpoint()
    return proc


def deliveries(db: Database, alert_id: int) -> dict[str, Any]:
    """The deliveries of an alert as stored, by receiver."""
    with db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(AlertDelivery).where(AlertDelivery.message_id == alert_id))
        found = {row.receiver: row for row in rows}
        session.expunge_all()
        return found


def alerts_counted(server: Proc) -> dict[tuple[str, str], float]:
    """The server's alert counters from its /metrics: (sent|failed, channel) -> count."""
    with urllib.request.urlopen(f"http://{server.endpoint()}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counted: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for kind in ("sent", "failed"):
                if sample.name == f"opcenter_alerts_{kind}_total":
                    counted[kind, sample.labels["channel"]] = sample.value
    return counted


def list_alerts(client: Any, remind_id: int | None = None) -> list[Any]:
    """ListAlertMessages (official SDK) of the last hour and the next, of one rule if told."""
    now = dt.datetime.now(dt.UTC)
    request = dw.ListAlertMessagesRequest(
        begin_time=(now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_time=(now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        remind_id=remind_id,
        page_number=1,
        page_size=100,
    )
    return list(client.list_alert_messages(request).body.data.alert_messages or [])


def alert_status(client: Any, alert_id: int) -> str:
    """The AlertMessageStatus of an alert, as GetAlertMessage and ListAlertMessages agree."""
    body = client.get_alert_message(dw.GetAlertMessageRequest(alert_id=str(alert_id))).body
    (mine,) = [m for m in list_alerts(client) if m.alert_id == alert_id]
    assert mine.alert_message_status == body.data.alert_message_status
    return str(mine.alert_message_status)
