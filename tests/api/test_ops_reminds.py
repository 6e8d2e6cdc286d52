"""CreateRemind, GetRemind, ListReminds, UpdateRemind, DeleteRemind, ListAlertMessages and
GetAlertMessage through the official SDK against a real server with the store's AccessKeys and
the real authorizer; alert messages are written through the store's `record_alert`, as the
engine will.

One server serves the module (SQLite, then PostgreSQL). Workspace `alerts` holds a deployed
workflow `nightly` (nodes `extract`, `load`); workspace `other` exists too. RAM users: `reader`
(read-only policy, visitor of `alerts`), `ops` (full access, O&M of `alerts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from opcenter.api.server import ServerThread
from opcenter.iam.system_policies import FULL_ACCESS, READ_ONLY_ACCESS
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.db import Database
from tests.api.opsupport import (
    SHELL,
    FileSpec,
    Flow,
    assert_sdk_error,
    create_flow,
    create_workspace,
    sdk_error,
    signed_client,
    signed_server,
)

WS, OTHER = "alerts", "other"
ACCOUNT = "1000000000000077"
# 2026-12-06T08:00:00Z and the hours after it, in epoch milliseconds
T0 = 1796544000000
HOUR = 3_600_000


@dataclass
class World:
    ctx: ServiceContext
    server: ServerThread
    root: Client
    flow: Flow
    other_id: int
    users: dict[str, Client] = field(default_factory=dict)

    def client(self, key_id: str, secret: str) -> Client:
        return signed_client(self.server.endpoint, key_id, secret)


def _user(world: World, name: str, policy: str, role: str) -> None:
    user = iam.create_user(world.ctx, user_name=name)
    iam.attach_policy(world.ctx, policy_name=policy, user_name=name)
    iam.create_project_member(
        world.ctx, project_id=world.flow.project_id, user_id=user.uid, role_code=role
    )
    record, secret = iam.create_access_key(world.ctx, user_name=name)
    world.users[name] = world.client(record.access_key_id, secret)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[World]:
    with signed_server(tmp_path_factory, module_db, "reminds_api", ACCOUNT) as opened:
        ctx, server, root, _ = opened
        create_workspace(root, WS)
        other_id = create_workspace(root, OTHER)
        flow = create_flow(
            root,
            WS,
            "nightly",
            [
                FileSpec("extract", SHELL, "echo e"),
                FileSpec("load", SHELL, "echo l", inputs=["extract"]),
            ],
        )
        built = World(ctx=ctx, server=server, root=root, flow=flow, other_id=other_id)
        _user(built, "reader", READ_ONLY_ACCESS, "role_project_guest")
        _user(built, "ops", FULL_ACCESS, "role_project_pe")
        yield built


def _create(client: Client, **fields: Any) -> int:
    request = dw.CreateRemindRequest(**fields)
    body = client.create_remind(request).body
    assert (body.success, body.http_status_code) == (True, 200)
    assert isinstance(body.data, int)
    return body.data


def _node_rule(world: World, name: str, **more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "remind_name": name,
        "remind_unit": "NODE",
        "node_ids": f"{world.flow.node_ids['extract']},{world.flow.node_ids['load']}",
        "remind_type": "ERROR",
        "alert_unit": "OWNER",
        "alert_methods": "MAIL",
    }
    fields.update(more)
    return fields


def _get(client: Client, remind_id: int) -> dw.GetRemindResponseBodyData:
    return client.get_remind(dw.GetRemindRequest(remind_id=remind_id)).body.data


# --- the rules ----------------------------------------------------------------------------------


def test_a_node_rule_is_created_and_get_remind_shows_every_field(world: World) -> None:
    remind_id = _create(
        world.root,
        **_node_rule(
            world,
            "load failed",
            alert_methods="MAIL,DINGROBOTS,WEBHOOKS",
            robot_urls="https://oapi.dingtalk.com/robot/send?access_token=x",
            webhooks="https://open.feishu.cn/open-apis/bot/v2/hook/y",
            alert_interval=3600,
            max_alert_times=5,
            dnd_end="08:30",
        ),
    )
    got = _get(world.root, remind_id)
    extract, load = world.flow.node_ids["extract"], world.flow.node_ids["load"]
    assert (got.remind_id, got.remind_name, got.remind_unit, got.remind_type) == (
        remind_id,
        "load failed",
        "NODE",
        "ERROR",
    )
    assert (got.alert_unit, got.alert_targets, got.alert_methods) == (
        "OWNER",
        [],
        ["MAIL", "DINGROBOTS", "WEBHOOKS"],
    )
    assert (got.alert_interval, got.max_alert_times, got.dnd_start, got.dnd_end) == (
        3600,
        5,
        "00:00",
        "08:30",
    )
    assert (got.useflag, got.founder, got.detail) == (True, "root", "")
    assert [(n.node_id, n.node_name, n.project_id) for n in got.nodes] == [
        (extract, "extract", world.flow.project_id),
        (load, "load", world.flow.project_id),
    ]
    assert [r.web_url for r in got.robots] == [
        "https://oapi.dingtalk.com/robot/send?access_token=x"
    ]
    assert got.webhooks == ["https://open.feishu.cn/open-apis/bot/v2/hook/y"]
    assert (got.projects, got.biz_processes, got.baselines) == ([], [], [])


def test_workspace_and_workflow_rules_keep_their_detail_and_targets(world: World) -> None:
    project_rule = _create(
        world.root,
        remind_name="slow anywhere",
        remind_unit="PROJECT",
        project_id=world.flow.project_id,
        remind_type="TIMEOUT",
        detail="1800",
        alert_unit="OTHER",
        alert_targets="ops,reader",
        alert_methods="mail",
    )
    flow_rule = _create(
        world.root,
        remind_name="nightly late",
        remind_unit="BIZPROCESS",
        biz_process_ids=str(world.flow.business_id),
        remind_type="UNFINISHED",
        detail="07:05",
        alert_unit="OWNER",
        alert_methods="MAIL",
    )
    project = _get(world.root, project_rule)
    assert [p.project_id for p in project.projects] == [world.flow.project_id]
    assert (project.detail, project.alert_targets, project.alert_methods) == (
        "1800",
        ["ops", "reader"],
        ["MAIL"],
    )
    assert [(r.alert_unit, r.alert_targets) for r in project.receivers] == [
        ("OTHER", ["ops", "reader"])
    ]
    flow = _get(world.root, flow_rule)
    assert [(b.biz_id, b.biz_process_name) for b in flow.biz_processes] == [
        (world.flow.business_id, "nightly")
    ]
    assert flow.detail == '{"hour":7,"minu":5}'


def test_list_reminds_filters_and_pages(world: World) -> None:
    ids = [
        _create(world.root, **_node_rule(world, f"paged {n}", remind_type="FINISHED"))
        for n in range(3)
    ]
    data = world.root.list_reminds(
        dw.ListRemindsRequest(search_text="PAGED", page_number=1, page_size=2)
    ).body.data
    assert [r.remind_id for r in data.reminds] == [ids[2], ids[1]]
    assert (data.page_number, data.page_size, data.total_count) == (1, 2, 3)
    last = world.root.list_reminds(
        dw.ListRemindsRequest(search_text="paged", page_number=2, page_size=2)
    ).body.data
    assert [r.remind_id for r in last.reminds] == [ids[0]]
    item = last.reminds[0]
    assert (item.remind_name, item.remind_unit, item.remind_type, item.useflag) == (
        "paged 0",
        "NODE",
        "FINISHED",
        True,
    )
    extract = world.flow.node_ids["extract"]
    assert item.node_ids == [extract, world.flow.node_ids["load"]]
    watching = world.root.list_reminds(
        dw.ListRemindsRequest(node_id=extract, remind_types="FINISHED", page_number=1, page_size=50)
    ).body.data
    assert {r.remind_id for r in watching.reminds} == set(ids)


def test_update_remind_changes_what_it_names_and_keeps_the_rest(world: World) -> None:
    remind_id = _create(world.root, **_node_rule(world, "to change"))
    body = world.root.update_remind(
        dw.UpdateRemindRequest(
            remind_id=remind_id,
            remind_name="changed",
            remind_type="TIMEOUT",
            detail="600",
            node_ids=str(world.flow.node_ids["load"]),
            use_flag=False,
        )
    ).body
    assert (body.success, body.data) == (True, True)
    got = _get(world.root, remind_id)
    assert (got.remind_name, got.remind_type, got.detail, got.useflag) == (
        "changed",
        "TIMEOUT",
        "600",
        False,
    )
    assert [n.node_id for n in got.nodes] == [world.flow.node_ids["load"]]
    assert (got.alert_unit, got.alert_methods, got.alert_interval) == ("OWNER", ["MAIL"], 1800)


def test_delete_remind_removes_it(world: World) -> None:
    remind_id = _create(world.root, **_node_rule(world, "to delete"))
    body = world.root.delete_remind(dw.DeleteRemindRequest(remind_id=remind_id)).body
    assert (body.success, body.data) == (True, True)
    error = sdk_error(lambda: _get(world.root, remind_id))
    assert_sdk_error(
        error,
        code="Invalid.Remind.NotExists",
        status=404,
        message=f"The rule RemindId={remind_id} does not exist.",
    )


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("more", "code", "message"),
    [
        (
            {"remind_type": "LATE"},
            "InvalidParameter",
            "RemindType='LATE' is not one of ERROR, FINISHED, TIMEOUT, UNFINISHED.",
        ),
        (
            {"remind_unit": "BASELINE", "baseline_ids": "1"},
            "InvalidParameter",
            "RemindUnit='BASELINE' is not supported: opcenter has no baselines. Watch the "
            "workspace (PROJECT), workflows (BIZPROCESS) or nodes (NODE) instead.",
        ),
        (
            {"alert_unit": "OTHER"},
            "MissingParameter",
            'The input parameter "AlertTargets" that is mandatory for processing this request '
            "is not supplied.",
        ),
        (
            {"remind_type": "TIMEOUT", "detail": "soon"},
            "InvalidParameter",
            "Detail='soon' must be the running time in seconds after which "
            "RemindType='TIMEOUT' fires, from 1 to 259200 (e.g. 1800).",
        ),
        (
            {"remind_type": "UNFINISHED", "detail": '{"hour":48,"minu":0}'},
            "InvalidParameter",
            'Detail=\'{"hour":48,"minu":0}\' must be the time of day '
            "RemindType='UNFINISHED' waits for, as "
            '{"hour":23,"minu":59} (hour 0-47, 24 and more being the next day; minu 0-59) '
            "or HH:mm.",
        ),
        (
            {"alert_methods": "MAIL,PIGEON"},
            "InvalidParameter",
            "AlertMethods: 'PIGEON' is not one of MAIL, DINGROBOTS, WEBHOOKS.",
        ),
        (
            {"alert_methods": "WEBHOOKS"},
            "MissingParameter",
            'The input parameter "Webhooks" that is mandatory for processing this request '
            "is not supplied.",
        ),
        (
            {"alert_interval": 60},
            "InvalidParameter",
            "AlertInterval=60 must be between 1200 and 86400.",
        ),
    ],
    ids=["type", "baseline", "targets", "timeout", "unfinished", "method", "webhooks", "interval"],
)
def test_a_bad_rule_is_refused_naming_the_field(
    world: World, more: dict[str, Any], code: str, message: str
) -> None:
    fields = _node_rule(world, "refused")
    fields.update(more)
    error = sdk_error(lambda: world.root.create_remind(dw.CreateRemindRequest(**fields)))
    assert_sdk_error(error, code=code, status=400, message=message)
    listed = world.root.list_reminds(
        dw.ListRemindsRequest(search_text="refused", page_number=1, page_size=10)
    ).body.data
    assert listed.total_count == 0


def test_a_node_of_another_workspace_is_refused(world: World) -> None:
    fields = _node_rule(world, "elsewhere", project_id=world.other_id)
    error = sdk_error(lambda: world.root.create_remind(dw.CreateRemindRequest(**fields)))
    extract, load = world.flow.node_ids["extract"], world.flow.node_ids["load"]
    assert_sdk_error(
        error,
        code="Invalid.Node.NotExists",
        status=404,
        message=f"NodeIds: {extract}, {load} are not in workspace '{OTHER}'.",
    )


def test_a_second_rule_of_the_same_name_is_refused(world: World) -> None:
    _create(world.root, **_node_rule(world, "twice"))
    error = sdk_error(lambda: _create(world.root, **_node_rule(world, "twice")))
    assert_sdk_error(
        error,
        code="Invalid.Remind.Duplicate",
        status=409,
        message=f"RemindName='twice' is already a rule of workspace '{WS}'.",
    )


def test_a_read_only_user_reads_rules_but_may_not_write_them(world: World) -> None:
    remind_id = _create(world.root, **_node_rule(world, "read me"))
    reader = world.users["reader"]
    assert _get(reader, remind_id).remind_name == "read me"
    arn = f"{ACCOUNT}:workspace/{WS}"
    for action, call in (
        (
            "CreateRemind",
            lambda: reader.create_remind(dw.CreateRemindRequest(**_node_rule(world, "by reader"))),
        ),
        (
            "UpdateRemind",
            lambda: reader.update_remind(
                dw.UpdateRemindRequest(remind_id=remind_id, remind_name="x")
            ),
        ),
        ("DeleteRemind", lambda: reader.delete_remind(dw.DeleteRemindRequest(remind_id=remind_id))),
    ):
        error = sdk_error(call)
        assert (error.code, error.status_code) == ("Forbidden.RAM", 403), action
        assert f"dataworks:{action} on acs:dataworks:" in error.data["Message"]
        assert f"{arn}: no attached policy allows it." in error.data["Message"]
    assert _get(world.root, remind_id).remind_name == "read me"
    # an O&M member may
    ops_rule = _create(world.users["ops"], **_node_rule(world, "by ops"))
    assert _get(world.root, ops_rule).founder == "ops"


# --- alert messages -----------------------------------------------------------------------------


def _record(world: World, remind_id: int, n: int, **more: Any) -> int | None:
    node = world.flow.node_ids["load"]
    values: dict[str, Any] = {
        "workspace_id": world.flow.project_id,
        "remind_id": remind_id,
        "remind_name": "messages",
        "trigger": "ERROR",
        "key": dedupe_key(remind_id, "ERROR", f"instance/{1000 + n}"),
        "receivers": [("MAIL", "root"), ("DINGROBOTS", "https://robot/x")],
        "created_at": T0 + n * HOUR,
        "subject": f"load failed #{n}",
        "content": f"Instance {1000 + n} of node load failed.",
        "dag_id": 500 + n,
        "instance_id": 1000 + n,
        "node_id": node,
        "node_name": "load",
        "node_owner": "root",
        "instance_status": "FAILURE",
    }
    values.update(more)
    with world.ctx.db.transaction() as session:
        return record_alert(session.connection(), **values)


@pytest.fixture(scope="module")
def messages(world: World) -> tuple[int, list[int]]:
    """A rule with four alerts at T0 + 0..3 hours; the second one's deliveries went out."""
    remind_id = _create(world.root, **_node_rule(world, "messages"))
    alert_ids = [_record(world, remind_id, n) for n in range(4)]
    assert all(isinstance(a, int) for a in alert_ids)
    with world.ctx.db.transaction() as session:
        session.connection().exec_driver_sql(
            f"UPDATE alert_deliveries SET status = 'SENT' WHERE message_id = {alert_ids[1]}"
        )
    return remind_id, [int(a) for a in alert_ids if a is not None]


def _list(client: Client, **filters: Any) -> dw.ListAlertMessagesResponseBodyData:
    filters.setdefault("begin_time", "2026-12-06T08:00:00Z")
    filters.setdefault("end_time", "2026-12-06T23:59:59Z")
    filters.setdefault("page_number", 1)
    filters.setdefault("page_size", 10)
    return client.list_alert_messages(dw.ListAlertMessagesRequest(**filters)).body.data


def test_an_event_is_recorded_once(world: World, messages: tuple[int, list[int]]) -> None:
    remind_id, _ = messages
    assert _record(world, remind_id, 0, content="again") is None
    data = _list(world.root, remind_id=remind_id, page_size=100)
    assert data.total_count == 4


def test_list_alert_messages_pages_newest_first(
    world: World, messages: tuple[int, list[int]]
) -> None:
    remind_id, ids = messages
    first = _list(world.root, remind_id=remind_id, page_size=3)
    assert [m.alert_id for m in first.alert_messages] == [ids[3], ids[2], ids[1]]
    assert (first.page_number, first.page_size, first.total_count) == (1, 3, 4)
    second = _list(world.root, remind_id=remind_id, page_size=3, page_number=2)
    assert [m.alert_id for m in second.alert_messages] == [ids[0]]
    sent = first.alert_messages[2]
    assert (sent.alert_message_status, sent.alert_method, sent.alert_user) == (
        "SEND_SUCCESS",
        "MAIL,DINGROBOTS",
        "root",
    )
    newest = first.alert_messages[0]
    assert (newest.alert_message_status, newest.alert_time, newest.source) == (
        "READY_TO_SEND",
        T0 + 3 * HOUR,
        "REMIND_ALERT",
    )
    assert (newest.remind_id, newest.remind_name, newest.content) == (
        remind_id,
        "messages",
        "Instance 1003 of node load failed.",
    )
    load = world.flow.node_ids["load"]
    assert [(i.instance_id, i.node_id, i.node_name, i.status) for i in newest.instances] == [
        (1003, load, "load", "FAILURE")
    ]
    assert [(n.node_id, n.owner, n.project_id) for n in newest.nodes] == [
        (load, "root", world.flow.project_id)
    ]


def test_list_alert_messages_filters_by_time_method_user_and_rule_type(
    world: World, messages: tuple[int, list[int]]
) -> None:
    remind_id, ids = messages
    window = _list(
        world.root,
        remind_id=remind_id,
        begin_time="2026-12-06T09:00:00Z",
        end_time="2026-12-06T10:00:00Z",
    )
    assert [m.alert_id for m in window.alert_messages] == [ids[2], ids[1]]
    assert _list(world.root, remind_id=remind_id, alert_methods="DINGROBOTS").total_count == 4
    assert _list(world.root, remind_id=remind_id, alert_methods="WEBHOOKS").total_count == 0
    assert _list(world.root, remind_id=remind_id, alert_user="root").total_count == 4
    assert _list(world.root, remind_id=remind_id, alert_user="ops").total_count == 0
    assert _list(world.root, remind_id=remind_id, alert_rule_types="GLOBAL").total_count == 0
    assert _list(world.root, remind_id=remind_id, alert_rule_types="USER_DEFINE").total_count == 4
    error = sdk_error(lambda: _list(world.root, begin_time="yesterday"))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="BeginTime='yesterday' must be a UTC time as yyyy-MM-ddTHH:mm:ssZ "
        "(e.g. 2026-12-06T08:00:00Z).",
    )


def test_get_alert_message_shows_one(world: World, messages: tuple[int, list[int]]) -> None:
    remind_id, ids = messages
    got = world.root.get_alert_message(dw.GetAlertMessageRequest(alert_id=str(ids[0]))).body.data
    assert (got.alert_id, got.remind_id, got.alert_message_status, got.alert_time) == (
        ids[0],
        remind_id,
        "READY_TO_SEND",
        T0,
    )
    assert [i.instance_id for i in got.instances] == [1000]
    error = sdk_error(
        lambda: world.root.get_alert_message(dw.GetAlertMessageRequest(alert_id="999999"))
    )
    assert_sdk_error(
        error,
        code="Invalid.AlertMessage.NotExists",
        status=404,
        message="The alert AlertId=999999 does not exist.",
    )


def test_alerts_of_a_workspace_the_user_does_not_see_are_not_listed(
    world: World, messages: tuple[int, list[int]]
) -> None:
    remind_id, ids = messages
    other = _create(
        world.root,
        remind_name="other space",
        remind_unit="PROJECT",
        project_id=world.other_id,
        remind_type="ERROR",
        alert_unit="OWNER",
        alert_methods="MAIL",
    )
    _record(world, other, 9, workspace_id=world.other_id)
    reader = world.users["reader"]
    seen = {m.remind_id for m in _list(reader, page_size=100).alert_messages}
    assert seen == {remind_id}
    assert _list(world.root, remind_id=other).total_count == 1
    names = {
        r.remind_name
        for r in reader.list_reminds(
            dw.ListRemindsRequest(page_number=1, page_size=100)
        ).body.data.reminds
    }
    assert "other space" not in names and "messages" in names


def test_update_remind_moves_a_rule_to_its_workspace_and_not_to_another(world: World) -> None:
    remind_id = _create(
        world.root,
        **_node_rule(world, "widening", alert_unit="OTHER", alert_targets="ops"),
    )
    world.root.update_remind(
        dw.UpdateRemindRequest(
            remind_id=remind_id,
            remind_unit="PROJECT",
            project_id=world.flow.project_id,
            alert_unit="OWNER",
        )
    )
    got = _get(world.root, remind_id)
    assert (got.remind_unit, [p.project_id for p in got.projects], got.nodes) == (
        "PROJECT",
        [world.flow.project_id],
        [],
    )
    assert (got.alert_unit, got.alert_targets) == ("OWNER", [])
    error = sdk_error(
        lambda: world.root.update_remind(
            dw.UpdateRemindRequest(remind_id=remind_id, project_id=world.other_id)
        )
    )
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message=f"ProjectId={world.other_id}: rule RemindId={remind_id} belongs to workspace "
        f"'{WS}' (ProjectId={world.flow.project_id}) and cannot move.",
    )
    error = sdk_error(
        lambda: world.root.update_remind(
            dw.UpdateRemindRequest(remind_id=remind_id, remind_type="UNFINISHED")
        )
    )
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "Detail" that is mandatory for processing this request '
        "is not supplied.",
    )
    assert _get(world.root, remind_id).remind_type == "ERROR"


def test_list_alert_messages_end_time_takes_in_its_whole_second(world: World) -> None:
    # Given an alert raised a quarter of a second into 13:00:00 (T0 + 5 hours)
    remind_id = _create(world.root, **_node_rule(world, "to the second"))
    alert_id = _record(world, remind_id, 5, created_at=T0 + 5 * HOUR + 250)
    # When the alerts up to 13:00:00 are listed, then it is among them (times are to the
    # second: `opcenter alert list`'s default end, "now", is such a time)
    until = _list(world.root, remind_id=remind_id, end_time="2026-12-06T13:00:00Z")
    assert [m.alert_id for m in until.alert_messages] == [alert_id]
    # And not up to the second before
    before = _list(world.root, remind_id=remind_id, end_time="2026-12-06T12:59:59Z")
    assert before.total_count == 0
