from __future__ import annotations

import pytest

from opcenter.domain.model import UseType
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import files, workflows
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.views import BusinessView, ProjectView


def test_create_business_stores_a_manual_workflow_given_defaults(
    ctx: ServiceContext, project: ProjectView
) -> None:
    view = workflows.create_business(
        ctx,
        project_identifier="demo",
        business_name="sales",
        description="daily",
        parameters="region=cn day=$bizdate",
        caller=Caller(name="bob"),
    )
    assert view.business_id > 0
    assert view.project_id == project.project_id
    assert view.use_type is UseType.MANUAL_BIZ
    assert (view.business_name, view.description, view.owner) == ("sales", "daily", "bob")
    assert view.parameters == "region=cn day=$bizdate"
    assert (
        workflows.get_business(ctx, project_id=project.project_id, business_id=view.business_id)
        == view
    )


def test_create_business_stores_normal_use_type_given_normal(
    ctx: ServiceContext, project: ProjectView
) -> None:
    view = workflows.create_business(
        ctx, project_id=project.project_id, business_name="n", use_type="NORMAL", owner="carol"
    )
    assert (view.use_type, view.owner) == (UseType.NORMAL, "carol")


def test_create_business_fails_given_an_unknown_use_type(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workflows.create_business(
            ctx, project_id=project.project_id, business_name="x", use_type="CYCLE"
        )
    assert info.value.message == "UseType='CYCLE' is not one of MANUAL_BIZ, NORMAL."


def test_create_business_fails_given_a_taken_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(Conflict) as info:
        workflows.create_business(ctx, project_id=project.project_id, business_name="sales")
    assert (info.value.code, info.value.http_status) == ("Invalid.Business.Duplicate", 409)
    assert info.value.message == "BusinessName='sales' is already a workflow of workspace 'demo'."


def test_create_business_fails_given_an_unknown_workspace(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as info:
        workflows.create_business(ctx, project_identifier="ghost", business_name="x")
    assert info.value.code == "Invalid.Project.NotExists"


def test_create_business_fails_given_a_positional_workflow_parameter(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workflows.create_business(
            ctx, project_id=project.project_id, business_name="x", parameters="a=1 loose"
        )
    assert info.value.message == (
        'Parameters: Invalid parameter "loose": a workflow parameter must be a key=value piece'
    )


def test_create_business_fails_given_a_malformed_parameter_expression(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workflows.create_business(
            ctx, project_id=project.project_id, business_name="x", parameters="d=$[zz]"
        )
    assert info.value.message.startswith('Parameters: Invalid parameter "d=$[zz]"')
    assert workflows.list_business(ctx, project_id=project.project_id).total_count == 0


def test_get_business_fails_given_an_unknown_id(ctx: ServiceContext, project: ProjectView) -> None:
    with pytest.raises(NotFound) as info:
        workflows.get_business(ctx, project_id=project.project_id, business_id=77)
    assert (info.value.code, info.value.http_status) == ("Invalid.Business.NotExists", 404)
    assert info.value.message == "The workflow BusinessId=77 does not exist in workspace 'demo'."


def test_get_business_finds_the_workflow_given_its_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    assert workflows.get_business(ctx, project_identifier="demo", business_name="sales") == flow


def test_get_business_fails_given_no_id_and_no_name(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(MissingParameter) as info:
        workflows.get_business(ctx, project_id=project.project_id)
    assert info.value.parameter == "BusinessId"


def test_list_business_filters_by_keyword_given_several_workflows(
    ctx: ServiceContext, project: ProjectView
) -> None:
    for name in ("sales_daily", "sales_weekly", "hr"):
        workflows.create_business(ctx, project_id=project.project_id, business_name=name)
    page = workflows.list_business(ctx, project_id=project.project_id, keyword="sales")
    assert [b.business_name for b in page.items] == ["sales_daily", "sales_weekly"]
    assert page.total_count == 2
    assert workflows.list_business(ctx, project_id=project.project_id).total_count == 3


def test_update_business_changes_only_the_given_fields(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = workflows.update_business(
        ctx, project_id=project.project_id, business_id=flow.business_id, parameters="a=1 b=2"
    )
    assert view.parameters == "a=1 b=2"
    assert (view.business_name, view.description, view.owner) == (
        flow.business_name,
        flow.description,
        flow.owner,
    )


def test_update_business_moves_the_files_given_a_new_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    file = files.create_file(
        ctx,
        project_id=project.project_id,
        file_name="load",
        file_folder_path="Business Flow/sales/Shell",
        file_type=6,
    )
    view = workflows.update_business(
        ctx, project_id=project.project_id, business_id=flow.business_id, business_name="revenue"
    )
    assert view.business_name == "revenue"
    moved = files.get_file(ctx, project_id=project.project_id, file_id=file.file_id)
    assert moved.file_folder_path == "Business Flow/revenue/Shell"


def test_update_business_fails_given_a_name_taken_by_another_workflow(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.create_business(ctx, project_id=project.project_id, business_name="hr")
    with pytest.raises(Conflict) as info:
        workflows.update_business(
            ctx, project_id=project.project_id, business_id=flow.business_id, business_name="hr"
        )
    assert info.value.code == "Invalid.Business.Duplicate"


def test_delete_business_removes_the_workflow_given_no_files(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.delete_business(ctx, project_id=project.project_id, business_id=flow.business_id)
    with pytest.raises(NotFound):
        workflows.get_business(ctx, project_id=project.project_id, business_id=flow.business_id)
    # The name is free again; the new workflow gets a new id.
    again = workflows.create_business(ctx, project_id=project.project_id, business_name="sales")
    assert again.business_id > flow.business_id


def test_delete_business_fails_given_a_workflow_with_files(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    files.create_file(
        ctx,
        project_id=project.project_id,
        file_name="load",
        file_folder_path="Business Flow/sales",
        file_type=6,
    )
    with pytest.raises(Conflict) as info:
        workflows.delete_business(ctx, project_id=project.project_id, business_id=flow.business_id)
    assert (info.value.code, info.value.http_status) == ("Invalid.Business.Status", 409)
    assert info.value.message == (
        f"The workflow BusinessId={flow.business_id} ('sales') still has files (load); "
        "delete them first."
    )
    assert (
        workflows.get_business(ctx, project_id=project.project_id, business_id=flow.business_id)
        == flow
    )
