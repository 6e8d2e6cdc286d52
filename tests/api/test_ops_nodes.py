"""GetNode, ListNodes, GetNodeCode, GetNodeParents and GetNodeChildren through the SDK."""

from __future__ import annotations

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    PYTHON,
    SHELL,
    VIRTUAL,
    FileSpec,
    Flow,
    assert_sdk_error,
    create_flow,
    create_workspace,
    sdk_error,
)

WS = "node_ws"


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    # start ──► left (Shell) ──► join (Python)
    #      └──► right (Shell) ──┘
    create_workspace(client, WS)
    return create_flow(
        client,
        WS,
        "node_flow",
        [
            FileSpec("start", VIRTUAL),
            FileSpec("left", SHELL, "echo left", "x=1", ["start"]),
            FileSpec("right", SHELL, "echo right", inputs=["start"]),
            FileSpec("join", PYTHON, "print('join')", inputs=["left", "right"]),
        ],
    )


def test_get_node_describes_the_deployed_node(client: Client, flow: Flow) -> None:
    body = client.get_node(dw.GetNodeRequest(node_id=flow.node_ids["left"], project_env="PROD"))
    data = body.body.data
    assert (body.body.success, body.body.http_status_code) == (True, 200)
    assert (data.node_id, data.node_name, data.project_id) == (
        flow.node_ids["left"],
        "left",
        flow.project_id,
    )
    assert (data.file_id, data.file_version, data.file_type, data.program_type) == (
        flow.file_ids["left"],
        1,
        SHELL,
        "DIDE_SHELL",
    )
    assert (data.business_id, data.scheduler_type, data.param_values) == (
        flow.business_id,
        "MANUAL",
        "x=1",
    )
    assert (data.repeatability, data.repeat_mode, data.owner_id) == ("true", 1, "root")
    assert isinstance(data.deploy_date, int)


def test_get_node_code_returns_the_deployed_code(client: Client, flow: Flow) -> None:
    body = client.get_node_code(
        dw.GetNodeCodeRequest(node_id=flow.node_ids["join"], project_env="DEV")
    ).body
    assert (body.success, body.data) == (True, "print('join')")


def test_get_node_parents_and_children_follow_the_workflow_edges(
    client: Client, flow: Flow
) -> None:
    ids = flow.node_ids
    parents = client.get_node_parents(
        dw.GetNodeParentsRequest(node_id=ids["join"], project_env="PROD")
    ).body.data.nodes
    children = client.get_node_children(
        dw.GetNodeChildrenRequest(node_id=ids["start"], project_env="PROD")
    ).body.data.nodes
    assert [(n.node_id, n.node_name, n.step_type) for n in parents] == [
        (ids["left"], "left", "0"),
        (ids["right"], "right", "0"),
    ]
    assert [n.node_name for n in children] == ["left", "right"]
    assert (children[0].program_type, children[0].repeatability) == ("DIDE_SHELL", True)


def test_list_nodes_filters_by_workflow_and_type(client: Client, flow: Flow) -> None:
    body = client.list_nodes(
        dw.ListNodesRequest(
            project_id=flow.project_id,
            project_env="PROD",
            biz_name="node_flow",
            program_type="DIDE_SHELL",
        )
    ).body
    assert (body.data.total_count, body.data.page_number, body.data.page_size) == (2, 1, 10)
    assert [n.node_name for n in body.data.nodes] == ["left", "right"]
    assert body.data.nodes[0].repeatability is True


def test_get_node_fails_given_an_unknown_node(client: Client, flow: Flow) -> None:
    error = sdk_error(
        lambda: client.get_node(dw.GetNodeRequest(node_id=987654, project_env="PROD"))
    )
    assert_sdk_error(
        error,
        code="Invalid.Node.NotExists",
        status=404,
        message="The node NodeId=987654 does not exist.",
    )


def test_get_node_fails_given_no_project_env(client: Client, flow: Flow) -> None:
    error = sdk_error(lambda: client.get_node(dw.GetNodeRequest(node_id=flow.node_ids["left"])))
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "ProjectEnv" that is mandatory for processing this request '
        "is not supplied.",
    )


def test_get_node_fails_given_dev_of_a_basic_workspace(client: Client) -> None:
    create_workspace(client, "node_basic", mode=2)
    basic = create_flow(
        client, "node_basic", "basic_flow", [FileSpec("only", SHELL, "echo")], deploy=False
    )
    request = dw.GetNodeRequest(node_id=basic.node_ids["only"], project_env="DEV")
    error = sdk_error(lambda: client.get_node(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="ProjectEnv='DEV' is not available: workspace 'node_basic' is in basic mode, "
        "which has PROD only.",
    )


def test_get_node_fails_given_a_node_only_submitted(client: Client, flow: Flow) -> None:
    create_workspace(client, "node_dev_only")
    dev_only = create_flow(
        client, "node_dev_only", "dev_flow", [FileSpec("draft", SHELL, "echo")], deploy=False
    )
    node_id = dev_only.node_ids["draft"]
    error = sdk_error(
        lambda: client.get_node(dw.GetNodeRequest(node_id=node_id, project_env="PROD"))
    )
    assert_sdk_error(
        error,
        code="Invalid.Node.NotExists",
        status=404,
        message=f"The node NodeId={node_id} does not exist in ProjectEnv='PROD'.",
    )
