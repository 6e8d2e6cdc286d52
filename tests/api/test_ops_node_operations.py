"""ListNodeIO, ListNodeInputOrOutput, OfflineNode, UpdateNodeOwner, GetProjectDetail, GetProject's
rerun defaults and the route to workflow parameters, through the official SDK against a live
server (and aliyun-python-sdk-core where its raw answer is the point)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from aliyunsdkdataworks_public.request.v20200518.GetBusinessRequest import GetBusinessRequest
from darabonba.runtime import RuntimeOptions

from opcenter.service import iam
from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    FileSpec,
    Flow,
    Live,
    assert_sdk_error,
    create_flow,
    create_workspace,
    instances_of,
    sdk_error,
    wait_statuses,
)
from tests.api.sdk import acs_client, aimed, call_api

WS = "nodeops_ws"
MISSING = 'The input parameter "{}" that is mandatory for processing this request is not supplied.'


def _diamond(client: Client, name: str) -> Flow:
    # start ──► left (Shell) ──► join
    #      └──► right (Shell) ─┘
    return create_flow(
        client,
        WS,
        name,
        [
            FileSpec(f"{name}_start", VIRTUAL),
            FileSpec(f"{name}_left", SHELL, "echo left", inputs=[f"{name}_start"]),
            FileSpec(f"{name}_right", SHELL, "echo right", inputs=[f"{name}_start"]),
            FileSpec(f"{name}_join", VIRTUAL, inputs=[f"{name}_left", f"{name}_right"]),
        ],
    )


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    create_workspace(client, WS)
    return create_flow(
        client,
        WS,
        "io",
        [
            FileSpec("start", VIRTUAL),
            FileSpec("left", SHELL, "echo left", inputs=["start"]),
            FileSpec("right", SHELL, "echo right", inputs=["start"]),
            FileSpec("join", VIRTUAL, inputs=["left", "right"]),
        ],
    )


# --- ListNodeIO / ListNodeInputOrOutput ---------------------------------------------------------


def _io(client: Client, operation: str, node_id: int, io_type: str) -> list[dict[str, Any]]:
    if operation == "ListNodeIO":
        body: Any = client.list_node_io(
            dw.ListNodeIORequest(node_id=node_id, project_env="PROD", io_type=io_type)
        ).body
    else:
        body = client.list_node_input_or_output(
            dw.ListNodeInputOrOutputRequest(node_id=node_id, project_env="PROD", io_type=io_type)
        ).body
    assert (body.success, body.http_status_code) == (True, 200)
    return [item.to_map() for item in body.data]


@pytest.mark.parametrize("operation", ["ListNodeIO", "ListNodeInputOrOutput"])
def test_node_io_lists_the_inputs_with_their_producers_and_the_outputs_with_their_consumers(
    client: Client, flow: Flow, operation: str
) -> None:
    ids = flow.node_ids
    assert _io(client, operation, ids["join"], "input") == [
        {"Data": f"{WS}.left", "NodeId": ids["left"], "TableName": ""},
        {"Data": f"{WS}.right", "NodeId": ids["right"], "TableName": ""},
    ]
    assert _io(client, operation, ids["start"], "output") == [
        {"Data": f"{WS}.start", "NodeId": ids["left"], "TableName": ""},
        {"Data": f"{WS}.start", "NodeId": ids["right"], "TableName": ""},
    ]
    # the workspace root produces start's input and nobody consumes join's output: no NodeId
    assert _io(client, operation, ids["start"], "input") == [
        {"Data": f"{WS}_root", "TableName": ""}
    ]
    assert _io(client, operation, ids["join"], "output") == [
        {"Data": f"{WS}.join", "TableName": ""}
    ]


@pytest.mark.parametrize(
    ("fields", "code", "status", "message"),
    [
        ({"io_type": None}, "MissingParameter", 400, MISSING.format("IoType")),
        ({"io_type": "up"}, "InvalidParameter", 400, "IoType='up' is not one of input, output."),
        ({"project_env": None}, "MissingParameter", 400, MISSING.format("ProjectEnv")),
        (
            {"node_id": 987654},
            "Invalid.Node.NotExists",
            404,
            "The node NodeId=987654 does not exist.",
        ),
    ],
    ids=["no-io-type", "bad-io-type", "no-env", "no-node"],
)
def test_node_io_fails_given_a_bad_request(
    client: Client, flow: Flow, fields: dict[str, Any], code: str, status: int, message: str
) -> None:
    values: dict[str, Any] = {
        "node_id": flow.node_ids["left"],
        "project_env": "PROD",
        "io_type": "input",
    }
    values.update(fields)
    request = dw.ListNodeIORequest(**{k: v for k, v in values.items() if v is not None})
    assert_sdk_error(
        sdk_error(lambda: client.list_node_io(request)), code=code, status=status, message=message
    )


# --- OfflineNode --------------------------------------------------------------------------------


def _get_node(client: Client, node_id: int, env: str = "PROD") -> Any:
    return client.get_node(dw.GetNodeRequest(node_id=node_id, project_env=env)).body.data


def _run(client: Client, flow: Flow, **fields: Any) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD",
        project_name=WS,
        flow_name=flow.name,
        biz_date="2024-05-01 00:00:00",
        **fields,
    )
    return client.run_manual_dag_nodes(request).body.dag_id


def test_an_offline_node_dry_runs_in_new_runs_until_it_is_deployed_again(client: Client) -> None:
    flow = _diamond(client, "off")
    left = flow.node_ids["off_left"]
    # When the left node is taken offline (in PROD: the SDK's request names no environment)
    offline = client.offline_node(dw.OfflineNodeRequest(node_id=left, project_id=flow.project_id))
    assert offline.body.success is True
    # Then PROD shows it as a dry-run node, DEV as it was
    assert (
        _get_node(client, left).scheduler_type,
        _get_node(client, left, "DEV").scheduler_type,
    ) == (
        "SKIP",
        "MANUAL",
    )
    skipped = client.list_nodes(
        dw.ListNodesRequest(
            project_id=flow.project_id, project_env="PROD", biz_name="off", scheduler_type="SKIP"
        )
    ).body.data
    assert [n.node_name for n in skipped.nodes] == ["off_left"]
    # and a run dry-runs it while the rest runs
    dag_id = _run(client, flow)
    done = wait_statuses(client, WS, dag_id, {"off_join": ("SUCCESS",)})
    assert {name: i.task_type for name, i in done.items()} == {
        "off_start": "MANUAL",
        "off_left": "SKIP",
        "off_right": "MANUAL",
        "off_join": "MANUAL",
    }
    # a run that names it in IncludeNodeIds is refused
    error = sdk_error(lambda: _run(client, flow, include_node_ids=str(left)))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message=f"IncludeNodeIds: node {left} ('off_left') is offline in PROD; deploy it again "
        "to run it.",
    )
    # When it is deployed again, it is back
    client.deploy_file(dw.DeployFileRequest(project_identifier=WS, node_id=left))
    assert _get_node(client, left).scheduler_type == "MANUAL"
    again = _run(client, flow, include_node_ids=str(left))
    assert instances_of(client, WS, again)["off_left"].task_type == "MANUAL"


def test_offline_node_takes_opcenters_project_env_for_dev(client: Client) -> None:
    flow = _diamond(client, "offdev")
    left = flow.node_ids["offdev_left"]
    answer = call_api(
        client,
        "OfflineNode",
        body={"NodeId": left, "ProjectId": flow.project_id, "ProjectEnv": "DEV"},
    )
    assert answer["body"]["Success"] is True
    assert (
        _get_node(client, left, "DEV").scheduler_type,
        _get_node(client, left).scheduler_type,
    ) == (
        "SKIP",
        "MANUAL",
    )
    raw = call_api(client, "GetNode", body={"NodeId": left, "ProjectEnv": "DEV"})["body"]["Data"]
    assert isinstance(raw["OfflineTime"], int)  # opcenter's own field, beside the SDK's


@pytest.mark.parametrize(
    ("fields", "code", "status", "message"),
    [
        ({"project_id": None}, "MissingParameter", 400, MISSING.format("ProjectId")),
        ({"node_id": None}, "MissingParameter", 400, MISSING.format("NodeId")),
        (
            {"node_id": 987654},
            "Invalid.Node.NotExists",
            404,
            "The node NodeId=987654 does not exist.",
        ),
    ],
    ids=["no-project", "no-node", "unknown-node"],
)
def test_offline_node_fails_given_a_bad_request(
    client: Client, flow: Flow, fields: dict[str, Any], code: str, status: int, message: str
) -> None:
    values: dict[str, Any] = {"node_id": flow.node_ids["left"], "project_id": flow.project_id}
    values.update(fields)
    request = dw.OfflineNodeRequest(**{k: v for k, v in values.items() if v is not None})
    assert_sdk_error(
        sdk_error(lambda: client.offline_node(request)), code=code, status=status, message=message
    )
    assert _get_node(client, flow.node_ids["left"]).scheduler_type == "MANUAL"


# --- UpdateNodeOwner ----------------------------------------------------------------------------


def test_update_node_owner_makes_the_ram_user_the_owner_of_the_node_and_its_file(
    live: Live, client: Client, flow: Flow
) -> None:
    bob = iam.create_user(live.ctx, user_name="bob_owner")
    node_id = flow.node_ids["right"]
    answer = client.update_node_owner(
        dw.UpdateNodeOwnerRequest(node_id=node_id, project_env="PROD", user_id=bob.uid)
    ).body
    assert answer.success is True
    assert (_get_node(client, node_id).owner_id, _get_node(client, node_id, "DEV").owner_id) == (
        "bob_owner",
        "bob_owner",
    )
    got = client.get_file(dw.GetFileRequest(project_identifier=WS, node_id=node_id)).body.data
    assert (got.file.owner, got.file.commit_status) == ("bob_owner", 1)


@pytest.mark.parametrize(
    ("fields", "code", "status", "message"),
    [
        ({"user_id": None}, "MissingParameter", 400, MISSING.format("UserId")),
        (
            {"user_id": "nobody"},
            "Invalid.User.NotExists",
            404,
            "UserId='nobody' is neither the account nor a RAM user.",
        ),
        (
            {"project_env": "TEST"},
            "InvalidParameter",
            400,
            "ProjectEnv='TEST' is not one of DEV, PROD.",
        ),
        (
            {"node_id": 987654},
            "Invalid.Node.NotExists",
            404,
            "The node NodeId=987654 does not exist.",
        ),
    ],
    ids=["no-user", "unknown-user", "bad-env", "unknown-node"],
)
def test_update_node_owner_fails_given_a_bad_request(
    client: Client, flow: Flow, fields: dict[str, Any], code: str, status: int, message: str
) -> None:
    values: dict[str, Any] = {
        "node_id": flow.node_ids["left"],
        "project_env": "PROD",
        "user_id": "root",
    }
    values.update(fields)
    request = dw.UpdateNodeOwnerRequest(**{k: v for k, v in values.items() if v is not None})
    assert_sdk_error(
        sdk_error(lambda: client.update_node_owner(request)),
        code=code,
        status=status,
        message=message,
    )


# --- GetProject, GetProjectDetail ---------------------------------------------------------------


def test_get_project_gives_the_rerun_defaults_a_new_file_gets(client: Client, flow: Flow) -> None:
    project = client.get_project(dw.GetProjectRequest(project_id=flow.project_id)).body.data
    # a file created without AutoRerunTimes / AutoRerunIntervalMillis gets them
    created = client.get_file(
        dw.GetFileRequest(project_identifier=WS, file_id=flow.file_ids["left"])
    ).body.data.node_configuration
    assert (project.scheduler_max_retry_times, project.scheduler_retry_interval) == (
        created.auto_rerun_times,
        created.auto_rerun_interval_millis,
    )
    assert (project.scheduler_max_retry_times, project.scheduler_retry_interval) == (0, 0)


def test_get_project_detail_answers_the_fields_of_get_project(client: Client, flow: Flow) -> None:
    detail = client.get_project_detail(dw.GetProjectDetailRequest(project_id=flow.project_id)).body
    project = client.get_project(dw.GetProjectRequest(project_id=flow.project_id)).body
    assert (detail.success, detail.http_status_code) == (True, 200)
    shared = {k: v for k, v in project.data.to_map().items() if k in detail.data.to_map()}
    assert detail.data.to_map() == shared
    assert (detail.data.project_identifier, detail.data.env_types) == (WS, ["DEV", "PROD"])
    assert (detail.data.scheduler_max_retry_times, detail.data.scheduler_retry_interval) == (0, 0)


@pytest.mark.parametrize(
    ("project_id", "code", "status", "message"),
    [
        (None, "MissingParameter", 400, MISSING.format("ProjectId")),
        (
            987654,
            "Invalid.Project.NotExists",
            404,
            "The workspace ProjectId=987654 does not exist.",
        ),
    ],
    ids=["no-project", "unknown-project"],
)
def test_get_project_detail_fails_given_no_or_an_unknown_project(
    client: Client, project_id: int | None, code: str, status: int, message: str
) -> None:
    request = dw.GetProjectDetailRequest(project_id=project_id)
    assert_sdk_error(
        sdk_error(lambda: client.get_project_detail(request)),
        code=code,
        status=status,
        message=message,
    )


# --- workflow parameters: the SDK's GetBusiness model drops them --------------------------------


def test_workflow_parameters_are_read_from_get_business_raw_answer(
    live: Live, client: Client, flow: Flow
) -> None:
    call_api(
        client,
        "UpdateBusiness",
        body={"ProjectIdentifier": WS, "BusinessId": flow.business_id, "Parameters": "region=eu"},
    )
    # the model has no field for them
    model = client.get_business(
        dw.GetBusinessRequest(project_identifier=WS, business_id=flow.business_id)
    ).body.data
    assert "Parameters" not in model.to_map()
    # the route docs/api.md gives: the SDK's generic call_api keeps the whole answer
    params = open_api_util_models.Params(
        action="GetBusiness",
        version="2020-05-18",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(
        body={"ProjectIdentifier": WS, "BusinessId": flow.business_id}
    )
    answer = client.call_api(params, request, RuntimeOptions())
    assert answer["body"]["Data"]["Parameters"] == "region=eu"
    # and aliyun-python-sdk-core returns the raw JSON
    legacy = aimed(GetBusinessRequest())
    legacy.set_ProjectIdentifier(WS)
    legacy.set_BusinessId(flow.business_id)
    raw = json.loads(acs_client(live).do_action_with_exception(legacy))  # type: ignore[arg-type]
    assert raw["Data"]["Parameters"] == "region=eu"
