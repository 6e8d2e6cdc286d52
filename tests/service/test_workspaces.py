from __future__ import annotations

import pytest

from opcenter.domain.model import Env, WorkspaceMode
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import workspaces
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.views import ProjectView


def test_create_project_returns_the_workspace_given_a_standard_mode(ctx: ServiceContext) -> None:
    view = workspaces.create_project(
        ctx,
        project_identifier="sales_dw",
        project_name="Sales DW",
        project_mode="STANDARD",
        project_description="numbers",
        caller=Caller(name="alice"),
    )
    assert view.project_id > 0
    assert (view.project_identifier, view.project_name, view.project_description) == (
        "sales_dw",
        "Sales DW",
        "numbers",
    )
    assert view.project_mode is WorkspaceMode.STANDARD
    assert view.env_types == (Env.DEV, Env.PROD)
    assert view.project_mode_code == 3
    assert (view.status, view.owner) == ("AVAILABLE", "alice")


def test_create_project_accepts_basic_mode_given_its_name_or_code(ctx: ServiceContext) -> None:
    for n, mode in enumerate(["BASIC", 2, "2", WorkspaceMode.BASIC]):
        view = workspaces.create_project(
            ctx, project_identifier=f"lite{n}", project_name="Lite", project_mode=mode
        )
        assert view.project_mode is WorkspaceMode.BASIC
        assert view.env_types == (Env.PROD,)
        assert view.project_mode_code == 2


def test_create_project_fails_given_a_taken_identifier(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(Conflict) as info:
        workspaces.create_project(ctx, project_identifier="demo", project_name="Other")
    assert info.value.code == "Invalid.Project.Duplicate"
    assert info.value.http_status == 409
    assert info.value.message == "ProjectIdentifier='demo' is already taken."


@pytest.mark.parametrize("identifier", ["_x", "a-b", "a b", "x" * 129])
def test_create_project_fails_given_a_malformed_identifier(
    sqlite_ctx: ServiceContext, identifier: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workspaces.create_project(sqlite_ctx, project_identifier=identifier, project_name="X")
    assert info.value.message.startswith(f"ProjectIdentifier={identifier!r} must be")


def test_create_project_fails_given_an_unknown_mode(sqlite_ctx: ServiceContext) -> None:
    with pytest.raises(InvalidParameter) as info:
        workspaces.create_project(
            sqlite_ctx, project_identifier="x", project_name="X", project_mode=4
        )
    assert info.value.message == (
        "ProjectMode=4 is not one of STANDARD (3, DEV and PROD) or BASIC (2, PROD only)."
    )


def test_create_project_fails_given_no_display_name(sqlite_ctx: ServiceContext) -> None:
    with pytest.raises(MissingParameter) as info:
        workspaces.create_project(sqlite_ctx, project_identifier="x", project_name=" ")
    assert info.value.parameter == "ProjectName"


def test_get_project_finds_the_workspace_given_its_id_or_identifier(
    ctx: ServiceContext, project: ProjectView
) -> None:
    assert workspaces.get_project(ctx, project_id=project.project_id) == project
    assert workspaces.get_project(ctx, project_identifier="demo") == project
    both = workspaces.get_project(ctx, project_id=project.project_id, project_identifier="demo")
    assert both == project


def test_get_project_fails_given_an_unknown_id(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as info:
        workspaces.get_project(ctx, project_id=999)
    assert (info.value.code, info.value.http_status) == ("Invalid.Project.NotExists", 404)
    assert info.value.message == "The workspace ProjectId=999 does not exist."


def test_get_project_fails_given_an_unknown_identifier(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as info:
        workspaces.get_project(ctx, project_identifier="nope")
    assert info.value.message == "The workspace ProjectIdentifier='nope' does not exist."


def test_get_project_fails_given_id_and_identifier_of_different_workspaces(
    ctx: ServiceContext, project: ProjectView, basic_project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workspaces.get_project(ctx, project_id=project.project_id, project_identifier="lite")
    assert info.value.message == (
        f"ProjectId={project.project_id} and ProjectIdentifier='lite' name different workspaces."
    )


def test_get_project_fails_given_neither_id_nor_identifier(ctx: ServiceContext) -> None:
    with pytest.raises(MissingParameter) as info:
        workspaces.get_project(ctx)
    assert info.value.parameter == "ProjectId"


def test_list_projects_pages_in_id_order_given_three_workspaces(ctx: ServiceContext) -> None:
    for name in ("a", "b", "c"):
        workspaces.create_project(ctx, project_identifier=name, project_name=name.upper())
    first = workspaces.list_projects(ctx, page_number=1, page_size=2)
    second = workspaces.list_projects(ctx, page_number=2, page_size=2)
    assert [p.project_identifier for p in first.items] == ["a", "b"]
    assert [p.project_identifier for p in second.items] == ["c"]
    assert (first.total_count, second.total_count, second.page_number) == (3, 3, 2)


@pytest.mark.parametrize(
    ("page_number", "page_size", "message"),
    [
        (0, 10, "PageNumber=0 must be at least 1."),
        (1, 101, "PageSize=101 must be between 1 and 100."),
    ],
)
def test_list_projects_fails_given_bad_paging(
    sqlite_ctx: ServiceContext, page_number: int, page_size: int, message: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        workspaces.list_projects(sqlite_ctx, page_number=page_number, page_size=page_size)
    assert info.value.message == message
