"""Issue 17's acceptance checks, end to end: rules made with CreateRemind, runs started with
RunManualDagNodes and messages read with ListAlertMessages (the official SDK) on a real
`opcenter serve` process, whose engine raises the alerts and whose sender delivers them to real
receivers on 127.0.0.1 (receivers.py): an HTTP server and an SMTP server.

1. a failing node under an ERROR rule: its webhook within 2 s of the failure's commit, its mail;
2. a TIMEOUT rule: its webhook while the node still runs;
3. the server SIGKILLed between the failure's commit and the delivery: delivered after the
   restart, once per AlertId (and per receiver);
4. a receiver down for 30 s: delivered when it returns, on the real retry schedule;
5. the storm: a 30-date range failing under one rule sends what the rule allows, not 30;
6. a receiver that hangs does not slow the engine;
7. receivers that hang do not delay the alerts to the others: more of them than the sender
   once had threads, each with several alerts due, and a healthy receiver still gets its
   alert within 2 s of the failure.

One server serves the module on each store (SQLite, then PostgreSQL); the kill test starts its
own on a store of its own. The 30-second outage runs on SQLite only (the schedule is the
sender's, not the store's).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alibabacloud_dataworks_public20200518 import models as dw

from opcenter.store.db import Database
from opcenter.store.tables import AlertEvent
from tests.alerts.receivers import HttpReceiver, MailReceiver
from tests.alerts.support import (
    OPS_ADDRESS,
    alert_status,
    deliveries,
    list_alerts,
    start_server,
    wait_for,
)
from tests.api.opsupport import SHELL, FileSpec, create_flow, create_workspace, instances_of
from tests.cli.processes import Proc, sdk_client
from tests.conftest import database_on, store_url

WS = "e2e"
BIZ_DATE = "2026-12-05 00:00:00"


@dataclass
class World:
    db: Database
    server: Proc
    client: Any
    http: HttpReceiver
    smtp: MailReceiver
    base: Path


@pytest.fixture(scope="module")
def world(module_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The module's server on `module_db` (SQLite, then PostgreSQL), with the default network
    timeout (10 s), a receiver answering 200 and an SMTP server."""
    base = tmp_path_factory.mktemp("e2e")
    http, smtp = HttpReceiver().up(), MailReceiver().start()
    server = start_server(
        base, "serve", store_url(module_db), smtp, OPCENTER_ALERT_TIMEOUT_SECONDS="10"
    )
    try:
        client = sdk_client(server)
        create_workspace(client, WS)
        yield World(module_db, server, client, http, smtp, base)
    finally:
        server.kill()
        http.release()
        http.down()
        smtp.stop()


# --- the SDK, shortened -----------------------------------------------------------------------


def flow_of(client: Any, name: str, command: str) -> int:
    """A deployed workflow `name` of one Shell node (named `name` too); its NodeId."""
    return create_flow(client, WS, name, [FileSpec(name, SHELL, command)]).node_ids[name]


def remind(client: Any, name: str, node_id: int, remind_type: str, **fields: Any) -> int:
    """CreateRemind on one node, mailing `ops` unless told; its RemindId."""
    request = dw.CreateRemindRequest(
        remind_name=name,
        remind_unit="NODE",
        node_ids=str(node_id),
        remind_type=remind_type,
        alert_unit="OTHER",
        alert_targets="ops",
        **fields,
    )
    return int(client.create_remind(request).body.data)


def run(client: Any, flow: str, **dates: str) -> int:
    """RunManualDagNodes of the workflow (BIZ_DATE unless a range is given); the first DagId."""
    if not dates:
        dates = {"biz_date": BIZ_DATE}
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_name=WS, flow_name=flow, **dates
    )
    return int(client.run_manual_dag_nodes(request).body.dag_id)


def instance(client: Any, dag_id: int, name: str) -> Any:
    """GetInstance of the Dag's instance of node `name`: its Data."""
    instance_id = instances_of(client, WS, dag_id)[name].instance_id
    request = dw.GetInstanceRequest(instance_id=instance_id, project_env="PROD")
    return client.get_instance(request).body.data


def ended(client: Any, dag_id: int, name: str) -> Any:
    """The instance once it has ended (SUCCESS or FAILURE)."""
    return wait_for(
        lambda: (i := instance(client, dag_id, name)).status in ("SUCCESS", "FAILURE") and i,
        f"{name} of Dag {dag_id} to end",
    )


def dag_status(client: Any, dag_id: int) -> str:
    request = dw.GetDagRequest(dag_id=dag_id, project_env="PROD")
    return str(client.get_dag(request).body.data.status)


def alert_ids(posts: list[Any]) -> list[int]:
    """The AlertId of each post, as its header and its body say (they must agree)."""
    ids = []
    for post in posts:
        assert post.headers["X-Opcenter-Alert-Id"] == str(post.body["alertId"])
        ids.append(int(post.body["alertId"]))
    return ids


def all_sent(db: Database, alert_id: int) -> dict[str, Any] | None:
    """The alert's deliveries once every one is SENT."""
    found = deliveries(db, alert_id)
    return found if found and all(d.status == "SENT" for d in found.values()) else None


# --- 1. ERROR: the webhook within 2 s of the failure's commit, and the mail -----------------


def test_a_failing_node_is_posted_within_2_s_of_its_failure_and_mailed(world: World) -> None:
    # Given an ERROR rule on a Shell node, to a webhook and by mail to `ops`
    client, http = world.client, world.http
    node_id = flow_of(client, "failing", "echo loading; exit 3")
    remind_id = remind(
        client,
        "failing fails",
        node_id,
        "ERROR",
        alert_methods="WEBHOOKS,MAIL",
        webhooks=http.url("/failing"),
    )
    # When the node fails
    dag_id = run(client, "failing")
    failed = ended(client, dag_id, "failing")
    assert failed.status == "FAILURE"
    # Then the webhook is posted within 2 s of the failure as stored (its end, committed with
    # the alert), naming the failed instance and linking to its run
    (post,) = wait_for(lambda: http.received("/failing"), "the webhook", timeout=10)
    assert post.wall - failed.finish_time / 1000 < 2.0
    (alert_id,) = alert_ids([post])
    link = f"http://{world.server.endpoint()}/console/dags/{dag_id}"
    body = post.body
    assert (body["trigger"], body["status"], body["instanceId"], body["dagId"]) == (
        "ERROR",
        "FAILURE",
        failed.instance_id,
        dag_id,
    )
    assert body["rule"] == {"id": remind_id, "name": "failing fails"}
    assert body["node"]["id"] == node_id and body["link"] == link
    subject = f"[opcenter] ERROR: node failing (instance {failed.instance_id}) failed"
    assert body["title"] == subject
    # and `ops` is mailed: its address, the alert's subject, the link to the run's page
    (mail,) = wait_for(
        lambda: [m for m in world.smtp.mails if m.message["X-Opcenter-Alert-Id"] == str(alert_id)],
        "the mail",
        timeout=10,
    )
    assert mail.recipients == [OPS_ADDRESS]
    assert mail.message["Subject"] == subject
    assert link in mail.message.get_payload(decode=True).decode()
    # ListAlertMessages lists that one alert, sent by both channels
    wait_for(lambda: alert_status(client, alert_id) == "SEND_SUCCESS", "SEND_SUCCESS")
    (listed,) = list_alerts(client, remind_id)
    assert (listed.alert_id, listed.alert_method, listed.alert_user) == (
        alert_id,
        "WEBHOOKS,MAIL",  # in the rule's order
        "ops",
    )


# --- 2. TIMEOUT: the webhook while the node still runs --------------------------------------


def test_a_timeout_is_posted_while_the_node_still_runs(world: World) -> None:
    # Given a TIMEOUT rule of 1 s on a node that sleeps a minute
    client, http = world.client, world.http
    node_id = flow_of(client, "slow", "sleep 60")
    remind(
        client,
        "slow runs long",
        node_id,
        "TIMEOUT",
        detail="1",
        alert_methods="WEBHOOKS",
        webhooks=http.url("/slow"),
    )
    dag_id = run(client, "slow")
    try:
        # When it has run for a second, its webhook comes, while it still runs
        (post,) = wait_for(lambda: http.received("/slow"), "the TIMEOUT webhook", timeout=15)
        running = instance(client, dag_id, "slow")
        assert running.status == "RUNNING"
        assert post.wall - running.begin_running_time / 1000 >= 1.0
        body = post.body
        assert (body["trigger"], body["status"], body["instanceId"]) == (
            "TIMEOUT",
            "RUNNING",
            running.instance_id,
        )
    finally:
        stop = dw.StopInstanceRequest(
            instance_id=instances_of(client, WS, dag_id)["slow"].instance_id, project_env="PROD"
        )
        client.stop_instance(stop)
    assert ended(client, dag_id, "slow").status == "FAILURE"
    assert len(http.received("/slow")) == 1  # once per attempt


# --- 3. SIGKILL between the failure's commit and the delivery -------------------------------


def test_a_server_killed_before_delivering_delivers_once_per_alert_id_after_restart(
    world: World, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two webhooks of one rule: one receiver holds the first post open (the delivery is
    claimed, its outcome never recorded), the other is down (its first attempt failed, the next
    is due 5 s later). The server is SIGKILLed then; both receivers answer again; the restarted
    server delivers each once more: the held one when the claim's lease (6 network timeouts of
    2 s) has run out, the other on its schedule."""
    backend = "sqlite" if world.db.is_sqlite else "postgresql"
    schema = request.getfixturevalue("pg_schema") if backend == "postgresql" else None
    db = database_on(backend, tmp_path / "opcenter.db", schema)
    held, down = HttpReceiver(), HttpReceiver()
    held.mode = "hold"
    held.up()
    down.up().down()  # its port now refuses connections
    timeout = {"OPCENTER_ALERT_TIMEOUT_SECONDS": "2"}
    server = start_server(tmp_path, "first", store_url(db), world.smtp, **timeout)
    try:
        client = sdk_client(server)
        create_workspace(client, WS)
        node_id = flow_of(client, "crashing", "exit 7")
        urls = [held.url("/held"), down.url("/down")]
        remind(
            client,
            "crashing fails",
            node_id,
            "ERROR",
            alert_methods="WEBHOOKS",
            webhooks=",".join(urls),
        )
        run(client, "crashing")
        # When the failure is committed and the server is killed before either delivery is done
        assert held.arrived.wait(15)
        (alert_id,) = alert_ids(held.received("/held"))
        refused = wait_for(
            lambda: (d := deliveries(db, alert_id)[urls[1]]).last_error and d, "a refused attempt"
        )
        server.kill()
        assert "Connection refused" in refused.last_error
        at_kill = deliveries(db, alert_id)
        assert {u: (d.status, d.attempts) for u, d in at_kill.items()} == {
            urls[0]: ("PENDING", 1),  # claimed, no outcome
            urls[1]: ("PENDING", 1),  # failed once, retried later
        }
        assert at_kill[urls[0]].last_error == ""  # no outcome: sent again when the lease ends
        held.mode = "ok"
        held.release()
        down.up()
        # Then the restarted server delivers each, once, with the one AlertId
        server = start_server(tmp_path, "second", store_url(db), world.smtp, **timeout)
        sent = wait_for(lambda: all_sent(db, alert_id), "both deliveries after the restart")
        assert {u: d.attempts for u, d in sent.items()} == {urls[0]: 2, urls[1]: 2}
        assert alert_ids(down.received("/down")) == [alert_id]  # never got it before the kill
        assert alert_ids(held.received("/held")) == [alert_id, alert_id]  # once after restart
        client = sdk_client(server)
        (listed,) = list_alerts(client)
        assert (listed.alert_id, listed.alert_message_status) == (alert_id, "SEND_SUCCESS")
    finally:
        server.kill()
        held.release()
        held.down()
        down.down()
        db.dispose()


# --- 5. the storm: 30 failing dates, one rule, what the rule allows -------------------------


def test_a_failing_range_of_30_dates_posts_what_the_rule_allows(world: World) -> None:
    """A range stops at its first failed date: each failure is set to success (SetSuccess-
    Instance, which raises nothing) so that the next date runs and fails in turn."""
    client, http = world.client, world.http
    # Given an ERROR rule, at most 3 alerts per run 30 minutes apart (the default interval)
    node_id = flow_of(client, "storm", "echo loading; exit 4")
    remind_id = remind(
        client,
        "storm fails",
        node_id,
        "ERROR",
        alert_methods="WEBHOOKS",
        webhooks=http.url("/storm"),
        max_alert_times=3,
    )
    # When one RunManualDagNodes runs it for 30 dates, and each date fails
    first = run(
        client,
        "storm",
        start_biz_date="2024-03-01 00:00:00",
        end_biz_date="2024-03-30 00:00:00",
    )
    op_seq = client.get_dag(dw.GetDagRequest(dag_id=first, project_env="PROD")).body.data.op_seq
    listed = dw.ListDagsRequest(op_seq=op_seq, project_env="PROD")
    dags = client.list_dags(listed).body.data.dags
    assert len(dags) == 30
    failures = []
    for dag in dags:
        failures.append(ended(client, dag.dag_id, "storm"))
        assert failures[-1].status == "FAILURE"
        done = dw.SetSuccessInstanceRequest(
            instance_id=failures[-1].instance_id, project_env="PROD"
        )
        assert client.set_success_instance(done).body.success
    wait_for(lambda: dag_status(client, dags[-1].dag_id) == "SUCCESS", "the last date")
    # Then 30 events are recorded, one alert raised (the first failure's), and the receiver
    # gets that one post: ListAlertMessages agrees
    with world.db.transaction(readonly=True) as session:
        events = session.execute(
            sa.select(AlertEvent.message_id).where(AlertEvent.remind_id == remind_id)
        ).all()
    assert len(events) == 30
    (message,) = list_alerts(client, remind_id)
    assert (message.source, message.alert_method) == ("REMIND_ALERT", "WEBHOOKS")
    assert [i.instance_id for i in message.instances] == [failures[0].instance_id]
    assert [n.node_id for n in message.nodes] == [node_id]
    wait_for(lambda: alert_status(client, message.alert_id) == "SEND_SUCCESS", "SEND_SUCCESS")
    assert alert_ids(http.received("/storm")) == [message.alert_id]
    assert sorted({m for (m,) in events} - {None}) == [message.alert_id]


# --- 6. a hanging receiver does not slow the engine -----------------------------------------


def test_a_hanging_receiver_does_not_slow_the_engine(world: World) -> None:
    # Given a rule posting to 5 webhooks of a receiver that holds every request open (more than
    # the sender's threads), raised by a failure
    client = world.client
    hanging = HttpReceiver()
    hanging.mode = "hold"
    hanging.up()
    urls = [hanging.url(f"/hang/{n}") for n in range(5)]
    try:
        node_id = flow_of(client, "hanging", "exit 2")
        remind(
            client,
            "hanging fails",
            node_id,
            "ERROR",
            alert_methods="WEBHOOKS",
            webhooks=",".join(urls),
        )
        failed = run(client, "hanging")
        assert hanging.arrived.wait(15)
        (alert_id,) = {int(p.headers["X-Opcenter-Alert-Id"]) for p in hanging.posts}
        # When another run starts while the receiver holds the posts
        flow_of(client, "quick", "echo quick")
        quick = run(client, "quick")
        # Then it completes while they are held (claimed, no outcome before the 10 s timeout)
        assert ended(client, quick, "quick").status == "SUCCESS"
        assert dag_status(client, quick) == "SUCCESS"
        held = [d for d in deliveries(world.db, alert_id).values() if d.attempts == 1]
        assert len(held) >= 4 and not any(d.last_error for d in held), held
        assert dag_status(client, failed) == "FAILURE"
    finally:
        hanging.release()
    wait_for(lambda: all_sent(world.db, alert_id), "the released deliveries")
    hanging.down()


# --- 7. hanging receivers do not delay the alerts to the others ----------------------------


def test_hanging_receivers_do_not_delay_the_alerts_to_the_others(world: World) -> None:
    """Five receivers that hold every request open (more than the four sending threads the
    sender once had, each holding one until its 10 s timeout), each with three alerts due
    before the healthy receiver's: the healthy one is posted within 2 s of its failure, while
    each hanging receiver holds one post and its other deliveries wait unclaimed."""
    client = world.client
    hanging = [HttpReceiver() for _ in range(5)]
    for receiver in hanging:
        receiver.mode = "hold"
        receiver.up()
    urls = [r.url("/hang") for r in hanging]
    alerts: list[int] = []
    try:
        # Given three alerts (three runs failing) to each of five hanging receivers
        node_id = flow_of(client, "stuck", "exit 5")
        stuck = remind(
            client,
            "stuck fails",
            node_id,
            "ERROR",
            alert_methods="WEBHOOKS",
            webhooks=",".join(urls),
        )
        for _ in range(3):
            assert ended(client, run(client, "stuck"), "stuck").status == "FAILURE"
        messages = wait_for(
            lambda: len(m := list_alerts(client, stuck)) == 3 and m, "the three alerts"
        )
        alerts = [m.alert_id for m in messages]
        # and each receiver holding a post open
        wait_for(lambda: all(r.posts for r in hanging), "a post held by each receiver")
        # When a node with a rule to a healthy receiver fails
        healthy = flow_of(client, "healthy", "exit 6")
        remind(
            client,
            "healthy fails",
            healthy,
            "ERROR",
            alert_methods="WEBHOOKS",
            webhooks=world.http.url("/healthy"),
        )
        failed = ended(client, run(client, "healthy"), "healthy")
        # Then its alert is posted within 2 s of the failure
        (post,) = wait_for(lambda: world.http.received("/healthy"), "the healthy post", 20)
        assert post.wall - failed.finish_time / 1000 < 2.0
        # while each hanging receiver holds one post, and the other deliveries wait unclaimed
        assert [len(r.posts) for r in hanging] == [1] * 5
        stored = [d for a in alerts for d in deliveries(world.db, a).values()]
        assert sorted((d.status, d.attempts, d.last_error) for d in stored) == (
            [("PENDING", 0, "")] * 10 + [("PENDING", 1, "")] * 5
        )
    finally:
        for receiver in hanging:
            receiver.release()
    # Released, the receivers answer: every delivery is sent, one at a time to each
    for alert_id in alerts:
        wait_for(lambda a=alert_id: all_sent(world.db, a), "the released deliveries")
    for receiver in hanging:
        assert sorted(alert_ids(receiver.posts)) == sorted(alerts)
        receiver.down()


# --- 4. a receiver down for 30 s ------------------------------------------------------------


def test_a_receiver_down_for_30_s_gets_the_alert_when_it_returns(world: World) -> None:
    """The real schedule: attempts 0, 5, 15 and 35 s after the failure (5 s, then 10 s, then
    20 s after each failed one; the sender looks at least once a second)."""
    if not world.db.is_sqlite:
        pytest.skip("the retry schedule is the sender's, not the store's: SQLite only")
    client = world.client
    late = HttpReceiver().up()
    url = late.url("/late")
    late.down()  # its port now refuses connections
    node_id = flow_of(client, "outage", "exit 9")
    remind_id = remind(
        client, "outage fails", node_id, "ERROR", alert_methods="WEBHOOKS", webhooks=url
    )
    try:
        dag_id = run(client, "outage")
        failed_at = ended(client, dag_id, "outage").finish_time / 1000
        (message,) = wait_for(lambda: list_alerts(client, remind_id), "the alert")
        alert_id = message.alert_id
        first = wait_for(lambda: deliveries(world.db, alert_id)[url].last_error, "an attempt")
        assert "Connection refused" in first
        time.sleep(max(0.0, failed_at + 30.0 - time.time()))  # the outage itself: 30 s
        failing = deliveries(world.db, alert_id)[url]
        assert (failing.status, failing.attempts) == ("PENDING", 3)
        assert alert_status(client, alert_id) == "READY_TO_SEND"
        late.up()
        (post,) = wait_for(lambda: late.received("/late"), "the delivery", timeout=30)
        assert 34.0 < post.wall - failed_at < 40.0
        sent = wait_for(
            lambda: (d := deliveries(world.db, alert_id)[url]).status == "SENT" and d, "SENT"
        )
        assert (sent.attempts, sent.last_error) == (4, "")
        assert alert_ids([post]) == [alert_id]
        assert alert_status(client, alert_id) == "SEND_SUCCESS"
    finally:
        late.down()
