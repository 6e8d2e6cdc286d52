"""File versions (ListFileVersions, GetFileVersion), comparing versions, and the deployment
history of a workspace (ListDeployments)."""

from __future__ import annotations

import pytest

from opcenter.domain.model import DeploymentStatus, UseType
from opcenter.errors import Conflict, InvalidParameter, NotFound
from opcenter.service import deployments, files, versions
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.files import VERSIONED_FIELDS
from opcenter.service.views import BusinessView, FileView, ProjectView

WS = {"project_identifier": "demo"}


def _file(
    ctx: ServiceContext, name: str = "load", project: str = "demo", **fields: object
) -> FileView:
    fields.setdefault("content", "echo 1\n")
    fields.setdefault("input_list", f"{project}_root")
    return files.create_file(
        ctx,
        project_identifier=project,
        file_name=name,
        file_folder_path="Business Flow/sales",
        file_type=6,
        **fields,  # type: ignore[arg-type]
    )


def _edit(ctx: ServiceContext, file: FileView, **fields: object) -> None:
    files.update_file(ctx, file_id=file.file_id, **fields, **WS)  # type: ignore[arg-type]


def _submit(ctx: ServiceContext, file: FileView, comment: str = "", who: str = "root") -> None:
    deployments.submit_file(
        ctx, file_id=file.file_id, comment=comment, caller=Caller(name=who), **WS
    )


def _deploy(ctx: ServiceContext, file: FileView) -> None:
    deployments.deploy_file(ctx, file_id=file.file_id, **WS)


def _three_versions(ctx: ServiceContext) -> FileView:
    """Version 1 deployed, version 2 deployed (PROD runs it), version 3 submitted only."""
    f = _file(ctx)
    _submit(ctx, f, "first", who="ann")
    _deploy(ctx, f)
    _edit(ctx, f, content="echo 2\n", para_value="a=1")
    _submit(ctx, f, "second")
    _deploy(ctx, f)
    _edit(ctx, f, content="echo 3\n")
    _submit(ctx, f, "third")
    return f


def test_list_file_versions_lists_newest_first_with_status_and_prod(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    page = versions.list_file_versions(ctx, file_id=f.file_id, **WS)
    assert page.total_count == 3
    assert [
        (v.file_version, v.status, v.is_current_prod, v.change_type, v.comment) for v in page.items
    ] == [
        (3, "COMMITTED", False, "UPDATE", "third"),
        (2, "DEPLOYED", True, "UPDATE", "second"),
        (1, "DEPLOYED", False, "CREATE", "first"),
    ]
    oldest = page.items[-1]
    assert (oldest.content, oldest.para_value, oldest.commit_user) == ("echo 1\n", "", "ann")
    assert (oldest.file_name, oldest.file_type, oldest.program_type) == ("load", 6, "DIDE_SHELL")
    assert (oldest.business_id, oldest.workflow_name, oldest.use_type) == (
        flow.business_id,
        "sales",
        UseType.MANUAL_BIZ,
    )
    assert oldest.input_list == ("demo_root",) and oldest.output_list == ("demo.load",)
    assert oldest.node_id == files.get_file(ctx, file_id=f.file_id, **WS).node_id
    assert page.items[1].commit_time >= oldest.commit_time > 0


def test_list_file_versions_pages(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    page = versions.list_file_versions(ctx, file_id=f.file_id, page_number=2, page_size=2, **WS)
    assert [v.file_version for v in page.items] == [1]
    assert (page.page_number, page.page_size, page.total_count) == (2, 2, 3)
    with pytest.raises(InvalidParameter):
        versions.list_file_versions(ctx, file_id=f.file_id, page_size=101, **WS)


def test_list_file_versions_answers_nothing_given_a_file_never_submitted(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    page = versions.list_file_versions(ctx, file_id=_file(ctx).file_id, **WS)
    assert (page.items, page.total_count) == ((), 0)


def test_a_submit_of_a_basic_workspace_deploys_the_version(
    ctx: ServiceContext, basic_project: ProjectView, basic_flow: BusinessView
) -> None:
    f = _file(ctx, project="lite")
    deployments.submit_file(ctx, file_id=f.file_id, project_identifier="lite")
    got = versions.get_file_version(
        ctx, file_id=f.file_id, file_version=1, project_identifier="lite"
    )
    assert (got.status, got.is_current_prod) == ("DEPLOYED", True)


def test_get_file_version_shows_one_version(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    got = versions.get_file_version(ctx, file_id=f.file_id, file_version=2, **WS)
    assert got == versions.list_file_versions(ctx, file_id=f.file_id, **WS).items[1]


def test_get_file_version_fails_given_a_version_the_file_does_not_have(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    _submit(ctx, f)
    with pytest.raises(NotFound) as info:
        versions.get_file_version(ctx, file_id=f.file_id, file_version=2, **WS)
    assert (info.value.code, info.value.http_status, info.value.message) == (
        "Invalid.FileVersion.NotExists",
        404,
        f"The file FileId={f.file_id} ('load') has no version FileVersion=2.",
    )
    with pytest.raises(InvalidParameter) as bad:
        versions.get_file_version(ctx, file_id=f.file_id, file_version=0, **WS)
    assert bad.value.message == "FileVersion=0 must be a version number from 1."


def test_file_versions_fail_given_a_deleted_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    _submit(ctx, f)
    files.delete_file(ctx, file_id=f.file_id, **WS)
    with pytest.raises(NotFound) as info:
        versions.list_file_versions(ctx, file_id=f.file_id, **WS)
    assert info.value.code == "Invalid.File.NotExists"


# --- comparing -----------------------------------------------------------------------------


def test_compare_shows_the_draft_against_the_newest_version_given_a_changed_draft(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    _submit(ctx, f)
    _edit(ctx, f, content="echo 1\necho more\n", input_list="demo_root,demo.x")
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert (got.old, got.new, got.old_label, got.new_label) == (1, None, "v1", "draft")
    assert got.code_diff == ("--- load v1\n+++ load draft\n@@ -1 +1,2 @@\n echo 1\n+echo more\n")
    assert got.settings_diff == (
        "--- load v1 settings\n+++ load draft settings\n@@ -1 +1,2 @@\n"
        " input_list: demo_root\n+input_list: demo.x\n"
    )
    assert got.settings == (versions.SettingChange("input_list", "demo_root", "demo_root, demo.x"),)
    assert not got.same


def test_compare_shows_the_draft_against_the_newest_version_given_several_versions(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    _edit(ctx, f, content="echo 4\n")
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert (got.old, got.new) == (3, None)
    assert got.code_diff.splitlines()[3:] == ["-echo 3", "+echo 4"]


def test_compare_shows_the_two_newest_versions_given_a_clean_draft(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert (got.old, got.new) == (2, 3)
    assert got.code_diff.splitlines()[3:] == ["-echo 2", "+echo 3"]
    assert got.settings == ()


def test_compare_answers_no_difference_given_one_version_and_a_clean_draft(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    _submit(ctx, f)
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert (got.old, got.new, got.same, got.code_diff, got.settings_diff) == (
        1,
        None,
        True,
        "",
        "",
    )


def test_compare_compares_the_versions_asked_for(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    _edit(ctx, f, content="echo draft\n", owner="bob")
    one_two = versions.compare_file_versions(ctx, file_id=f.file_id, old=1, new=2, **WS)
    one_draft = versions.compare_file_versions(ctx, file_id=f.file_id, old=1, **WS)
    draft_three = versions.compare_file_versions(
        ctx, file_id=f.file_id, old=None, new=3, old_given=True, **WS
    )
    assert [s.name for s in one_two.settings] == ["para_value"]
    assert one_two.settings_diff.splitlines()[3:] == ["-para_value:", "+para_value: a=1"]
    assert [(s.name, s.old, s.new) for s in one_draft.settings] == [
        ("para_value", "", "a=1"),
        ("owner", "root", "bob"),
    ]
    assert (draft_three.old_label, draft_three.new_label) == ("draft", "v3")
    assert draft_three.code_diff.splitlines()[3:] == ["-echo draft", "+echo 3"]


def test_compare_marks_a_last_line_without_a_newline(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    _submit(ctx, f)
    _edit(ctx, f, content="echo 1")
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert got.code_diff.splitlines()[2:] == [
        "@@ -1 +1 @@",
        "-echo 1",
        "+echo 1",
        "\\ No newline at end of file",
    ]


def test_compare_fails_given_a_file_never_submitted_or_a_missing_version(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx)
    with pytest.raises(Conflict) as never:
        versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert (never.value.code, never.value.message) == (
        "Invalid.File.Status",
        f"The file FileId={f.file_id} ('load') has never been submitted: it has no version to "
        "compare.",
    )
    _submit(ctx, f)
    with pytest.raises(NotFound) as missing:
        versions.compare_file_versions(ctx, file_id=f.file_id, old=1, new=4, **WS)
    assert missing.value.message == f"The file FileId={f.file_id} ('load') has no version V2=4."
    with pytest.raises(InvalidParameter):
        versions.compare_file_versions(ctx, file_id=f.file_id, new=1, **WS)


def test_compare_covers_every_versioned_field() -> None:
    compared = {"timeout_hours" if s == "timeout" else s for s in versions.SETTINGS}
    compared |= {"content", "name", "description", "workflow_id"}
    assert set(VERSIONED_FIELDS) <= compared | {"file_name", "file_description", "workflow"}


def test_compare_shows_a_moved_file_by_its_workflow_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    from opcenter.service import workflows

    workflows.create_business(ctx, business_name="audit", **WS)
    f = _file(ctx)
    _submit(ctx, f)
    _edit(ctx, f, file_folder_path="Business Flow/audit", file_name="load2")
    got = versions.compare_file_versions(ctx, file_id=f.file_id, **WS)
    assert [(s.name, s.old, s.new) for s in got.settings] == [
        ("file_name", "load", "load2"),
        ("workflow", "sales", "audit"),
    ]


# --- deployment history ----------------------------------------------------------------------


def test_list_deployments_lists_submits_deploys_and_removals_newest_first(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _three_versions(ctx)
    gone = _file(ctx, "gone")
    _submit(ctx, gone, who="bob")
    files.delete_file(ctx, file_id=gone.file_id, **WS)
    page = deployments.list_deployments(ctx, **WS)
    assert [d.name for d in page.items] == [
        "delete gone",
        "submit gone v1",
        "submit load v3",
        "deploy load v2",
        "submit load v2",
        "deploy load v1",
        "submit load v1",
    ]
    assert page.total_count == 7
    first = page.items[-1]
    assert (first.file_id, first.file_version, first.creator, first.status) == (
        f.file_id,
        1,
        "ann",
        DeploymentStatus.SUCCESS,
    )
    assert first == deployments.get_deployment(ctx, deployment_id=first.deployment_id, **WS)


def test_list_deployments_filters_by_name_creator_status_and_time(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _three_versions(ctx)
    everything = deployments.list_deployments(ctx, **WS).items

    def names(**filters: object) -> list[str]:
        page = deployments.list_deployments(ctx, **filters, **WS)  # type: ignore[arg-type]
        return [d.name for d in page.items]

    assert names(keyword="deploy") == ["deploy load v2", "deploy load v1"]
    assert names(creator="ann") == names(executor="ann") == ["submit load v1"]
    assert len(names(status=1)) == 5 and names(status=2) == []
    second = everything[-2]
    assert names(end_create_time=second.created_at)[-2:] == ["deploy load v1", "submit load v1"]
    assert names(end_execute_time=0) == []
    paged = deployments.list_deployments(ctx, page_number=3, page_size=2, **WS)
    assert [d.name for d in paged.items] == ["submit load v1"]


def test_list_deployments_shows_only_the_workspace_asked_for(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView, basic_flow: BusinessView
) -> None:
    f = _file(ctx, project="lite")
    deployments.submit_file(ctx, file_id=f.file_id, project_identifier="lite")
    assert deployments.list_deployments(ctx, **WS).total_count == 0
    assert deployments.list_deployments(ctx, project_identifier="lite").total_count == 1


def test_list_deployments_fails_given_an_unknown_status_or_a_negative_time(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as status:
        deployments.list_deployments(ctx, status=3, **WS)
    assert status.value.message == "Status=3 is not one of 0, 1, 2, 6."
    with pytest.raises(InvalidParameter) as time:
        deployments.list_deployments(ctx, end_create_time=-1, **WS)
    assert time.value.message == "EndCreateTime=-1 must be epoch milliseconds, at least 0."
