"""The alert sender in a real `opcenter serve` process, sending to real receivers on
127.0.0.1: an HTTP server recording posts and an SMTP server (aiosmtpd) recording mails.
Alerts are written with `record_alert` in a store transaction, as the engine's hook does: the
formats, the mail recipients, a hanging mail server, giving up, and sending from the leading
scheduler. What runs
raise, sent end to end (timing, an outage, a killed server, a storm, a hanging receiver), is
test_end_to_end.py's.

One server (SQLite) serves the module; the tests that spend every attempt or need a scheduler
start one of their own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw

from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.db import Database
from tests.alerts.receivers import HttpReceiver, MailReceiver, SilentServer
from tests.alerts.support import alert_status, alerts_counted, deliveries, start_server, wait_for
from tests.api.opsupport import SHELL, FileSpec, create_flow, create_workspace, wait_statuses
from tests.cli.processes import Proc, sdk_client

WS = "alerting"


@dataclass
class World:
    db: Database
    server: Proc
    client: Any
    workspace_id: int
    flow_node: int
    dag_id: int
    http: HttpReceiver
    smtp: MailReceiver
    keys: list[int]

    def alert(self, receivers: list[tuple[str, str]], **more: Any) -> int:
        """Record an ERROR alert about the module's Dag; its AlertId."""
        self.keys.append(len(self.keys))
        fields: dict[str, Any] = {
            "workspace_id": self.workspace_id,
            "remind_id": 7,
            "remind_name": "load failures",
            "trigger": "ERROR",
            "key": dedupe_key(7, "ERROR", f"test/{self.keys[-1]}"),
            "receivers": receivers,
            "created_at": int(time.time() * 1000),
            "subject": "load failed",
            "content": "exit code 1",
            "dag_id": self.dag_id,
            "node_id": self.flow_node,
            "node_name": "load",
            "node_owner": "ops",
            "instance_status": "FAILURE",
        }
        fields.update(more)
        with self.db.transaction() as session:
            alert_id = record_alert(session.connection(), **fields)
        assert alert_id is not None
        return alert_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("sending")
    url = f"sqlite:///{base / 'opcenter.db'}"
    db = Database(url)
    db.migrate()
    http, smtp = HttpReceiver().up(), MailReceiver().start()
    server = start_server(base, "serve", url, smtp)
    try:
        client = sdk_client(server)
        workspace_id = create_workspace(client, WS)
        flow = create_flow(client, WS, "nightly", [FileSpec("load", SHELL, "echo loaded")])
        dag_id = run_flow(client)
        yield World(db, server, client, workspace_id, flow.node_ids["load"], dag_id, http, smtp, [])
    finally:
        server.kill()
        http.release()
        http.down()
        smtp.stop()
        db.dispose()


def run_flow(client: Any) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_name=WS, flow_name="nightly", biz_date="2026-12-05 00:00:00"
    )
    dag_id = int(client.run_manual_dag_nodes(request).body.dag_id)
    wait_statuses(client, WS, dag_id, {"load": ("SUCCESS",)})
    return dag_id


def test_every_webhook_format_arrives_within_2_s_with_its_alert_id(world: World) -> None:
    http = world.http
    before = alerts_counted(world.server)
    receivers = [
        ("WEBHOOKS", http.url("/generic")),
        ("WEBHOOKS", http.url("/ding#format=dingtalk")),
        ("WEBHOOKS", http.url("/lark#format=lark")),
        ("WEBHOOKS", http.url("/wecom#format=wecom")),
        ("WEBHOOKS", http.url("/slack#format=slack")),
        ("DINGROBOTS", http.url("/robot")),
    ]
    committed = time.monotonic()
    alert_id = world.alert(receivers)
    paths = ["/generic", "/ding", "/lark", "/wecom", "/slack", "/robot"]
    wait_for(lambda: all(http.received(p) for p in paths), "every webhook", timeout=10)
    posts = {p: http.received(p)[0] for p in paths}
    for post in posts.values():
        assert post.at - committed < 2.0, post.path
        assert post.headers["X-Opcenter-Alert-Id"] == str(alert_id)
        assert post.headers["Content-Type"].startswith("application/json")
    link = f"http://{world.server.endpoint()}/console/dags/{world.dag_id}"

    generic = posts["/generic"].body
    assert generic["alertId"] == alert_id
    assert generic["rule"] == {"id": 7, "name": "load failures"}
    assert generic["trigger"] == "ERROR"
    assert generic["workspace"] == {"id": world.workspace_id, "identifier": WS}
    assert generic["workflow"]["name"] == "nightly"
    assert generic["node"] == {"id": world.flow_node, "name": "load", "owner": "ops"}
    assert (generic["dagId"], generic["env"]) == (world.dag_id, "PROD")
    assert generic["status"] == "FAILURE"
    assert generic["bizDate"] == "2026-12-05"
    assert generic["link"] == link and generic["title"] == "load failed"
    assert "exit code 1" in generic["text"] and generic["time"].endswith("Z")

    for path in ("/ding", "/robot"):  # a DINGROBOTS URL is DingTalk's, whatever its host
        ding = posts[path].body
        assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "load failed"
        assert f"[Open the run]({link})" in ding["markdown"]["text"]
        assert f"**AlertId**: {alert_id}" in ding["markdown"]["text"]
    lark = posts["/lark"].body
    assert lark["msg_type"] == "text" and link in lark["content"]["text"]
    assert f"AlertId: {alert_id}" in lark["content"]["text"]
    wecom = posts["/wecom"].body
    assert wecom["msgtype"] == "markdown" and link in wecom["markdown"]["content"]
    slack = posts["/slack"].body
    assert list(slack) == ["text"] and "Workflow: nightly" in slack["text"]
    assert all(d.status == "SENT" for d in deliveries(world.db, alert_id).values())
    after = alerts_counted(world.server)  # counted on /metrics by channel
    sent = {
        c: after.get(("sent", c), 0) - before.get(("sent", c), 0)
        for c in ("WEBHOOKS", "DINGROBOTS")
    }
    assert sent == {"WEBHOOKS": 5, "DINGROBOTS": 1}


def test_a_mail_reaches_each_resolvable_recipient_and_the_others_fail_clearly(
    world: World,
) -> None:
    alert_id = world.alert(
        [("MAIL", "ops"), ("MAIL", "lead@alerts.test"), ("MAIL", "nobody")],
        trigger="TIMEOUT",
    )

    def settled() -> dict[str, Any] | None:
        found = deliveries(world.db, alert_id)
        return found if all(d.status != "PENDING" for d in found.values()) else None

    done = wait_for(settled, "the mail deliveries")
    assert {r: d.status for r, d in done.items()} == {
        "ops": "SENT",
        "lead@alerts.test": "SENT",
        "nobody": "FAILED",
    }
    assert "no e-mail address for user 'nobody'" in done["nobody"].last_error
    assert done["nobody"].attempts == 1  # retrying cannot help
    mails = [m for m in world.smtp.mails if m.message["X-Opcenter-Alert-Id"] == str(alert_id)]
    assert sorted(r for m in mails for r in m.recipients) == [
        "lead@alerts.test",
        "ops-team@alerts.test",
    ]
    mail = mails[0].message
    assert mail["Subject"] == "load failed" and mail["From"] == "opcenter@alerts.test"
    text = mail.get_payload(decode=True).decode()
    assert f"http://{world.server.endpoint()}/console/dags/{world.dag_id}" in text
    assert "Trigger: TIMEOUT" in text and "exit code 1" in text
    # ListAlertMessages (official SDK) sums the deliveries up: one was given up.
    assert alert_status(world.client, alert_id) == "SEND_FAIL"


def test_a_hanging_mail_server_takes_one_send_and_delays_no_webhook(
    world: World, tmp_path: Path
) -> None:
    """A server of its own whose SMTP server accepts connections and never answers: every mail
    goes through it, so it is sent one mail at a time (the others wait unclaimed), and a
    webhook raised after six mails still arrives within 2 s."""
    url = f"sqlite:///{tmp_path / 'opcenter.db'}"
    db = Database(url)
    db.migrate()
    silent = SilentServer().start()
    receiver = HttpReceiver().up()
    server = start_server(
        tmp_path,
        "serve",
        url,
        world.smtp,
        OPCENTER_SMTP_PORT=str(silent.port),
        OPCENTER_ALERT_TIMEOUT_SECONDS="10",
    )
    try:
        client = sdk_client(server)
        workspace_id = create_workspace(client, WS)
        mine = World(db, server, client, workspace_id, 0, 0, receiver, world.smtp, [])
        mails = [("MAIL", f"user{n}@alerts.test") for n in range(6)]
        mailed = mine.alert(mails, dag_id=None, node_id=None)
        wait_for(lambda: silent.accepted, "the mail server's first connection")
        committed = time.monotonic()
        mine.alert([("WEBHOOKS", receiver.url("/past-mail"))], dag_id=None, node_id=None)
        (post,) = wait_for(lambda: receiver.received("/past-mail"), "the webhook", timeout=20)
        assert post.at - committed < 2.0
        assert len(silent.accepted) == 1  # one mail at a time
        waiting = [d.attempts for d in deliveries(db, mailed).values()]
        assert sorted(waiting) == [0] * 5 + [1]  # the others unclaimed
    finally:
        server.kill()
        silent.stop()
        receiver.down()
        db.dispose()


def test_a_receiver_that_always_fails_ends_failed_with_its_error(
    world: World, tmp_path: Path
) -> None:
    """A server of its own giving up after 2 attempts (0 s, then 5 s later)."""
    url = f"sqlite:///{tmp_path / 'opcenter.db'}"
    db = Database(url)
    db.migrate()
    broken = HttpReceiver()
    broken.mode = "fail"
    broken.up()
    server = start_server(tmp_path, "serve", url, world.smtp, OPCENTER_ALERT_MAX_ATTEMPTS="2")
    try:
        client = sdk_client(server)
        workspace_id = create_workspace(client, WS)
        mine = World(db, server, client, workspace_id, 0, 0, broken, world.smtp, [])
        alert_id = mine.alert([("WEBHOOKS", broken.url("/broken"))], dag_id=None, node_id=None)
        failed = wait_for(
            lambda: (d := deliveries(db, alert_id)[broken.url("/broken")]).status == "FAILED" and d,
            "FAILED",
        )
        assert failed.attempts == 2 and "HTTP 500" in failed.last_error
        assert "broken" in failed.last_error
        assert len(broken.received("/broken")) == 2
        assert alert_status(client, alert_id) == "SEND_FAIL"
        counted = alerts_counted(server)  # one delivery given up, none sent
        assert counted.get(("failed", "WEBHOOKS")) == 1
        assert counted.get(("sent", "WEBHOOKS"), 0) == 0
    finally:
        server.kill()
        broken.down()
        db.dispose()


def test_the_leading_scheduler_sends_with_links_to_the_public_url(
    world: World, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'opcenter.db'}"
    db = Database(url)
    db.migrate()
    receiver = HttpReceiver().up()
    (tmp_path / "api").mkdir()
    api = Proc("serve", url, tmp_path / "api" / "data", tmp_path / "api.out", "--no-engine")
    (tmp_path / "sched").mkdir()
    scheduler = Proc(
        "scheduler",
        url,
        tmp_path / "sched" / "data",
        tmp_path / "sched.out",
        OPCENTER_PUBLIC_URL="https://opcenter.example.test/",
    )
    try:
        api.start().endpoint()
        client = sdk_client(api)
        workspace_id = create_workspace(client, WS)
        mine = World(db, api, client, workspace_id, 0, 0, receiver, world.smtp, [])
        alert_id = mine.alert([("WEBHOOKS", receiver.url("/sched"))], dag_id=None, node_id=None)
        time.sleep(1.5)  # an API process without an engine sends nothing (polls are 1 s) ...
        assert receiver.received("/sched") == []
        assert deliveries(db, alert_id)[receiver.url("/sched")].attempts == 0
        scheduler.start()
        post = wait_for(lambda: receiver.received("/sched"), "the scheduler's send")[0]
        assert post.body["alertId"] == alert_id  # ... the leading scheduler does
        assert post.body["link"] == "https://opcenter.example.test/console/"  # no Dag: home
    finally:
        scheduler.kill()
        api.kill()
        receiver.down()
        db.dispose()
