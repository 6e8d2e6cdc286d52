"""CreateFolder, GetFolder, ListFolders, UpdateFolder, DeleteFolder, and `FileFolderId` in
GetFile and ListFiles, through the official SDK against a live server."""

from __future__ import annotations

import re

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import SHELL, Live, assert_sdk_error, client_with_workflow, sdk_error
from tests.api.sdk import call_api

WS = "folder_ws"
FLOW = "folder_flow"
BASE = f"Business Flow/{FLOW}"


@pytest.fixture(scope="module")
def client(live: Live) -> Client:
    return client_with_workflow(live, WS, FLOW)


def _create(client: Client, path: str) -> str:
    body = client.create_folder(dw.CreateFolderRequest(project_identifier=WS, folder_path=path))
    assert (body.body.success, body.body.http_status_code) == (True, 200)
    return body.body.data


def _get(client: Client, **by: str) -> dw.GetFolderResponseBodyData:
    return client.get_folder(dw.GetFolderRequest(project_identifier=WS, **by)).body.data


def _children(client: Client, parent: str, **paging: int) -> dw.ListFoldersResponseBodyData:
    request = dw.ListFoldersRequest(project_identifier=WS, parent_folder_path=parent, **paging)
    return client.list_folders(request).body.data


def _file(client: Client, name: str, path: str) -> int:
    request = dw.CreateFileRequest(
        project_identifier=WS, file_folder_path=path, file_name=name, file_type=SHELL
    )
    return client.create_file(request).body.data


def test_create_folder_answers_its_id_and_get_folder_finds_it_by_id_or_path(
    client: Client,
) -> None:
    folder_id = _create(client, f"{BASE}/cf/deep")
    assert isinstance(folder_id, str) and re.fullmatch(r"[0-9a-f]{32}", folder_id)
    by_id, by_path = _get(client, folder_id=folder_id), _get(client, folder_path=f"{BASE}/cf/deep")
    assert (by_id.folder_id, by_id.folder_path) == (folder_id, f"{BASE}/cf/deep")
    assert by_path.to_map() == by_id.to_map()
    body = client.get_folder(dw.GetFolderRequest(project_identifier=WS, folder_id=folder_id)).body
    assert (body.success, body.http_status_code) == (True, 200)


def test_list_folders_walks_the_tree_from_the_roots(client: Client) -> None:
    _create(client, f"{BASE}/walk/a")
    top = _children(client, "/")
    flows = _children(client, "Business Flow")
    inside = _children(client, f"{BASE}/walk")
    assert [f.folder_path for f in top.folders] == ["Business Flow"]
    assert f"{BASE}" in [f.folder_path for f in flows.folders]
    assert [f.folder_path for f in inside.folders] == [f"{BASE}/walk/a"]
    assert inside.folders[0].folder_id == _get(client, folder_path=f"{BASE}/walk/a").folder_id
    assert (inside.page_number, inside.page_size, inside.total_count) == (1, 10, 1)


def test_list_folders_pages(client: Client) -> None:
    for name in ("c", "a", "b"):
        _create(client, f"{BASE}/paged/{name}")
    page = _children(client, f"{BASE}/paged", page_number=2, page_size=2)
    assert [f.folder_path for f in page.folders] == [f"{BASE}/paged/c"]
    assert (page.page_number, page.page_size, page.total_count) == (2, 2, 3)


def test_get_file_and_list_files_name_the_folder_of_the_file(client: Client) -> None:
    file_id = _file(client, "in_folder", f"{BASE}/ff/x")
    folder_id = _get(client, folder_path=f"{BASE}/ff/x").folder_id
    got = client.get_file(dw.GetFileRequest(project_identifier=WS, file_id=file_id)).body.data
    listed = client.list_files(
        dw.ListFilesRequest(project_identifier=WS, exact_file_name="in_folder")
    ).body.data.files
    assert (got.file.file_folder_id, listed[0].file_folder_id) == (folder_id, folder_id)
    assert (got.file.parent_id, listed[0].parent_id) == (None, None)


def test_update_folder_renames_it_and_moves_its_files(client: Client) -> None:
    file_id = _file(client, "moving", f"{BASE}/before/sub")
    folder_id = _get(client, folder_path=f"{BASE}/before").folder_id
    body = client.update_folder(
        dw.UpdateFolderRequest(project_identifier=WS, folder_id=folder_id, folder_name="after")
    ).body
    assert (body.success, body.http_status_code) == (True, 200)
    assert _get(client, folder_id=folder_id).folder_path == f"{BASE}/after"
    (listed,) = client.list_files(
        dw.ListFilesRequest(project_identifier=WS, exact_file_name="moving")
    ).body.data.files
    assert (listed.file_id, listed.absolute_folder_path) == (file_id, f"{BASE}/after/sub")
    assert listed.file_folder_id == _get(client, folder_path=f"{BASE}/after/sub").folder_id


def test_delete_folder_removes_an_empty_folder(client: Client) -> None:
    folder_id = _create(client, f"{BASE}/empty")
    body = client.delete_folder(
        dw.DeleteFolderRequest(project_identifier=WS, folder_id=folder_id)
    ).body
    assert (body.success, body.http_status_code) == (True, 200)
    error = sdk_error(lambda: _get(client, folder_id=folder_id))
    assert_sdk_error(
        error,
        code="Invalid.Folder.NotExists",
        status=404,
        message=f"The folder FolderId={folder_id!r} does not exist in workspace {WS!r}.",
    )


def test_delete_folder_fails_given_a_folder_with_files(client: Client) -> None:
    _file(client, "keeper", f"{BASE}/full")
    folder_id = _get(client, folder_path=f"{BASE}/full").folder_id
    request = dw.DeleteFolderRequest(project_identifier=WS, folder_id=folder_id)
    error = sdk_error(lambda: client.delete_folder(request))
    assert_sdk_error(
        error,
        code="Invalid.Folder.Status",
        status=409,
        message=f"The folder '{BASE}/full' still holds files ('keeper'); move or delete them "
        "first.",
    )


def test_create_folder_fails_given_a_folder_that_exists(client: Client) -> None:
    error = sdk_error(lambda: _create(client, BASE))
    assert_sdk_error(
        error,
        code="Invalid.Folder.Duplicate",
        status=409,
        message=f"FolderPath={BASE!r} is already a folder of workspace {WS!r}.",
    )


def test_create_folder_fails_given_an_unknown_workflow(client: Client) -> None:
    error = sdk_error(lambda: _create(client, "Business Flow/ghost/x"))
    assert_sdk_error(
        error,
        code="Invalid.Business.NotExists",
        status=404,
        message=f"The workflow BusinessName='ghost' does not exist in workspace {WS!r}.",
    )


def test_update_folder_fails_given_the_folder_of_a_workflow(client: Client) -> None:
    folder_id = _get(client, folder_path=BASE).folder_id
    request = dw.UpdateFolderRequest(project_identifier=WS, folder_id=folder_id, folder_name="x")
    error = sdk_error(lambda: client.update_folder(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message=f"FolderId={folder_id!r} is the folder of workflow {FLOW!r}; it is renamed with "
        "its workflow (UpdateBusiness).",
    )


def test_list_folders_fails_given_a_parent_that_is_no_folder(client: Client) -> None:
    error = sdk_error(lambda: _children(client, f"{BASE}/nowhere"))
    assert_sdk_error(
        error,
        code="Invalid.Folder.NotExists",
        status=404,
        message=f"The folder ParentFolderPath='{BASE}/nowhere' does not exist in workspace "
        f"{WS!r}.",
    )


def test_folder_operations_fail_given_no_folder(client: Client) -> None:
    for action, body in (
        ("GetFolder", {"ProjectIdentifier": WS}),
        ("DeleteFolder", {"ProjectIdentifier": WS}),
        ("UpdateFolder", {"ProjectIdentifier": WS, "FolderName": "x"}),
    ):
        error = sdk_error(lambda action=action, body=body: call_api(client, action, body=body))
        assert_sdk_error(
            error,
            code="MissingParameter",
            status=400,
            message='The input parameter "FolderId" that is mandatory for processing this '
            "request is not supplied.",
        )
