"""The member operations of the 2020-05-18 API, as service functions."""

from __future__ import annotations

import pytest

from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import iam
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.workspaces import create_project

from .conftest import ACCOUNT


@pytest.fixture
def project_id(ictx: ServiceContext) -> int:
    return create_project(ictx, project_identifier="sales", project_name="Sales").project_id


def test_create_project_member_does_add_a_member_with_its_first_role(
    ictx: ServiceContext, project_id: int
) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    iam.create_project_member(
        ictx, project_id=project_id, user_id=alice.uid, role_code="role_project_dev"
    )
    page = iam.list_project_members(ictx, project_id=project_id)
    assert page.total_count == 1
    (view,) = page.items
    assert view.project_member_id == alice.uid
    assert view.project_member_name == "alice"
    assert view.project_member_type == "USER_UBACCOUNT"
    assert view.status == "NORMAL"
    assert [r.code for r in view.roles] == ["role_project_dev"]


def test_member_roles_do_change_given_add_and_remove(ictx: ServiceContext, project_id: int) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    iam.create_project_member(ictx, project_id=project_id, user_id="alice")
    for code in ("role_project_pe", "role_project_dev", "role_project_dev"):
        iam.add_project_member_to_role(
            ictx, project_id=project_id, user_id=alice.uid, role_code=code
        )
    (view,) = iam.list_project_members(ictx, project_id=project_id).items
    assert [r.code for r in view.roles] == ["role_project_dev", "role_project_pe"]
    iam.remove_project_member_from_role(
        ictx, project_id=project_id, user_id=alice.uid, role_code="role_project_dev"
    )
    (view,) = iam.list_project_members(ictx, project_id=project_id).items
    assert [r.code for r in view.roles] == ["role_project_pe"]
    iam.delete_project_member(ictx, project_id=project_id, user_id=alice.uid)
    assert iam.list_project_members(ictx, project_id=project_id).items == ()


def test_the_account_itself_can_be_a_member(ictx: ServiceContext, project_id: int) -> None:
    iam.create_project_member(
        ictx, project_id=project_id, user_id=ACCOUNT, role_code="role_project_owner"
    )
    (view,) = iam.list_project_members(ictx, project_id=project_id).items
    assert (view.project_member_id, view.project_member_type) == (ACCOUNT, "USER_ALIYUN")


def test_list_project_members_does_page_given_page_size(
    ictx: ServiceContext, project_id: int
) -> None:
    for name in ("a1", "a2", "a3"):
        user = iam.create_user(ictx, user_name=name)
        iam.create_project_member(ictx, project_id=project_id, user_id=user.uid)
    page = iam.list_project_members(ictx, project_id=project_id, page_number=2, page_size=2)
    assert (page.total_count, [v.project_member_name for v in page.items]) == (3, ["a3"])


def test_list_project_roles_does_list_the_six_system_roles(
    ictx: ServiceContext, project_id: int
) -> None:
    roles = iam.list_project_roles(ictx, project_id=project_id)
    assert [(r.code, r.id, r.type) for r in roles] == [
        ("role_project_owner", 1, "SYSTEM"),
        ("role_project_admin", 2, "SYSTEM"),
        ("role_project_dev", 3, "SYSTEM"),
        ("role_project_deploy", 4, "SYSTEM"),
        ("role_project_pe", 5, "SYSTEM"),
        ("role_project_guest", 6, "SYSTEM"),
    ]


def test_create_project_member_fails_given_a_member_twice(
    ictx: ServiceContext, project_id: int
) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    iam.create_project_member(ictx, project_id=project_id, user_id=alice.uid)
    with pytest.raises(Conflict) as caught:
        iam.create_project_member(ictx, project_id=project_id, user_id=alice.uid)
    assert caught.value.code == "Invalid.ProjectMember.Duplicate"
    assert caught.value.message == f"UserId={alice.uid!r} is already a member of the workspace."


def test_create_project_member_fails_given_an_unknown_role_and_adds_nobody(
    ictx: ServiceContext, project_id: int
) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    with pytest.raises(InvalidParameter) as caught:
        iam.create_project_member(
            ictx, project_id=project_id, user_id=alice.uid, role_code="role_god"
        )
    assert caught.value.message == (
        "RoleCode='role_god' is not a workspace role; use one of role_project_owner, "
        "role_project_admin, role_project_dev, role_project_deploy, role_project_pe, "
        "role_project_guest."
    )
    assert iam.list_project_members(ictx, project_id=project_id).total_count == 0


def test_member_operations_fail_given_unknown_users_workspaces_and_members(
    ictx: ServiceContext, project_id: int
) -> None:
    with pytest.raises(NotFound) as user:
        iam.create_project_member(ictx, project_id=project_id, user_id="2999")
    assert user.value.code == "Invalid.User.NotExists"
    with pytest.raises(NotFound) as project:
        iam.list_project_members(ictx, project_id=project_id + 1)
    assert project.value.message == f"The workspace ProjectId={project_id + 1} does not exist."
    with pytest.raises(MissingParameter):
        iam.list_project_roles(ictx, project_id=None)
    bob = iam.create_user(ictx, user_name="bob")
    with pytest.raises(NotFound) as not_member:
        iam.add_project_member_to_role(
            ictx, project_id=project_id, user_id=bob.uid, role_code="role_project_dev"
        )
    assert not_member.value.code == "Invalid.ProjectMember.NotExists"


def test_delete_user_does_remove_its_memberships(ictx: ServiceContext, project_id: int) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    iam.create_project_member(
        ictx, project_id=project_id, user_id=alice.uid, role_code="role_project_dev"
    )
    iam.delete_user(ictx, user_name="alice")
    assert iam.list_project_members(ictx, project_id=project_id).total_count == 0
    assert iam.list_users(ictx) == []


def test_create_user_fails_given_a_bad_reserved_or_taken_name(ictx: ServiceContext) -> None:
    iam.create_user(ictx, user_name="alice")
    with pytest.raises(Conflict) as taken:
        iam.create_user(ictx, user_name="alice")
    assert taken.value.code == "Invalid.User.Duplicate"
    with pytest.raises(InvalidParameter) as reserved:
        iam.create_user(ictx, user_name="root")
    assert reserved.value.message == 'UserName "root" is reserved for the root account.'
    with pytest.raises(InvalidParameter):
        iam.create_user(ictx, user_name="has space")


def test_policies_do_attach_detach_and_refuse_deletion_while_attached(
    ictx: ServiceContext,
) -> None:
    iam.create_user(ictx, user_name="alice")
    document = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "dataworks:Get*"}]}'
    record = iam.create_policy(ictx, policy_name="Readers", policy_document=document)
    assert record.type == "Custom"
    iam.attach_policy(ictx, policy_name="Readers", user_name="alice")
    iam.attach_policy(ictx, policy_name="AliyunDataWorksFullAccess", user_name="alice")
    assert iam.list_user_policies(ictx, user_name="alice") == [
        "AliyunDataWorksFullAccess",
        "Readers",
    ]
    with pytest.raises(Conflict) as in_use:
        iam.delete_policy(ictx, policy_name="Readers")
    assert in_use.value.code == "Invalid.Policy.InUse"
    iam.detach_policy(ictx, policy_name="Readers", user_name="alice")
    iam.delete_policy(ictx, policy_name="Readers")
    assert [p.name for p in iam.list_policies(ictx)] == [
        "AliyunDataWorksFullAccess",
        "AliyunDataWorksReadOnlyAccess",
    ]
    with pytest.raises(InvalidParameter):
        iam.delete_policy(ictx, policy_name="AliyunDataWorksFullAccess")


def test_visible_project_ids_are_memberships_and_creations_given_a_ram_user(
    ictx: ServiceContext, project_id: int
) -> None:
    alice = iam.create_user(ictx, user_name="alice")
    iam.create_user(ictx, user_name="bob")
    iam.create_project_member(ictx, project_id=project_id, user_id=alice.uid)
    created = create_project(
        ictx, project_identifier="mine", project_name="Mine", caller=Caller(name="alice")
    ).project_id
    create_project(ictx, project_identifier="other", project_name="Other")
    with ictx.db.transaction() as session:
        as_alice = iam.visible_project_ids(
            session, Caller(name="alice", account_id=ACCOUNT, is_root=False)
        )
        as_bob = iam.visible_project_ids(
            session, Caller(name="bob", account_id=ACCOUNT, is_root=False)
        )
        as_ghost = iam.visible_project_ids(session, Caller(name="ghost", is_root=False))
        as_root = iam.visible_project_ids(session, Caller())
    assert (as_alice, as_bob, as_ghost, as_root) == ({project_id, created}, set(), set(), None)
