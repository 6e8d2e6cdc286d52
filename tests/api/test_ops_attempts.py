"""Attempts through the official SDK (issue 12): ListInstanceHistory and GetInstanceLog by
InstanceHistoryId, ErrorMessage, TaskType PAUSE, TaskRerunTime, and RestartInstance with
`UseLatestConfig` (not in the SDK's request model: sent with the SDK's generic `call_api`)."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    SHELL,
    Flow,
    assert_sdk_error,
    create_workspace,
    instance_log,
    instances_of,
    sdk_error,
    wait_for,
    wait_statuses,
)
from tests.api.sdk import call_api

WS = "att_ws"
BIZ_DATE = "2024-05-01 00:00:00"
FLAKY = 'test "$OPCENTER_ATTEMPT" -ge 2 || exit 3'  # fails once, then succeeds


@pytest.fixture(scope="module")
def workspace(client: Client) -> str:
    create_workspace(client, WS)
    return WS


def _flow(client: Client, name: str, files: list[dict[str, Any]]) -> Flow:
    """A MANUAL_BIZ workflow of shell files (each a CreateFileRequest's fields, `after` naming
    its upstream), submitted and deployed."""
    project = client.get_project(dw.GetProjectRequest(project_identifier=WS)).body.data
    business_id = client.create_business(
        dw.CreateBusinessRequest(project_identifier=WS, business_name=name, use_type="MANUAL_BIZ")
    ).body.business_id
    file_ids, node_ids = {}, {}
    for spec in files:
        fields = dict(spec)
        after = fields.pop("after", None)
        file_ids[fields["file_name"]] = client.create_file(
            dw.CreateFileRequest(
                project_identifier=WS,
                file_folder_path=f"Business Flow/{name}/nodes",
                file_type=SHELL,
                input_list=f"{WS}.{after}" if after else f"{WS}_root",
                **fields,
            )
        ).body.data
    for file_name, file_id in file_ids.items():
        _publish(client, file_id)
        got = client.get_file(dw.GetFileRequest(project_identifier=WS, file_id=file_id))
        node_ids[file_name] = got.body.data.file.node_id
    return Flow(WS, project.project_id, business_id, name, file_ids, node_ids)


def _publish(client: Client, file_id: int) -> None:
    client.submit_file(dw.SubmitFileRequest(project_identifier=WS, file_id=file_id))
    client.deploy_file(dw.DeployFileRequest(project_identifier=WS, file_id=file_id))


def _run(client: Client, flow: str) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_name=WS, flow_name=flow, biz_date=BIZ_DATE
    )
    return int(client.run_manual_dag_nodes(request).body.dag_id)


def _history(client: Client, instance_id: int, env: str | None = "PROD") -> list[Any]:
    request = dw.ListInstanceHistoryRequest(instance_id=instance_id, project_env=env)
    body = client.list_instance_history(request).body
    assert body.success is True
    return list(body.instances)


def _log(client: Client, instance_id: int, history_id: int) -> str:
    request = dw.GetInstanceLogRequest(
        instance_id=instance_id, project_env="PROD", instance_history_id=history_id
    )
    return str(client.get_instance_log(request).body.data)


def _instance(client: Client, instance_id: int) -> Any:
    request = dw.GetInstanceRequest(instance_id=instance_id, project_env="PROD")
    return client.get_instance(request).body.data


# --- ListInstanceHistory, GetInstanceLog -----------------------------------------------------


@pytest.fixture(scope="module")
def retried(client: Client, workspace: str) -> dict[str, Any]:
    """A Dag whose `flaky` instance failed once and succeeded on its automatic rerun."""
    _flow(
        client,
        "hist",
        [
            {"file_name": "flaky", "content": FLAKY, "auto_rerun_times": 1},
            {"file_name": "other", "content": "echo other"},
        ],
    )
    dag_id = _run(client, "hist")
    return wait_statuses(client, WS, dag_id, {"flaky": ("SUCCESS",), "other": ("SUCCESS",)})


def test_list_instance_history_gives_every_attempt_its_own_id(
    client: Client, retried: dict[str, Any]
) -> None:
    flaky = retried["flaky"]
    attempts = _history(client, flaky.instance_id)
    assert [(a.status, a.error_message, a.task_type) for a in attempts] == [
        ("FAILURE", "exit code 3", "MANUAL"),
        ("SUCCESS", "", "MANUAL"),
    ]
    first, second = attempts
    assert first.instance_history_id != second.instance_history_id
    for a in attempts:
        assert (a.instance_id, a.dag_id, a.node_id, a.node_name, a.dag_type) == (
            flaky.instance_id,
            flaky.dag_id,
            flaky.node_id,
            "flaky",
            "MANUAL",
        )
        assert (a.bizdate, a.cyc_time) == (flaky.biz_date, flaky.cyc_time)
        assert a.begin_running_time <= a.finish_time
    assert first.finish_time <= second.begin_running_time
    assert second.finish_time == flaky.finish_time
    # ProjectEnv is PROD when not given, as the SDK documents
    assert [a.to_map() for a in _history(client, flaky.instance_id, None)] == [
        a.to_map() for a in attempts
    ]


def test_get_instance_log_reads_each_attempt_by_its_history_id(
    client: Client, retried: dict[str, Any]
) -> None:
    flaky = retried["flaky"]
    first, second = _history(client, flaky.instance_id)
    one = _log(client, flaky.instance_id, first.instance_history_id)
    two = _log(client, flaky.instance_id, second.instance_history_id)
    assert "attempt 1" in one and "exit code 3" in one and "exit code 0" not in one
    assert "attempt 2" in two and "exit code 0" in two
    assert instance_log(client, flaky.instance_id) == two  # no id: the latest attempt


def test_get_instance_log_refuses_an_attempt_of_another_instance(
    client: Client, retried: dict[str, Any]
) -> None:
    other = retried["other"].instance_id
    foreign = _history(client, retried["flaky"].instance_id)[0].instance_history_id
    error = sdk_error(lambda: _log(client, other, foreign))
    assert_sdk_error(
        error,
        code="Invalid.InstanceHistory.NotExists",
        status=404,
        message=f"InstanceHistoryId={foreign} is not an attempt of the instance "
        f"InstanceId={other} in PROD (ListInstanceHistory lists its attempts).",
    )


def test_list_instance_history_fails_given_an_unknown_instance(client: Client) -> None:
    error = sdk_error(lambda: _history(client, 777777))
    assert_sdk_error(
        error,
        code="Invalid.Instance.NotExists",
        status=404,
        message="The instance InstanceId=777777 does not exist in PROD.",
    )


# --- ErrorMessage, TaskRerunTime, PAUSE -------------------------------------------------------


def test_error_message_says_why_an_instance_failed(client: Client, workspace: str) -> None:
    flow = _flow(
        client,
        "errs",
        [
            {"file_name": "exits", "content": "exit 4"},
            {"file_name": "sleeper", "content": "sleep 30"},
        ],
    )
    dag_id = _run(client, "errs")
    running = wait_statuses(client, WS, dag_id, {"sleeper": ("RUNNING",)})
    client.stop_instance(
        dw.StopInstanceRequest(instance_id=running["sleeper"].instance_id, project_env="PROD")
    )
    done = wait_statuses(client, WS, dag_id, {"exits": ("FAILURE",), "sleeper": ("FAILURE",)})
    expected = {"exits": "exit code 4", "sleeper": "Stopped by root."}
    for name, message in expected.items():
        # GetInstance: beside `Data` (the SDK's model has it there only), and in it
        body = client.get_instance(
            dw.GetInstanceRequest(instance_id=done[name].instance_id, project_env="PROD")
        ).body
        assert (body.success, body.error_message) == (True, message)
    listed = client.list_instances(
        dw.ListInstancesRequest(project_env="PROD", project_id=flow.project_id, dag_id=dag_id)
    ).body.data.instances
    assert {i.node_name: i.error_message for i in listed} == expected
    (attempt,) = _history(client, done["exits"].instance_id)
    assert (attempt.status, attempt.error_message) == ("FAILURE", "exit code 4")


def test_task_rerun_time_is_the_reruns_left(client: Client, retried: dict[str, Any]) -> None:
    # flaky: AutoRerunTimes 1, used once (0 left); other: no automatic rerun (empty)
    assert _instance(client, retried["flaky"].instance_id).task_rerun_time == 0
    assert _instance(client, retried["other"].instance_id).task_rerun_time is None


def test_a_succeeded_instance_has_no_error_message(client: Client, retried: dict[str, Any]) -> None:
    # (its first attempt failed: the instance's message is its latest attempt's)
    request = dw.GetInstanceRequest(instance_id=retried["flaky"].instance_id, project_env="PROD")
    assert client.get_instance(request).body.error_message is None


def test_a_suspended_instance_has_task_type_pause(client: Client, workspace: str) -> None:
    flow = _flow(
        client,
        "pause",
        [
            {"file_name": "first", "content": "sleep 30"},
            {"file_name": "next", "content": "echo next", "after": "first"},
        ],
    )
    dag_id = _run(client, "pause")
    running = wait_statuses(client, WS, dag_id, {"first": ("RUNNING",)})
    waiting = running["next"].instance_id
    client.suspend_instance(dw.SuspendInstanceRequest(instance_id=waiting, project_env="PROD"))
    got = _instance(client, waiting)
    assert (got.status, got.task_type) == ("NOT_RUN", "PAUSE")
    assert instances_of(client, WS, dag_id)["next"].task_type == "PAUSE"
    listed = client.list_instances(
        dw.ListInstancesRequest(project_env="PROD", project_id=flow.project_id, dag_id=dag_id)
    ).body.data.instances
    assert {i.node_name: i.task_type for i in listed} == {"first": "MANUAL", "next": "PAUSE"}
    client.resume_instance(dw.ResumeInstanceRequest(instance_id=waiting, project_env="PROD"))
    assert _instance(client, waiting).task_type == "MANUAL"
    client.stop_instance(
        dw.StopInstanceRequest(instance_id=running["first"].instance_id, project_env="PROD")
    )


# --- RestartInstance UseLatestConfig ----------------------------------------------------------


def _restart(client: Client, instance_id: int, **extra: str) -> dict[str, Any]:
    body = {"InstanceId": instance_id, "ProjectEnv": "PROD", **extra}
    return call_api(client, "RestartInstance", body=body)["body"]


def test_restart_instance_use_latest_config_runs_the_latest_deployed_version(
    client: Client, workspace: str
) -> None:
    # Given an instance that failed in version 1
    flow = _flow(
        client, "latest", [{"file_name": "fix", "content": "exit 1", "para_value": "p=one"}]
    )
    dag_id = _run(client, "latest")
    failed = wait_statuses(client, WS, dag_id, {"fix": ("FAILURE",)})["fix"]
    assert "Code: file fix version 1 " in instance_log(client, failed.instance_id)
    # When the file is fixed and deployed as version 2
    client.update_file(
        dw.UpdateFileRequest(
            project_identifier=WS,
            file_id=flow.file_ids["fix"],
            content='echo "fixed ${p}"',
            para_value="p=two",
        )
    )
    _publish(client, flow.file_ids["fix"])
    # Then RestartInstance runs version 1 again
    client.restart_instance(
        dw.RestartInstanceRequest(instance_id=failed.instance_id, project_env="PROD")
    )
    wait_for(lambda: len(_history(client, failed.instance_id)) == 2, "the plain rerun")
    again = wait_statuses(client, WS, dag_id, {"fix": ("FAILURE",)})["fix"]
    assert "Code: file fix version 1 " in instance_log(client, again.instance_id)
    # and with UseLatestConfig=true it runs version 2, with version 2's parameters
    assert _restart(client, failed.instance_id, UseLatestConfig="true")["Data"] is True
    fixed = wait_statuses(client, WS, dag_id, {"fix": ("SUCCESS",)})["fix"]
    log = instance_log(client, fixed.instance_id)
    assert "Code: file fix version 2 " in log and "fixed two" in log
    assert _instance(client, fixed.instance_id).param_values == "p=two"


def test_restart_instance_fails_given_a_use_latest_config_not_boolean(
    client: Client, retried: dict[str, Any]
) -> None:
    error = sdk_error(lambda: _restart(client, retried["flaky"].instance_id, UseLatestConfig="yes"))
    assert_sdk_error(
        error,
        code="InvalidParameter.Format",
        status=400,
        message='The specified value of parameter "UseLatestConfig" is not valid: "yes" is not '
        "true or false.",
    )
