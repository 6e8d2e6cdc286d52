"""CreateProject, GetProject, ListProjects through the official SDK against a live server."""

from __future__ import annotations

import re

from alibabacloud_dataworks_public20200518 import models as dw

from tests.api.opsupport import Live, assert_sdk_error, create_workspace, sdk_error


def test_create_project_returns_the_id_get_project_reads_by_identifier_and_id(live: Live) -> None:
    client = live.client()
    # Given a standard workspace created through the SDK
    project_id = create_workspace(client, "proj_std")
    # When it is read by identifier and by id
    by_name = client.get_project(dw.GetProjectRequest(project_identifier="proj_std")).body
    by_id = client.get_project(dw.GetProjectRequest(project_id=project_id)).body
    # Then both answers describe it, with the SDK's types
    assert by_name.to_map() == by_id.to_map() | {"RequestId": by_name.request_id}
    data = by_name.data
    assert (by_name.success, by_name.http_status_code) == (True, 200)
    assert (data.project_id, data.project_identifier, data.project_name) == (
        project_id,
        "proj_std",
        "proj_std space",
    )
    assert (data.project_mode, data.env_types, data.status) == (3, ["DEV", "PROD"], 0)
    assert data.project_owner_base_id == "root"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M", data.gmt_create)


def test_create_project_makes_a_basic_workspace_given_project_mode_2(live: Live) -> None:
    client = live.client()
    create_workspace(client, "proj_basic", mode=2)
    data = client.get_project(dw.GetProjectRequest(project_identifier="proj_basic")).body.data
    assert (data.project_mode, data.env_types) == (2, ["PROD"])


def test_list_projects_pages_through_workspaces_in_id_order(live: Live) -> None:
    client = live.client()
    for name in ("proj_list_a", "proj_list_b"):
        create_workspace(client, name)
    first = client.list_projects(dw.ListProjectsRequest(page_number=1, page_size=1)).body
    everything = client.list_projects(dw.ListProjectsRequest(page_size=100)).body.page_result
    assert (first.page_result.page_number, first.page_result.page_size) == (1, 1)
    assert first.page_result.total_count == everything.total_count
    assert len(first.page_result.project_list) == 1
    ids = [p.project_id for p in everything.project_list]
    assert ids == sorted(ids)
    listed = {p.project_identifier: p for p in everything.project_list}
    assert {"proj_list_a", "proj_list_b"} <= set(listed)
    assert (listed["proj_list_a"].project_status, listed["proj_list_a"].project_status_code) == (
        0,
        "AVAILABLE",
    )


def test_create_project_fails_given_a_taken_identifier(live: Live) -> None:
    client = live.client()
    create_workspace(client, "proj_taken")
    error = sdk_error(lambda: create_workspace(client, "proj_taken"))
    assert_sdk_error(
        error,
        code="Invalid.Project.Duplicate",
        status=409,
        message="ProjectIdentifier='proj_taken' is already taken.",
    )


def test_create_project_fails_given_no_identifier(live: Live) -> None:
    client = live.client()
    error = sdk_error(lambda: client.create_project(dw.CreateProjectRequest(project_name="x")))
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "ProjectIdentifier" that is mandatory for processing '
        "this request is not supplied.",
    )


def test_create_project_fails_given_an_unknown_project_mode(live: Live) -> None:
    client = live.client()
    error = sdk_error(lambda: create_workspace(client, "proj_mode", mode=7))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="ProjectMode=7 is not one of STANDARD (3, DEV and PROD) or BASIC (2, PROD only).",
    )


def test_get_project_fails_given_an_unknown_workspace(live: Live) -> None:
    client = live.client()
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_id=999999)))
    assert_sdk_error(
        error,
        code="Invalid.Project.NotExists",
        status=404,
        message="The workspace ProjectId=999999 does not exist.",
    )
