"""The whole journey of a DataWorks user, through `alibabacloud-dataworks-public20200518` only:
author a manually triggered workflow, deploy it, run it for a range of business dates with
node and workflow parameters and a node selection, and operate its instances until every Dag
has succeeded.

    start (virtual) ──► shell_load (Shell) ──┐
                   ├──► py_calc (Python) ────┼──► sql_sum (SQL) ──► done (virtual)
                   ├──► flaky (Shell) fails on its first attempt, succeeds when rerun
                   └──► slow (Shell) sleeps on the first date only
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    FINISHED,
    PYTHON,
    SHELL,
    SQL,
    VIRTUAL,
    FileSpec,
    Flow,
    create_flow,
    create_workspace,
    instance_log,
    instances_of,
    wait_for,
    wait_statuses,
)

WS = "journey"
FLOW = "daily_sales"
SLOW_SECONDS = 60


def _files(marker: Path) -> list[FileSpec]:
    return [
        FileSpec("start", VIRTUAL),
        FileSpec(
            "shell_load",
            SHELL,
            'echo "shell bizdate=$1 previous=$2 tag=${tag} region=${region}"',
            "$bizdate ${yyyymmdd-1} tag=alpha",
            ["start"],
        ),
        FileSpec(
            "py_calc", PYTHON, "import sys\nprint('python', sys.argv[1:])", "$bizdate", ["start"]
        ),
        FileSpec(
            "sql_sum",
            SQL,
            "select '${day}' as day, '${region}' as region;",
            "day=$bizdate",
            ["shell_load", "py_calc"],
        ),
        FileSpec("done", VIRTUAL, inputs=["sql_sum"]),
        FileSpec(
            "flaky",
            SHELL,
            f'if [ -e "{marker}" ]; then echo "second try"; else touch "{marker}"; '
            'echo "first try fails"; exit 3; fi',
            inputs=["start"],
        ),
        FileSpec(
            "slow",
            SHELL,
            f'if [ "$1" = "20240101" ]; then echo "sleeping"; sleep {SLOW_SECONDS}; fi; echo awake',
            "$bizdate",
            ["start"],
        ),
    ]


@pytest.fixture(scope="module")
def flow(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    create_workspace(client, WS)
    marker = tmp_path_factory.mktemp("flaky") / "tried"
    return create_flow(client, WS, FLOW, _files(marker))


def _run(client: Client, flow: Flow) -> int:
    ids = flow.node_ids
    included = [ids[n] for n in ("start", "shell_load", "py_calc", "sql_sum", "flaky", "slow")]
    request = dw.RunManualDagNodesRequest(
        project_env="PROD",
        project_name=WS,
        flow_name=FLOW,
        start_biz_date="2024-01-01 00:00:00",
        end_biz_date="2024-01-02 00:00:00",
        node_parameters=json.dumps({str(ids["shell_load"]): "tag=beta"}),
        dag_parameters=json.dumps({"region": "cn-shanghai"}),
        include_node_ids=",".join(str(i) for i in included),
        exclude_node_ids=str(ids["py_calc"]),
    )
    return client.run_manual_dag_nodes(request).body.dag_id


def _act(client: Client, method: str, instance_id: int) -> bool:
    request_class = getattr(dw, f"{method}Request")
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in method).lstrip("_")
    body = getattr(client, snake)(request_class(instance_id=instance_id, project_env="PROD")).body
    assert (body.success, body.http_status_code) == (True, 200)
    return bool(body.data)


def test_a_manual_workflow_runs_end_to_end_through_the_sdk(client: Client, flow: Flow) -> None:
    # Given the deployed workflow, when it is run for 2024-01-01..2024-01-02
    first_dag = _run(client, flow)
    dag = client.get_dag(dw.GetDagRequest(dag_id=first_dag, project_env="PROD")).body.data
    dags = client.list_dags(dw.ListDagsRequest(op_seq=dag.op_seq, project_env="PROD")).body.data
    assert [d.bizdate for d in dags.dags] == [1704067200000, 1704153600000]
    assert (dags.dags[0].dag_id, dag.type, dag.name, dag.project_id) == (
        first_dag,
        "MANUAL",
        FLOW,
        flow.project_id,
    )
    second_dag = dags.dags[1].dag_id

    # Then every node has an instance with its selection's TaskType
    first = instances_of(client, WS, first_dag)
    assert {n: i.task_type for n, i in first.items()} == {
        "start": "MANUAL",
        "shell_load": "MANUAL",
        "py_calc": "SKIP",
        "sql_sum": "MANUAL",
        "done": "SKIP_UNCHOOSE",
        "flaky": "MANUAL",
        "slow": "MANUAL",
    }
    assert (first["start"].biz_date, first["start"].cyc_time) == (1704067200000, 1704153600000)
    assert first["start"].dag_type == "MANUAL"

    # And the second date waits while the first runs: an instance there can be suspended
    second = instances_of(client, WS, second_dag)
    assert _act(client, "SuspendInstance", second["done"].instance_id)

    # When the first date's nodes have run
    first = wait_statuses(
        client,
        WS,
        first_dag,
        {
            "sql_sum": FINISHED,
            "done": FINISHED,
            "flaky": ("FAILURE",),
            "slow": ("RUNNING",),
        },
    )
    # Then the logs hold the rendered parameter values (NodeParameters over the node's own,
    # DagParameters visible to every node)
    shell_log = instance_log(client, first["shell_load"].instance_id)
    assert "shell bizdate=20240101 previous=20231231 tag=beta region=cn-shanghai" in shell_log
    assert first["shell_load"].param_values == "20240101 20231231 tag=beta region=cn-shanghai"
    sql_log = instance_log(client, first["sql_sum"].instance_id).split("\n")
    assert "20240101 | cn-shanghai" in sql_log  # the SQL's own result row, not the log header
    assert first["py_calc"].status == "SUCCESS"  # a dry run
    assert "first try fails" in instance_log(client, first["flaky"].instance_id)

    # When the failed instance is rerun, and the long one is stopped and then set successful
    assert _act(client, "RestartInstance", first["flaky"].instance_id)
    assert _act(client, "StopInstance", first["slow"].instance_id)
    wait_statuses(client, WS, first_dag, {"flaky": ("SUCCESS",), "slow": ("FAILURE",)})
    stopped = client.get_instance(
        dw.GetInstanceRequest(instance_id=first["slow"].instance_id, project_env="PROD")
    ).body.data
    assert (stopped.status, stopped.node_id) == ("FAILURE", flow.node_ids["slow"])
    assert "Stopped by root" in wait_for(
        lambda: (log := instance_log(client, stopped.instance_id)) and "Stopped by" in log and log,
        "the stop line in the log",
    )
    assert _act(client, "SetSuccessInstance", first["slow"].instance_id)
    assert "second try" in instance_log(client, first["flaky"].instance_id)

    # Then the first Dag succeeds and the second date runs — once its suspended
    # instance is resumed
    wait_for(
        lambda: client.get_dag(
            dw.GetDagRequest(dag_id=first_dag, project_env="PROD")
        ).body.data.status
        == "SUCCESS",
        "the first Dag to succeed",
    )
    wait_statuses(client, WS, second_dag, {"sql_sum": ("SUCCESS",), "slow": ("SUCCESS",)})
    assert instances_of(client, WS, second_dag)["done"].status == "NOT_RUN"
    assert _act(client, "ResumeInstance", second["done"].instance_id)
    wait_for(
        lambda: client.get_dag(
            dw.GetDagRequest(dag_id=second_dag, project_env="PROD")
        ).body.data.status
        == "SUCCESS",
        "the second Dag to succeed",
    )
    second_shell = instance_log(client, second["shell_load"].instance_id)
    assert "shell bizdate=20240102 previous=20240101 tag=beta region=cn-shanghai" in second_shell

    # And the Operation Center counts and lists what ran
    counts = client.get_instance_status_count(
        dw.GetInstanceStatusCountRequest(
            project_env="PROD", project_id=flow.project_id, biz_date="2024-01-01 00:00:00"
        )
    ).body.status_count
    assert (counts.total_count, counts.success_count, counts.failure_count) == (7, 7, 0)
    listed = client.list_instances(
        dw.ListInstancesRequest(
            project_env="PROD", project_id=flow.project_id, dag_id=second_dag, page_size=100
        )
    ).body.data
    assert listed.total_count == 7
    assert {i.status for i in listed.instances} == {"SUCCESS"}
