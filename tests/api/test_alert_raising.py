"""Alerts raised by runs, end to end through the official SDK (issue 17): a rule made with
CreateRemind, a range run with RunManualDagNodes whose node fails on every date (the operator
sets each failure to success so the next date runs), the messages read with
ListAlertMessages: one message for the run however many dates fail, within AlertInterval.
Real server, engine and executor; SQLite, then PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import SHELL, FileSpec, Flow, create_flow, create_workspace, wait_for

WS = "alerting"
DATES = 30


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    create_workspace(client, WS)
    return create_flow(client, WS, "nightly", [FileSpec("load", SHELL, "echo loading; exit 4")])


def _dag_status(client: Client, dag_id: int) -> str:
    return client.get_dag(dw.GetDagRequest(dag_id=dag_id, project_env="PROD")).body.data.status


def _messages(
    client: Client, remind_id: int
) -> list[dw.ListAlertMessagesResponseBodyDataAlertMessages]:
    now = dt.datetime.now(dt.UTC)
    request = dw.ListAlertMessagesRequest(
        begin_time=(now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_time=(now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        remind_id=remind_id,
        page_number=1,
        page_size=100,
    )
    return list(client.list_alert_messages(request).body.data.alert_messages or [])


def test_a_failing_range_of_thirty_dates_raises_one_alert(client: Client, flow: Flow) -> None:
    # Given an ERROR rule on the node, mailing alice, at most 3 alerts 30 minutes apart
    body = client.create_remind(
        dw.CreateRemindRequest(
            remind_name="load fails",
            remind_unit="NODE",
            node_ids=str(flow.node_ids["load"]),
            remind_type="ERROR",
            alert_unit="OTHER",
            alert_targets="alice",
            alert_methods="MAIL",
            max_alert_times=3,
        )
    ).body
    remind_id = int(body.data)
    # When one RunManualDagNodes runs it for 30 dates, and every date fails
    first = client.run_manual_dag_nodes(
        dw.RunManualDagNodesRequest(
            project_env="PROD",
            project_name=WS,
            flow_name="nightly",
            start_biz_date="2024-03-01 00:00:00",
            end_biz_date="2024-03-30 00:00:00",
        )
    ).body.dag_id
    op_seq = client.get_dag(dw.GetDagRequest(dag_id=first, project_env="PROD")).body.data.op_seq
    dags = client.list_dags(dw.ListDagsRequest(op_seq=op_seq, project_env="PROD")).body.data.dags
    assert len(dags) == DATES
    for dag in dags:
        wait_for(lambda d=dag: _dag_status(client, d.dag_id) == "FAILURE", f"Dag {dag.dag_id}")
        (instance,) = client.get_manual_dag_instances(
            dw.GetManualDagInstancesRequest(
                project_env="PROD", project_name=WS, dag_id=str(dag.dag_id)
            )
        ).body.instances
        ok = client.set_success_instance(
            dw.SetSuccessInstanceRequest(instance_id=instance.instance_id, project_env="PROD")
        ).body
        assert ok.success
    wait_for(lambda: _dag_status(client, dags[-1].dag_id) == "SUCCESS", "the last date")
    # Then the run raised one alert: the first failure's, to alice by mail
    (message,) = _messages(client, remind_id)
    assert (message.source, message.remind_id, message.alert_method, message.alert_user) == (
        "REMIND_ALERT",
        remind_id,
        "MAIL",
        "alice",
    )
    assert message.alert_message_status == "READY_TO_SEND"
    assert [n.node_id for n in message.nodes] == [flow.node_ids["load"]]
    (failed,) = message.instances
    (first_instance,) = client.get_manual_dag_instances(
        dw.GetManualDagInstancesRequest(
            project_env="PROD", project_name=WS, dag_id=str(dags[0].dag_id)
        )
    ).body.instances
    assert failed.instance_id == first_instance.instance_id
