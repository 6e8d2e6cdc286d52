"""CreateFile, GetFile, ListFiles, UpdateFile, DeleteFile, SubmitFile, DeployFile and
GetDeployment through the official SDK against a live server."""

from __future__ import annotations

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    PYTHON,
    SHELL,
    Live,
    assert_sdk_error,
    client_with_workflow,
    sdk_error,
)

WS = "file_ws"
FLOW = "file_flow"
FOLDER = f"Business Flow/{FLOW}/scripts"


@pytest.fixture(scope="module")
def client(live: Live) -> Client:
    return client_with_workflow(live, WS, FLOW)


def _create(client: Client, name: str, file_type: int = SHELL, **fields: object) -> int:
    request = dw.CreateFileRequest(
        project_identifier=WS,
        file_folder_path=FOLDER,
        file_name=name,
        file_type=file_type,
        **fields,
    )
    return client.create_file(request).body.data


def _get(client: Client, file_id: int) -> dw.GetFileResponseBodyData:
    return client.get_file(dw.GetFileRequest(project_identifier=WS, file_id=file_id)).body.data


def test_create_file_returns_the_id_get_file_reads_draft_and_configuration(
    client: Client,
) -> None:
    file_id = _create(
        client,
        "load",
        content='echo "$1"',
        para_value="$bizdate region=eu",
        input_list=f"{WS}_root",
        rerun_mode="FAILURE_ALLOWED",
        auto_rerun_times=2,
        auto_rerun_interval_millis=60000,
        timeout=3,
        file_description="loads",
    )
    body = client.get_file(dw.GetFileRequest(project_identifier=WS, file_id=file_id)).body
    file, config = body.data.file, body.data.node_configuration
    assert (body.success, body.http_status_code) == (True, 200)
    assert (file.file_id, file.file_name, file.file_type, file.content) == (
        file_id,
        "load",
        SHELL,
        'echo "$1"',
    )
    assert (file.use_type, file.commit_status, file.current_version, file.node_id) == (
        "MANUAL_BIZ",
        0,
        None,
        None,
    )
    assert (file.owner, file.file_description, file.deleted_status) == ("root", "loads", "NORMAL")
    assert isinstance(file.business_id, int) and isinstance(file.create_time, int)
    assert (config.para_value, config.rerun_mode, config.scheduler_type) == (
        "$bizdate region=eu",
        "FAILURE_ALLOWED",
        "MANUAL",
    )
    assert (config.auto_rerun_times, config.auto_rerun_interval_millis, config.timeout) == (
        2,
        60000,
        3,
    )
    assert [i.input for i in config.input_list] == [f"{WS}_root"]
    assert [o.output for o in config.output_list] == [f"{WS}.load"]


def test_submit_and_deploy_publish_the_file_and_get_deployment_reads_them(client: Client) -> None:
    # Given a draft
    file_id = _create(client, "publish", content="echo hi", input_list=f"{WS}_root")
    # When it is submitted, then deployed
    submitted = client.submit_file(
        dw.SubmitFileRequest(project_identifier=WS, file_id=file_id, comment="first")
    ).body
    deployed = client.deploy_file(dw.DeployFileRequest(project_identifier=WS, file_id=file_id))
    # Then each answers a deployment that GetDeployment describes
    assert (submitted.success, submitted.http_status_code) == (True, 200)
    first = client.get_deployment(
        dw.GetDeploymentRequest(project_identifier=WS, deployment_id=submitted.data)
    ).body.data
    second = client.get_deployment(
        dw.GetDeploymentRequest(project_identifier=WS, deployment_id=deployed.body.data)
    ).body.data
    assert (first.deployment.from_environment, first.deployment.to_environment) == (0, 1)
    assert (second.deployment.from_environment, second.deployment.to_environment) == (1, 2)
    assert (first.deployment.status, first.deployment.creator_id) == (1, "root")
    assert first.deployment.name == "submit publish v1"
    assert isinstance(first.deployment.execute_time, int)
    assert [(i.file_id, i.file_version, i.status) for i in second.deployed_items] == [
        (file_id, 1, 1)
    ]
    # And the file now has a node and a clean draft
    file = _get(client, file_id).file
    assert (file.commit_status, file.current_version, isinstance(file.node_id, int)) == (
        1,
        1,
        True,
    )


def test_update_file_changes_the_draft_until_the_next_submit(client: Client) -> None:
    file_id = _create(client, "edit", content="echo 1", input_list=f"{WS}_root")
    client.submit_file(dw.SubmitFileRequest(project_identifier=WS, file_id=file_id))
    body = client.update_file(
        dw.UpdateFileRequest(
            project_identifier=WS, file_id=file_id, content="echo 2", para_value="a=1"
        )
    ).body
    assert (body.success, body.http_status_code) == (True, 200)
    data = _get(client, file_id)
    assert (data.file.content, data.node_configuration.para_value) == ("echo 2", "a=1")
    assert (data.file.commit_status, data.file.current_version) == (0, 1)


def test_list_files_filters_and_returns_content_only_when_asked(client: Client) -> None:
    shell_id = _create(client, "lf_shell", content="echo s")
    python_id = _create(client, "lf_python", file_type=PYTHON, content="print(1)")
    by_type = client.list_files(
        dw.ListFilesRequest(project_identifier=WS, keyword="lf_", file_types=str(PYTHON))
    ).body
    with_content = client.list_files(
        dw.ListFilesRequest(project_identifier=WS, exact_file_name="lf_shell", need_content=True)
    ).body.data
    assert (by_type.success, by_type.data.total_count) == (True, 1)
    only = by_type.data.files[0]
    assert (only.file_id, only.content, only.absolute_folder_path) == (python_id, None, FOLDER)
    assert [(f.file_id, f.content) for f in with_content.files] == [(shell_id, "echo s")]
    assert (with_content.page_number, with_content.page_size) == (1, 10)


def test_delete_file_answers_the_deployment_that_removes_its_node(client: Client) -> None:
    never = _create(client, "del_draft")
    published = _create(client, "del_published", input_list=f"{WS}_root")
    client.submit_file(dw.SubmitFileRequest(project_identifier=WS, file_id=published))
    draft_answer = client.delete_file(dw.DeleteFileRequest(project_identifier=WS, file_id=never))
    published_answer = client.delete_file(
        dw.DeleteFileRequest(project_identifier=WS, file_id=published)
    )
    assert draft_answer.body.deployment_id is None
    assert isinstance(published_answer.body.deployment_id, int)
    error = sdk_error(lambda: _get(client, published))
    assert_sdk_error(
        error,
        code="Invalid.File.NotExists",
        status=404,
        message=f"The file FileId={published} does not exist in workspace 'file_ws'.",
    )


def test_deploy_file_fails_given_a_file_never_submitted(client: Client) -> None:
    file_id = _create(client, "unsubmitted")
    error = sdk_error(
        lambda: client.deploy_file(dw.DeployFileRequest(project_identifier=WS, file_id=file_id))
    )
    assert_sdk_error(
        error,
        code="Invalid.File.Status",
        status=409,
        message=f"The file FileId={file_id} ('unsubmitted') has never been submitted; "
        "submit it before deploying.",
    )


def test_submit_file_fails_given_an_unsupported_file_type(client: Client) -> None:
    file_id = _create(client, "spark", file_type=225)
    error = sdk_error(
        lambda: client.submit_file(dw.SubmitFileRequest(project_identifier=WS, file_id=file_id))
    )
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="FileType=225 of file 'spark' is not supported for running; supported types: "
        "6 (DIDE_SHELL), 10 (ODPS_SQL), 99 (VIRTUAL), 1322 (PYTHON).",
    )


def test_submit_file_fails_given_an_input_nobody_produces(client: Client) -> None:
    file_id = _create(client, "orphan", input_list=f"{WS}.nothing")
    error = sdk_error(
        lambda: client.submit_file(dw.SubmitFileRequest(project_identifier=WS, file_id=file_id))
    )
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="InputList entry 'file_ws.nothing' of file 'orphan' is not the output of any "
        "file in workflow 'file_flow' (nor the root 'file_ws_root').",
    )


def test_create_file_fails_given_a_folder_outside_any_workflow(client: Client) -> None:
    request = dw.CreateFileRequest(
        project_identifier=WS, file_folder_path="scripts", file_name="lost", file_type=SHELL
    )
    error = sdk_error(lambda: client.create_file(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="FileFolderPath='scripts' must start with one of 'Business Flow', '业务流程', "
        "'Business_process' followed by the workflow name, e.g. 'Business Flow/<workflow>/...'.",
    )


def test_create_file_fails_given_an_unknown_workflow(client: Client) -> None:
    request = dw.CreateFileRequest(
        project_identifier=WS,
        file_folder_path="Business Flow/ghost",
        file_name="lost",
        file_type=SHELL,
    )
    error = sdk_error(lambda: client.create_file(request))
    assert_sdk_error(
        error,
        code="Invalid.Business.NotExists",
        status=404,
        message="The workflow BusinessName='ghost' does not exist in workspace 'file_ws'.",
    )


def test_create_file_fails_given_a_taken_name(client: Client) -> None:
    _create(client, "same")
    error = sdk_error(lambda: _create(client, "same"))
    assert_sdk_error(
        error,
        code="Invalid.File.Duplicate",
        status=409,
        message="FileName='same' is already a file of workspace 'file_ws'.",
    )


def test_get_deployment_fails_given_an_unknown_id(client: Client) -> None:
    request = dw.GetDeploymentRequest(project_identifier=WS, deployment_id=424242)
    error = sdk_error(lambda: client.get_deployment(request))
    assert_sdk_error(
        error,
        code="Invalid.Deployment.NotExists",
        status=404,
        message="The deployment DeploymentId=424242 does not exist in workspace 'file_ws'.",
    )


def test_list_files_fails_given_a_filter_opcenter_does_not_serve(client: Client) -> None:
    request = dw.ListFilesRequest(project_identifier=WS, file_id_in="1,2")
    error = sdk_error(lambda: client.list_files(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message='The specified value of parameter "FileIdIn" is not valid: opcenter does not '
        "filter files by FileIdIn.",
    )
