"""CreateBusiness, GetBusiness, ListBusiness, UpdateBusiness, DeleteBusiness through the SDK."""

from __future__ import annotations

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    SHELL,
    Live,
    assert_sdk_error,
    create_workspace,
    sdk_error,
)
from tests.api.sdk import call_api

WS = "biz_ws"


@pytest.fixture(scope="module")
def client(live: Live) -> Client:
    sdk = live.client()
    create_workspace(sdk, WS)
    return sdk


def _create(client: Client, name: str, use_type: str = "MANUAL_BIZ") -> int:
    request = dw.CreateBusinessRequest(
        project_identifier=WS, business_name=name, use_type=use_type, description=f"{name} flow"
    )
    return client.create_business(request).body.business_id


def test_create_business_returns_the_id_get_business_reads_it(client: Client) -> None:
    business_id = _create(client, "biz_read")
    body = client.get_business(
        dw.GetBusinessRequest(project_identifier=WS, business_id=business_id)
    ).body
    project_id = client.get_project(dw.GetProjectRequest(project_identifier=WS)).body.data
    assert (body.success, body.http_status_code) == (True, 200)
    assert body.data.to_map() == {
        "BusinessId": business_id,
        "BusinessName": "biz_read",
        "Description": "biz_read flow",
        "Owner": "root",
        "ProjectId": str(project_id.project_id),
        "UseType": "MANUAL_BIZ",
    }


def test_list_business_filters_by_keyword_and_pages(client: Client) -> None:
    ids = [_create(client, name) for name in ("lst_one", "lst_two", "lst_three")]
    body = client.list_business(
        dw.ListBusinessRequest(project_identifier=WS, keyword="lst_", page_size=2)
    ).body
    assert (body.data.page_number, body.data.page_size, body.data.total_count) == (1, 2, 3)
    assert [b.business_id for b in body.data.business] == ids[:2]
    assert isinstance(body.data.business[0].project_id, int)


def test_update_business_renames_and_redescribes(client: Client) -> None:
    business_id = _create(client, "upd_old")
    body = client.update_business(
        dw.UpdateBusinessRequest(
            project_identifier=WS,
            business_id=business_id,
            business_name="upd_new",
            description="renamed",
        )
    ).body
    assert (body.success, body.http_status_code) == (True, 200)
    data = client.get_business(
        dw.GetBusinessRequest(project_identifier=WS, business_id=business_id)
    ).body.data
    assert (data.business_name, data.description) == ("upd_new", "renamed")


def test_create_business_keeps_workflow_parameters_given_opcenter_parameters(
    client: Client,
) -> None:
    # Parameters is opcenter's own field: the SDK's generic call_api can send it.
    answer = call_api(
        client,
        "CreateBusiness",
        body={"ProjectIdentifier": WS, "BusinessName": "with_params", "Parameters": "region=eu"},
    )
    business_id = answer["body"]["BusinessId"]
    got = call_api(client, "GetBusiness", body={"ProjectIdentifier": WS, "BusinessId": business_id})
    assert got["body"]["Data"]["Parameters"] == "region=eu"


def test_delete_business_removes_it(client: Client) -> None:
    business_id = _create(client, "del_me")
    client.delete_business(dw.DeleteBusinessRequest(project_identifier=WS, business_id=business_id))
    error = sdk_error(
        lambda: client.get_business(
            dw.GetBusinessRequest(project_identifier=WS, business_id=business_id)
        )
    )
    assert_sdk_error(
        error,
        code="Invalid.Business.NotExists",
        status=404,
        message=f"The workflow BusinessId={business_id} does not exist in workspace 'biz_ws'.",
    )


def test_delete_business_fails_given_a_workflow_with_files(client: Client) -> None:
    business_id = _create(client, "has_files")
    client.create_file(
        dw.CreateFileRequest(
            project_identifier=WS,
            file_folder_path="Business Flow/has_files",
            file_name="keep_me",
            file_type=SHELL,
            content="echo hi",
        )
    )
    error = sdk_error(
        lambda: client.delete_business(
            dw.DeleteBusinessRequest(project_identifier=WS, business_id=business_id)
        )
    )
    assert_sdk_error(
        error,
        code="Invalid.Business.Status",
        status=409,
        message=f"The workflow BusinessId={business_id} ('has_files') still has files "
        "(keep_me); delete them first.",
    )


def test_create_business_fails_given_a_taken_name(client: Client) -> None:
    _create(client, "twice")
    error = sdk_error(lambda: _create(client, "twice"))
    assert_sdk_error(
        error,
        code="Invalid.Business.Duplicate",
        status=409,
        message="BusinessName='twice' is already a workflow of workspace 'biz_ws'.",
    )


def test_create_business_fails_given_an_unknown_use_type(client: Client) -> None:
    error = sdk_error(lambda: _create(client, "odd", use_type="CYCLE"))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="UseType='CYCLE' is not one of MANUAL_BIZ, NORMAL.",
    )


def test_create_business_fails_given_an_unknown_workspace(client: Client) -> None:
    request = dw.CreateBusinessRequest(project_identifier="nowhere", business_name="x")
    error = sdk_error(lambda: client.create_business(request))
    assert_sdk_error(
        error,
        code="Invalid.Project.NotExists",
        status=404,
        message="The workspace ProjectIdentifier='nowhere' does not exist.",
    )


def test_get_business_fails_given_no_workspace(client: Client) -> None:
    error = sdk_error(lambda: client.get_business(dw.GetBusinessRequest(business_id=1)))
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "ProjectId" that is mandatory for processing this request '
        "is not supplied.",
    )
