"""Workspaces: CreateProject, GetProject, GetProjectDetail, ListProjects.

`ProjectIdentifier` is the workspace's identifier (what the Operation Center operations call
`ProjectName`); `ProjectName` here is its display name. `ProjectMode` 3 is standard (DEV and
PROD), 2 basic (PROD only); standard by default.
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.service import workspaces

__all__ = ["create_project", "get_project", "get_project_detail", "list_projects"]

_STANDARD_MODE = 3


@operation("CreateProject")
def create_project(call: Call) -> dict[str, Any]:
    """`Data` is the new ProjectId."""
    project = workspaces.create_project(
        call.services,
        project_identifier=call.str("ProjectIdentifier", required=True),
        project_name=call.str("ProjectName", required=True),
        project_mode=call.int("ProjectMode", default=_STANDARD_MODE),
        project_description=call.str("ProjectDescription", default=""),
        caller=render.caller_of(call),
    )
    return render.ok(Data=project.project_id)


@operation("GetProject", resource=project_resource)
def get_project(call: Call) -> dict[str, Any]:
    project = workspaces.get_project(
        call.services,
        project_id=call.int("ProjectId"),
        project_identifier=call.str("ProjectIdentifier"),
        caller=render.caller_of(call),
    )
    return render.ok(Data=render.project_detail(project, call.services.settings.tz))


@operation("GetProjectDetail", resource=project_resource)
def get_project_detail(call: Call) -> dict[str, Any]:
    """GetProject's answer by `ProjectId`, as the GetProjectDetail model reads it."""
    project = workspaces.get_project(
        call.services,
        project_id=call.int("ProjectId", required=True),
        caller=render.caller_of(call),
    )
    return render.ok(Data=render.project_summary(project, call.services.settings.tz))


@operation("ListProjects")
def list_projects(call: Call) -> dict[str, Any]:
    result = workspaces.list_projects(
        call.services,
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        caller=render.caller_of(call),
    )
    items = [render.project_item(p) for p in result.items]
    return {"PageResult": render.page("ProjectList", result, items)}
