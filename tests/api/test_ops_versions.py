"""ListFileVersions, GetFileVersion, ListDeployments and GetDeployment's CheckingStatus through
the official SDK against a live server."""

from __future__ import annotations

import json

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import SHELL, Live, assert_sdk_error, create_workspace, sdk_error
from tests.api.sdk import call_api

WS = "version_ws"
OTHER = "version_other"
FLOW = "version_flow"


@pytest.fixture(scope="module")
def client(live: Live) -> Client:
    sdk = live.client()
    for ws in (WS, OTHER):
        create_workspace(sdk, ws)
        sdk.create_business(dw.CreateBusinessRequest(project_identifier=ws, business_name=FLOW))
    return sdk


@pytest.fixture(scope="module")
def history(client: Client) -> dict[str, int]:
    """File `load`: v1 deployed, v2 deployed (PROD runs it), v3 submitted; then file `gone`
    submitted and deleted. Returns the ids: file, and each deployment by name."""
    file_id = client.create_file(
        dw.CreateFileRequest(
            project_identifier=WS,
            file_folder_path=f"Business Flow/{FLOW}",
            file_name="load",
            file_type=SHELL,
            content="echo 1\n",
            input_list=f"{WS}_root",
            para_value="a=1",
            auto_rerun_times=2,
        )
    ).body.data
    ids = {"file": file_id}

    def submit(comment: str) -> None:
        request = dw.SubmitFileRequest(project_identifier=WS, file_id=file_id, comment=comment)
        ids[f"submit {comment}"] = client.submit_file(request).body.data

    def deploy(name: str) -> None:
        request = dw.DeployFileRequest(project_identifier=WS, file_id=file_id)
        ids[name] = client.deploy_file(request).body.data

    def edit(content: str) -> None:
        request = dw.UpdateFileRequest(project_identifier=WS, file_id=file_id, content=content)
        client.update_file(request)

    submit("v1")
    deploy("deploy v1")
    edit("echo 2\n")
    submit("v2")
    deploy("deploy v2")
    edit("echo 3\n")
    submit("v3")
    gone = client.create_file(
        dw.CreateFileRequest(
            project_identifier=WS,
            file_folder_path=f"Business Flow/{FLOW}",
            file_name="gone",
            file_type=SHELL,
            input_list=f"{WS}_root",
        )
    ).body.data
    ids["submit gone"] = client.submit_file(
        dw.SubmitFileRequest(project_identifier=WS, file_id=gone)
    ).body.data
    ids["delete"] = client.delete_file(
        dw.DeleteFileRequest(project_identifier=WS, file_id=gone)
    ).body.deployment_id
    return ids


def _versions(client: Client, file_id: int, **paging: int) -> dw.ListFileVersionsResponseBody:
    request = dw.ListFileVersionsRequest(project_identifier=WS, file_id=file_id, **paging)
    return client.list_file_versions(request).body


def test_list_file_versions_lists_every_version_newest_first(
    client: Client, history: dict[str, int]
) -> None:
    body = _versions(client, history["file"])
    assert (body.success, body.http_status_code) == (True, 200)
    data = body.data
    assert (data.page_number, data.page_size, data.total_count) == (1, 10, 3)
    assert [
        (v.file_version, v.status, v.is_current_prod, v.change_type, v.comment, v.file_content)
        for v in data.file_versions
    ] == [
        (3, "COMMITTED", False, "UPDATE", "v3", "echo 3\n"),
        (2, "DEPLOYED", True, "UPDATE", "v2", "echo 2\n"),
        (1, "DEPLOYED", False, "CREATE", "v1", "echo 1\n"),
    ]
    first = data.file_versions[-1]
    node_id = client.get_file(
        dw.GetFileRequest(project_identifier=WS, file_id=history["file"])
    ).body.data.file.node_id
    assert (first.file_name, first.node_id, first.commit_user, first.use_type) == (
        "load",
        node_id,
        "root",
        "MANUAL_BIZ",
    )
    assert isinstance(first.commit_time, int) and first.commit_time > 0


def test_list_file_versions_pages(client: Client, history: dict[str, int]) -> None:
    data = _versions(client, history["file"], page_number=2, page_size=2).data
    assert [v.file_version for v in data.file_versions] == [1]
    assert (data.page_number, data.page_size, data.total_count) == (2, 2, 3)


def test_get_file_version_shows_the_version_with_its_properties_and_node_settings(
    client: Client, history: dict[str, int]
) -> None:
    body = client.get_file_version(
        dw.GetFileVersionRequest(project_identifier=WS, file_id=history["file"], file_version=2)
    ).body
    assert (body.success, body.http_status_code) == (True, 200)
    got = body.data
    listed = _versions(client, history["file"]).data.file_versions[1]
    assert got.to_map() == listed.to_map()
    assert json.loads(got.file_property_content) == {
        "fileName": "load",
        "fileType": SHELL,
        "fileDescription": "",
        "owner": "root",
        "businessId": client.list_business(dw.ListBusinessRequest(project_identifier=WS))
        .body.data.business[0]
        .business_id,
        "businessName": FLOW,
    }
    assert json.loads(got.node_content) == {
        "paraValue": "a=1",
        "inputList": [f"{WS}_root"],
        "outputList": [f"{WS}.load"],
        "rerunMode": "ALL_ALLOWED",
        "autoRerunTimes": 2,
        "autoRerunIntervalMillis": 0,
        "timeout": 0,
        "schedulerType": "MANUAL",
        "priority": 1,
        "dependentType": "NONE",
        "dependentNodeIdList": "",
    }


def test_get_file_version_fails_given_a_version_the_file_does_not_have(
    client: Client, history: dict[str, int]
) -> None:
    request = dw.GetFileVersionRequest(
        project_identifier=WS, file_id=history["file"], file_version=9
    )
    error = sdk_error(lambda: client.get_file_version(request))
    assert_sdk_error(
        error,
        code="Invalid.FileVersion.NotExists",
        status=404,
        message=f"The file FileId={history['file']} ('load') has no version FileVersion=9.",
    )


def test_get_file_version_fails_given_no_version(client: Client, history: dict[str, int]) -> None:
    request = dw.GetFileVersionRequest(project_identifier=WS, file_id=history["file"])
    error = sdk_error(lambda: client.get_file_version(request))
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "FileVersion" that is mandatory for processing this '
        "request is not supplied.",
    )


def _deployments(client: Client, **filters: object) -> dw.ListDeploymentsResponseBodyData:
    request = dw.ListDeploymentsRequest(project_identifier=WS, **filters)
    return client.list_deployments(request).body.data


def test_list_deployments_lists_the_history_of_the_workspace_newest_first(
    client: Client, history: dict[str, int]
) -> None:
    data = _deployments(client)
    assert [(d.id, d.name) for d in data.deployments] == [
        (history["delete"], "delete gone"),
        (history["submit gone"], "submit gone v1"),
        (history["submit v3"], "submit load v3"),
        (history["deploy v2"], "deploy load v2"),
        (history["submit v2"], "submit load v2"),
        (history["deploy v1"], "deploy load v1"),
        (history["submit v1"], "submit load v1"),
    ]
    assert (data.page_number, data.page_size, data.total_count) == (1, 10, 7)
    last = data.deployments[-1]
    assert (last.status, last.creator, last.executor, last.error_message) == (1, "root", "root", "")
    assert isinstance(last.create_time, int) and last.execute_time == last.create_time
    assert (
        _deployments(client, page_number=4, page_size=2).deployments[0].id == history["submit v1"]
    )


def test_list_deployments_filters_by_keyword_creator_status_and_time(
    client: Client, history: dict[str, int]
) -> None:
    deploys = _deployments(client, keyword="deploy")
    assert [d.name for d in deploys.deployments] == ["deploy load v2", "deploy load v1"]
    assert _deployments(client, creator="root", executor="root").total_count == 7
    assert _deployments(client, creator="nobody").total_count == 0
    assert _deployments(client, status=1).total_count == 7
    assert _deployments(client, status=2).total_count == 0
    first = _deployments(client).deployments[-1]
    until_first = _deployments(client, end_create_time=first.create_time)
    assert history["submit v1"] in [d.id for d in until_first.deployments]
    assert _deployments(client, end_execute_time=first.execute_time - 1).total_count == 0


def test_list_deployments_answers_data_only_as_the_sdk_reads_it(
    client: Client, history: dict[str, int]
) -> None:
    body = call_api(client, "ListDeployments", query={"ProjectIdentifier": OTHER})["body"]
    assert sorted(body) == ["Data", "RequestId"]
    assert body["Data"] == {"Deployments": [], "PageNumber": 1, "PageSize": 10, "TotalCount": 0}


def test_list_deployments_fails_given_an_unknown_status(client: Client) -> None:
    error = sdk_error(lambda: _deployments(client, status=3))
    assert_sdk_error(
        error, code="InvalidParameter", status=400, message="Status=3 is not one of 0, 1, 2, 6."
    )


def test_get_deployment_answers_an_empty_checking_status(
    client: Client, history: dict[str, int]
) -> None:
    got = client.get_deployment(
        dw.GetDeploymentRequest(project_identifier=WS, deployment_id=history["submit v3"])
    ).body.data.deployment
    assert (got.status, got.to_environment, got.checking_status) == (1, 1, None)
    raw = call_api(
        client,
        "GetDeployment",
        query={"ProjectIdentifier": WS, "DeploymentId": history["submit v3"]},
    )["body"]
    assert "CheckingStatus" in raw["Data"]["Deployment"]
    assert raw["Data"]["Deployment"]["CheckingStatus"] is None
