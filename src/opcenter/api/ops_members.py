"""Workspace members and roles: CreateProjectMember, ListProjectMembers, DeleteProjectMember,
AddProjectMemberToRole, RemoveProjectMemberFromRole, ListProjectRoles.

`UserId` is the member's UserId: the account id for the root account, a RAM user's uid (its
name is accepted too). `RoleCode` is a DataWorks role code (`role_project_dev`, ...). The
writes answer only `RequestId`, as the SDK's response models expect. Who may call them (owner
and admin of the workspace) is the authorizer's decision (docs/iam.md).
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.iam.roles import Role
from opcenter.service import iam
from opcenter.service.iam import ProjectMemberView

__all__ = [
    "add_project_member_to_role",
    "create_project_member",
    "delete_project_member",
    "list_project_members",
    "list_project_roles",
    "remove_project_member_from_role",
]


def _member(call: Call) -> dict[str, Any]:
    return {
        "project_id": call.int("ProjectId", required=True),
        "user_id": call.str("UserId", required=True),
        "caller": render.caller_of(call),
    }


def _role(role: Role) -> dict[str, Any]:
    return {
        "ProjectRoleCode": role.code,
        "ProjectRoleId": role.id,
        "ProjectRoleName": role.name,
        "ProjectRoleType": role.type,
    }


def _member_item(member: ProjectMemberView) -> dict[str, Any]:
    return {
        "ProjectMemberId": member.project_member_id,
        "ProjectMemberName": member.project_member_name,
        "Nick": member.nick,
        "ProjectMemberType": member.project_member_type,
        "Status": member.status,
        "ProjectRoleList": [_role(r) for r in member.roles],
    }


@operation("CreateProjectMember", resource=project_resource)
def create_project_member(call: Call) -> dict[str, Any]:
    """Add a member, with a first role when `RoleCode` is sent."""
    iam.create_project_member(call.services, role_code=call.str("RoleCode"), **_member(call))
    return {}


@operation("DeleteProjectMember", resource=project_resource)
def delete_project_member(call: Call) -> dict[str, Any]:
    iam.delete_project_member(call.services, **_member(call))
    return {}


@operation("AddProjectMemberToRole", resource=project_resource)
def add_project_member_to_role(call: Call) -> dict[str, Any]:
    iam.add_project_member_to_role(
        call.services, role_code=call.str("RoleCode", required=True), **_member(call)
    )
    return {}


@operation("RemoveProjectMemberFromRole", resource=project_resource)
def remove_project_member_from_role(call: Call) -> dict[str, Any]:
    iam.remove_project_member_from_role(
        call.services, role_code=call.str("RoleCode", required=True), **_member(call)
    )
    return {}


@operation("ListProjectMembers", resource=project_resource)
def list_project_members(call: Call) -> dict[str, Any]:
    result = iam.list_project_members(
        call.services,
        project_id=call.int("ProjectId", required=True),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        caller=render.caller_of(call),
    )
    items = [_member_item(m) for m in result.items]
    return {"Data": render.page("ProjectMemberList", result, items)}


@operation("ListProjectRoles", resource=project_resource)
def list_project_roles(call: Call) -> dict[str, Any]:
    roles = iam.list_project_roles(
        call.services,
        project_id=call.int("ProjectId", required=True),
        caller=render.caller_of(call),
    )
    return {"ProjectRoleList": [_role(r) for r in roles]}
