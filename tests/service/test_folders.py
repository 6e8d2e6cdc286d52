"""Folders: CreateFolder, GetFolder, ListFolders, UpdateFolder, DeleteFolder, a file's
FileFolderId, the folders a workflow owns, and folders made at first use for older stores."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import files, folders, workflows, workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.views import BusinessView, FileView, FolderView, ProjectView
from opcenter.store.tables import Folder

WS = {"project_identifier": "demo"}


def _file(ctx: ServiceContext, name: str, path: str = "Business Flow/sales/Shell") -> FileView:
    return files.create_file(ctx, file_name=name, file_folder_path=path, file_type=6, **WS)


def _folder(ctx: ServiceContext, path: str) -> FolderView:
    return folders.get_folder(ctx, folder_path=path, **WS)


def _children(ctx: ServiceContext, parent: str, **paging: int) -> list[str]:
    page = folders.list_folders(ctx, parent_folder_path=parent, **paging, **WS)  # type: ignore[arg-type]
    return [f.folder_path for f in page.items]


def _paths(ctx: ServiceContext) -> list[str]:
    with ctx.db.transaction(readonly=True) as session:
        return list(session.scalars(sa.select(Folder.path).order_by(Folder.path)))


def _forget_folders(ctx: ServiceContext) -> None:
    """The store as it was before folders existed: files and workflows, no folder rows."""
    with ctx.db.transaction() as session:
        session.execute(sa.delete(Folder))


def test_create_file_creates_the_folders_of_its_path_and_names_its_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _file(ctx, "load", "/Business Flow/ sales /Shell/daily/")
    root, wf, shell, daily = (
        _folder(ctx, p)
        for p in (
            "Business Flow",
            "Business Flow/sales",
            "Business Flow/sales/Shell",
            "Business Flow/sales/Shell/daily",
        )
    )
    assert view.file_folder_id == daily.folder_id
    assert re.fullmatch(r"[0-9a-f]{32}", daily.folder_id)
    assert (root.parent_id, wf.parent_id, shell.parent_id, daily.parent_id) == (
        None,
        root.folder_id,
        wf.folder_id,
        shell.folder_id,
    )
    assert daily.project_id == project.project_id
    got = files.get_file(ctx, file_id=view.file_id, **WS)
    listed = files.list_files(ctx, **WS).items
    assert got.file_folder_id == listed[0].file_folder_id == daily.folder_id


def test_files_of_one_folder_share_its_id_and_a_workflow_folder_holds_files_too(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    a, b = _file(ctx, "a"), _file(ctx, "b")
    top = _file(ctx, "top", "Business Flow/sales")
    assert (
        a.file_folder_id == b.file_folder_id == _folder(ctx, "Business Flow/sales/Shell").folder_id
    )
    assert top.file_folder_id == _folder(ctx, "Business Flow/sales").folder_id


def test_update_file_creates_the_folders_of_a_new_path(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _file(ctx, "load")
    moved = files.update_file(
        ctx, file_id=view.file_id, file_folder_path="Business Flow/sales/SQL/x", **WS
    )
    assert moved.file_folder_id == _folder(ctx, "Business Flow/sales/SQL/x").folder_id
    assert _children(ctx, "Business Flow/sales") == [
        "Business Flow/sales/SQL",
        "Business Flow/sales/Shell",
    ]


def test_create_business_creates_its_folder_and_list_folders_walks_the_tree(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.create_business(ctx, business_name="audit", **WS)
    _file(ctx, "load", "业务流程/sales/x")
    assert _children(ctx, "/") == ["Business Flow", "业务流程"]
    assert _children(ctx, "Business Flow") == ["Business Flow/audit", "Business Flow/sales"]
    assert _children(ctx, "业务流程/sales") == ["业务流程/sales/x"]
    assert _children(ctx, "Business Flow/audit") == []


def test_list_folders_pages_in_path_order(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    for name in ("c", "a", "b"):
        folders.create_folder(ctx, folder_path=f"Business Flow/sales/{name}", **WS)
    page = folders.list_folders(
        ctx, parent_folder_path="Business Flow/sales", page_number=2, page_size=2, **WS
    )
    assert [f.folder_path for f in page.items] == ["Business Flow/sales/c"]
    assert (page.page_number, page.page_size, page.total_count) == (2, 2, 3)


def test_list_folders_answers_nothing_given_a_root_without_folders(
    ctx: ServiceContext, project: ProjectView
) -> None:
    assert _children(ctx, "Business_process") == []


def test_list_folders_fails_given_a_parent_that_is_no_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(NotFound) as info:
        _children(ctx, "Business Flow/sales/nothing")
    assert (info.value.code, info.value.message) == (
        "Invalid.Folder.NotExists",
        "The folder ParentFolderPath='Business Flow/sales/nothing' does not exist in "
        "workspace 'demo'.",
    )


def test_list_folders_fails_given_no_parent(ctx: ServiceContext, project: ProjectView) -> None:
    with pytest.raises(MissingParameter) as info:
        folders.list_folders(ctx, parent_folder_path="", **WS)
    assert info.value.parameter == "ParentFolderPath"


def test_create_folder_creates_the_missing_parents_given_a_deep_path(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    made = folders.create_folder(ctx, folder_path="Business Flow/sales/a/b/c", **WS)
    assert made == _folder(ctx, "Business Flow/sales/a/b/c")
    assert made.parent_id == _folder(ctx, "Business Flow/sales/a/b").folder_id
    assert _children(ctx, "Business Flow/sales/a") == ["Business Flow/sales/a/b"]


def test_create_folder_fails_given_a_folder_that_exists(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    for path in ("Business Flow/sales/a/", "Business Flow/sales"):
        with pytest.raises(Conflict) as info:
            folders.create_folder(ctx, folder_path=path, **WS)
        assert (info.value.code, info.value.http_status) == ("Invalid.Folder.Duplicate", 409)
    assert info.value.message == (
        "FolderPath='Business Flow/sales' is already a folder of workspace 'demo'."
    )


def test_create_folder_fails_given_a_workflow_that_does_not_exist(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(NotFound) as info:
        folders.create_folder(ctx, folder_path="Business Flow/ghost/a", **WS)
    assert info.value.code == "Invalid.Business.NotExists"
    assert _paths(ctx) == []


def test_create_folder_fails_given_a_path_outside_the_roots(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        folders.create_folder(ctx, folder_path="scripts/a", **WS)
    assert info.value.message == (
        "FolderPath='scripts/a' must start with one of 'Business Flow', '业务流程', "
        "'Business_process'."
    )
    with pytest.raises(MissingParameter):
        folders.create_folder(ctx, folder_path=" ", **WS)


def test_create_folder_fails_given_a_folder_name_too_long(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        folders.create_folder(ctx, folder_path="Business Flow/sales/" + "x" * 257, **WS)
    assert "longer than 256 characters" in info.value.message


def test_get_folder_finds_the_folder_by_id_or_by_path(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    made = folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    by_id = folders.get_folder(ctx, folder_id=made.folder_id, **WS)
    both = folders.get_folder(
        ctx, folder_id=made.folder_id, folder_path="/Business Flow/sales/a/", **WS
    )
    assert by_id == both == made


def test_get_folder_fails_given_an_id_and_a_path_of_different_folders(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    made = folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    with pytest.raises(InvalidParameter) as info:
        folders.get_folder(ctx, folder_id=made.folder_id, folder_path="Business Flow", **WS)
    assert info.value.message == (
        f"FolderId={made.folder_id!r} and FolderPath='Business Flow' name different folders."
    )


def test_get_folder_fails_given_an_unknown_folder_or_one_of_another_workspace(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workspaces.create_project(ctx, project_identifier="other", project_name="Other")
    workflows.create_business(ctx, project_identifier="other", business_name="sales")
    theirs = folders.get_folder(ctx, folder_path="Business Flow/sales", project_identifier="other")
    with pytest.raises(NotFound) as info:
        folders.get_folder(ctx, folder_id=theirs.folder_id, **WS)
    assert (info.value.code, info.value.message) == (
        "Invalid.Folder.NotExists",
        f"The folder FolderId={theirs.folder_id!r} does not exist in workspace 'demo'.",
    )
    with pytest.raises(NotFound):
        _folder(ctx, "Business Flow/sales/none")
    with pytest.raises(MissingParameter) as missing:
        folders.get_folder(ctx, **WS)
    assert missing.value.parameter == "FolderId"


def test_update_folder_renames_it_and_moves_its_subfolders_and_files(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    inside, deeper = (
        _file(ctx, "a", "Business Flow/sales/old"),
        _file(ctx, "b", "Business Flow/sales/old/deep"),
    )
    outside = _file(ctx, "c", "Business Flow/sales/older")
    old = _folder(ctx, "Business Flow/sales/old")
    renamed = folders.update_folder(ctx, folder_id=old.folder_id, folder_name=" new ", **WS)
    assert (renamed.folder_id, renamed.folder_path) == (old.folder_id, "Business Flow/sales/new")
    assert _children(ctx, "Business Flow/sales/new") == ["Business Flow/sales/new/deep"]
    moved = {f.file_name: f for f in files.list_files(ctx, **WS).items}
    assert moved["a"].file_folder_path == "Business Flow/sales/new"
    assert moved["b"].file_folder_path == "Business Flow/sales/new/deep"
    assert moved["c"].file_folder_path == "Business Flow/sales/older"
    assert (moved["a"].file_folder_id, moved["b"].file_folder_id, moved["c"].file_folder_id) == (
        inside.file_folder_id,
        deeper.file_folder_id,
        outside.file_folder_id,
    )
    assert "Business Flow/sales/old" not in _paths(ctx)


def test_update_and_delete_folder_tell_folders_apart_by_case(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _file(ctx, "upper", "Business Flow/sales/A/x")
    lower = folders.create_folder(ctx, folder_path="Business Flow/sales/a/x", **WS)
    folders.delete_folder(ctx, folder_id=lower.folder_id, **WS)
    parent = _folder(ctx, "Business Flow/sales/a")
    folders.update_folder(ctx, folder_id=parent.folder_id, folder_name="b", **WS)
    assert files.list_files(ctx, **WS).items[0].file_folder_path == "Business Flow/sales/A/x"
    assert _children(ctx, "Business Flow/sales") == [
        "Business Flow/sales/A",
        "Business Flow/sales/b",
    ]


def test_update_folder_fails_given_a_name_taken_by_a_sibling(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    a = folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    folders.create_folder(ctx, folder_path="Business Flow/sales/b", **WS)
    with pytest.raises(Conflict) as info:
        folders.update_folder(ctx, folder_id=a.folder_id, folder_name="b", **WS)
    assert (info.value.code, info.value.message) == (
        "Invalid.Folder.Duplicate",
        "FolderPath='Business Flow/sales/b' is already a folder of workspace 'demo'.",
    )


def test_update_folder_fails_given_a_name_with_a_slash_or_none(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    a = folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    with pytest.raises(InvalidParameter) as info:
        folders.update_folder(ctx, folder_id=a.folder_id, folder_name="x/y", **WS)
    assert info.value.message == "FolderName='x/y' must be at most 256 characters without '/'."
    with pytest.raises(MissingParameter):
        folders.update_folder(ctx, folder_id=a.folder_id, folder_name="", **WS)


def test_update_and_delete_folder_refuse_a_root_and_a_workflow_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    root, wf = _folder(ctx, "Business Flow"), _folder(ctx, "Business Flow/sales")
    with pytest.raises(InvalidParameter) as renaming:
        folders.update_folder(ctx, folder_id=wf.folder_id, folder_name="x", **WS)
    assert renaming.value.message == (
        f"FolderId={wf.folder_id!r} is the folder of workflow 'sales'; it is renamed with its "
        "workflow (UpdateBusiness)."
    )
    with pytest.raises(InvalidParameter) as deleting:
        folders.delete_folder(ctx, folder_id=root.folder_id, **WS)
    assert deleting.value.message == (
        f"FolderId={root.folder_id!r} is the root folder 'Business Flow', which cannot be "
        "deleted."
    )
    with pytest.raises(InvalidParameter):
        folders.delete_folder(ctx, folder_id=wf.folder_id, **WS)


def test_delete_folder_removes_an_empty_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    made = folders.create_folder(ctx, folder_path="Business Flow/sales/a", **WS)
    folders.delete_folder(ctx, folder_id=made.folder_id, **WS)
    assert _children(ctx, "Business Flow/sales") == []
    with pytest.raises(NotFound):
        folders.delete_folder(ctx, folder_id=made.folder_id, **WS)


def test_delete_folder_fails_given_a_folder_with_files_or_subfolders(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _file(ctx, "load", "Business Flow/sales/a/b")
    a, b = _folder(ctx, "Business Flow/sales/a"), _folder(ctx, "Business Flow/sales/a/b")
    with pytest.raises(Conflict) as with_file:
        folders.delete_folder(ctx, folder_id=b.folder_id, **WS)
    assert (with_file.value.code, with_file.value.http_status, with_file.value.message) == (
        "Invalid.Folder.Status",
        409,
        "The folder 'Business Flow/sales/a/b' still holds files ('load'); move or delete them "
        "first.",
    )
    with pytest.raises(Conflict) as with_files_below:
        folders.delete_folder(ctx, folder_id=a.folder_id, **WS)
    assert "still holds files ('load')" in with_files_below.value.message
    files.delete_file(ctx, file_id=files.list_files(ctx, **WS).items[0].file_id, **WS)
    with pytest.raises(Conflict) as with_subfolder:
        folders.delete_folder(ctx, folder_id=a.folder_id, **WS)
    assert with_subfolder.value.message == (
        "The folder 'Business Flow/sales/a' still has subfolders ('Business Flow/sales/a/b'); "
        "delete them first."
    )
    folders.delete_folder(ctx, folder_id=b.folder_id, **WS)
    folders.delete_folder(ctx, folder_id=a.folder_id, **WS)


def test_renaming_a_workflow_moves_its_folders_and_deleting_it_removes_them(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _file(ctx, "load", "Business Flow/sales/a")
    own = _folder(ctx, "Business Flow/sales")
    workflows.update_business(ctx, business_id=flow.business_id, business_name="revenue", **WS)
    assert _folder(ctx, "Business Flow/revenue").folder_id == own.folder_id
    assert _folder(ctx, "Business Flow/revenue/a").folder_id == view.file_folder_id
    assert files.get_file(ctx, file_id=view.file_id, **WS).file_folder_id == view.file_folder_id
    files.delete_file(ctx, file_id=view.file_id, **WS)
    workflows.delete_business(ctx, business_id=flow.business_id, **WS)
    assert _paths(ctx) == ["Business Flow"]


def test_get_file_creates_the_folders_of_a_store_made_before_folders_existed(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _file(ctx, "load", "Business Flow/sales/a")
    _forget_folders(ctx)
    got = files.get_file(ctx, file_id=view.file_id, **WS)
    assert got.file_folder_id == _folder(ctx, "Business Flow/sales/a").folder_id
    assert _paths(ctx) == ["Business Flow", "Business Flow/sales", "Business Flow/sales/a"]


def test_list_files_creates_the_folders_of_a_store_made_before_folders_existed(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _file(ctx, "a", "Business Flow/sales/a")
    _file(ctx, "b", "Business_process/sales/b")
    _forget_folders(ctx)
    listed = files.list_files(ctx, **WS).items
    assert [f.file_folder_id for f in listed] == [
        _folder(ctx, "Business Flow/sales/a").folder_id,
        _folder(ctx, "Business_process/sales/b").folder_id,
    ]


def test_list_folders_shows_the_workflows_of_a_store_made_before_folders_existed(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.create_business(ctx, business_name="audit", **WS)
    _forget_folders(ctx)
    assert _children(ctx, "Business Flow") == ["Business Flow/audit", "Business Flow/sales"]
    folders.backfill(ctx, project.project_id)  # nothing left to do
    assert len(_paths(ctx)) == 3


def test_ensure_folder_keeps_one_folder_given_a_path_created_twice(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with ctx.db.transaction() as session:
        first = folders.ensure_folder(session, project.project_id, "Business Flow/sales/x", 1)
        again = folders.ensure_folder(session, project.project_id, "Business Flow/sales/x/", 2)
        assert first.id == again.id
    assert _paths(ctx).count("Business Flow/sales/x") == 1
