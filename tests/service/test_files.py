from __future__ import annotations

import pytest

from opcenter.domain.model import UseType
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import deployments, files, workflows
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.views import BusinessView, ProjectView


def _create(ctx: ServiceContext, name: str = "load", **fields: object):
    fields.setdefault("file_folder_path", "Business Flow/sales/Shell")
    fields.setdefault("file_type", 6)
    return files.create_file(ctx, project_identifier="demo", file_name=name, **fields)  # type: ignore[arg-type]


def test_create_file_stores_every_field_given_a_full_request(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _create(
        ctx,
        content="echo $1",
        para_value="dt=$bizdate x",
        output_list="demo.load_out,demo.extra",
        input_list="demo_root",
        dependent_type="USER_DEFINE",
        dependent_node_id_list="12,13",
        rerun_mode="FAILURE_ALLOWED",
        auto_rerun_times=3,
        auto_rerun_interval_millis=60000,
        timeout=2,
        file_description="loads",
        owner="dave",
    )
    assert view.file_id > 0
    assert (view.project_id, view.business_id) == (project.project_id, flow.business_id)
    assert view.use_type is UseType.MANUAL_BIZ
    assert (view.file_name, view.file_folder_path, view.file_type) == (
        "load",
        "Business Flow/sales/Shell",
        6,
    )
    assert (view.content, view.para_value) == ("echo $1", "dt=$bizdate x")
    assert view.output_list == ("demo.load_out", "demo.extra")
    assert view.input_list == ("demo_root",)
    assert (view.dependent_type, view.dependent_node_id_list) == ("USER_DEFINE", "12,13")
    assert (view.rerun_mode, view.auto_rerun_times, view.auto_rerun_interval_millis) == (
        "FAILURE_ALLOWED",
        3,
        60000,
    )
    assert (view.timeout, view.scheduler_type, view.priority) == (2, "MANUAL", 1)
    assert (view.file_description, view.owner, view.program_type) == ("loads", "dave", "DIDE_SHELL")
    assert (view.node_id, view.current_version, view.commit_status) == (None, None, 0)
    assert files.get_file(ctx, project_id=project.project_id, file_id=view.file_id) == view


def test_create_file_derives_the_default_output_given_no_output_list(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _create(ctx, caller=Caller(name="erin"))
    assert view.output_list == ("demo.load",)
    assert view.input_list == ()
    assert view.owner == "erin"


def test_create_file_ties_the_file_to_its_workflow_given_any_folder_root(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    for n, root in enumerate(["Business Flow", "业务流程", "Business_process"]):
        view = _create(ctx, f"f{n}", file_folder_path=f"/{root}/sales/deep/er/")
        assert view.business_id == flow.business_id
        assert view.file_folder_path == f"{root}/sales/deep/er"


def test_create_file_uses_normal_scheduling_given_a_normal_workflow(
    ctx: ServiceContext, project: ProjectView
) -> None:
    workflows.create_business(
        ctx, project_id=project.project_id, business_name="cyc", use_type="NORMAL"
    )
    view = _create(ctx, file_folder_path="Business Flow/cyc")
    assert (view.scheduler_type, view.use_type) == ("NORMAL", UseType.NORMAL)


def test_create_file_fails_given_an_unknown_workflow(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(NotFound) as info:
        _create(ctx, file_folder_path="Business Flow/ghost/Shell")
    assert (info.value.code, info.value.http_status) == ("Invalid.Business.NotExists", 404)
    assert info.value.message == (
        "The workflow BusinessName='ghost' does not exist in workspace 'demo'."
    )


def test_create_file_fails_given_a_folder_outside_any_workflow(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    for path in ["Shell/load", "Business Flow", "Data/sales/x"]:
        with pytest.raises(InvalidParameter) as info:
            _create(ctx, file_folder_path=path)
        assert info.value.message.startswith(f"FileFolderPath={path!r} must start with one of")


def test_create_file_fails_given_no_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(MissingParameter) as info:
        _create(ctx, file_folder_path="")
    assert info.value.parameter == "FileFolderPath"


def test_create_file_fails_given_a_taken_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _create(ctx)
    with pytest.raises(Conflict) as info:
        _create(ctx, output_list="other")
    assert (info.value.code, info.value.http_status) == ("Invalid.File.Duplicate", 409)
    assert info.value.message == "FileName='load' is already a file of workspace 'demo'."


def test_create_file_fails_given_an_output_of_another_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _create(ctx)
    with pytest.raises(Conflict) as info:
        _create(ctx, "copy", output_list="demo.load")
    assert info.value.code == "Invalid.File.Duplicate"
    assert info.value.message == "OutputList entry 'demo.load' is already an output of file 'load'."


def test_create_file_fails_given_the_root_as_an_output(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        _create(ctx, output_list="demo_root")
    assert info.value.message == "OutputList must not name the workspace root 'demo_root'."


def test_create_file_fails_given_a_para_value_piece_with_a_bad_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        _create(ctx, para_value="ok=1 ${x}=2")
    assert info.value.message.startswith(
        'ParaValue: Invalid parameter "${x}=2": bad parameter name'
    )
    assert files.list_files(ctx, project_id=project.project_id).total_count == 0


def test_create_file_fails_given_a_para_value_with_a_malformed_expression(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        _create(ctx, para_value="dt=$[yyyymmdd-x]")
    assert info.value.message.startswith('ParaValue: Invalid parameter "dt=$[yyyymmdd-x]"')


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "rerun_mode",
            "SOMETIMES",
            "RerunMode='SOMETIMES' is not one of ALL_ALLOWED, " "FAILURE_ALLOWED, ALL_DENIED.",
        ),
        ("auto_rerun_times", 11, "AutoRerunTimes=11 must be an integer from 0 to 10."),
        (
            "auto_rerun_interval_millis",
            1_800_001,
            "AutoRerunIntervalMillis=1800001 must be an integer from 0 to 1800000.",
        ),
        ("timeout", -1, "Timeout=-1 must be an integer from 0 to 168."),
        (
            "scheduler_type",
            "DAILY",
            "SchedulerType='DAILY' is not one of NORMAL, MANUAL, " "PAUSE, SKIP.",
        ),
        (
            "dependent_type",
            "ALL",
            "DependentType='ALL' is not one of NONE, SELF, CHILD, "
            "USER_DEFINE, USER_DEFINE_AND_SELF, CHILD_AND_SELF.",
        ),
        ("dependent_node_id_list", "1,x", "DependentNodeIdList entry 'x' is not a node id."),
        ("file_type", 0, "FileType=0 must be a positive integer code."),
        ("input_list", "a,a", "InputList names 'a' more than once."),
    ],
)
def test_create_file_fails_given_an_invalid_field(
    sqlite_ctx: ServiceContext, field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        files.create_file(
            sqlite_ctx,
            project_identifier="demo",
            **{
                "file_name": "x",
                "file_folder_path": "Business Flow/s",
                "file_type": 6,
                field: value,
            },  # type: ignore[arg-type]
        )
    assert info.value.message == message


def test_create_file_accepts_an_unsupported_file_type_given_it_is_only_stored(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _create(ctx, file_type=23)
    assert (view.file_type, view.program_type) == (23, "23")


def test_get_file_finds_the_file_given_its_node_id(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx)
    deployments.submit_file(ctx, project_id=project.project_id, file_id=created.file_id)
    view = files.get_file(ctx, project_id=project.project_id, file_id=created.file_id)
    assert view.node_id is not None
    assert files.get_file(ctx, project_id=project.project_id, node_id=view.node_id) == view


def test_get_file_fails_given_an_unknown_id(ctx: ServiceContext, project: ProjectView) -> None:
    with pytest.raises(NotFound) as info:
        files.get_file(ctx, project_id=project.project_id, file_id=404)
    assert (info.value.code, info.value.http_status) == ("Invalid.File.NotExists", 404)
    assert info.value.message == "The file FileId=404 does not exist in workspace 'demo'."


def test_get_file_fails_given_a_file_of_another_workspace(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView, basic_project: ProjectView
) -> None:
    created = _create(ctx)
    with pytest.raises(NotFound) as info:
        files.get_file(ctx, project_identifier="lite", file_id=created.file_id)
    assert info.value.code == "Invalid.File.NotExists"


def test_list_files_filters_by_folder_keyword_and_type_given_several_files(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.create_business(ctx, project_id=project.project_id, business_name="hr")
    _create(ctx, "load_a", file_folder_path="Business Flow/sales/Shell")
    _create(ctx, "load_b", file_folder_path="Business Flow/sales/SQL", file_type=10)
    _create(ctx, "check", file_folder_path="Business Flow/hr", file_type=99)
    pid = project.project_id

    def names(**filters: object) -> list[str]:
        page = files.list_files(ctx, project_id=pid, **filters)  # type: ignore[arg-type]
        return [f.file_name for f in page.items]

    assert names() == ["load_a", "load_b", "check"]
    assert names(file_folder_path="Business Flow/sales") == ["load_a", "load_b"]
    assert names(file_folder_path="Business Flow/sales/SQL") == ["load_b"]
    assert names(keyword="load") == ["load_a", "load_b"]
    assert names(exact_file_name="check") == ["check"]
    assert names(file_types="10,99") == ["load_b", "check"]
    assert names(business_id=flow.business_id) == ["load_a", "load_b"]
    assert names(use_type="MANUAL_BIZ") == ["load_a", "load_b", "check"]
    page = files.list_files(ctx, project_id=pid, page_number=2, page_size=2)
    assert ([f.file_name for f in page.items], page.total_count) == (["check"], 3)


def test_update_file_changes_only_the_given_fields(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx, content="echo 1", para_value="a=1")
    view = files.update_file(
        ctx, project_id=project.project_id, file_id=created.file_id, content="echo 2"
    )
    assert view.content == "echo 2"
    assert (view.para_value, view.output_list, view.file_folder_path) == (
        "a=1",
        ("demo.load",),
        "Business Flow/sales/Shell",
    )


def test_update_file_keeps_the_output_given_a_rename(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx)
    view = files.update_file(
        ctx, project_id=project.project_id, file_id=created.file_id, file_name="ingest"
    )
    assert (view.file_name, view.output_list) == ("ingest", ("demo.load",))
    reset = files.update_file(
        ctx, project_id=project.project_id, file_id=created.file_id, output_list=""
    )
    assert reset.output_list == ("demo.ingest",)


def test_update_file_moves_the_file_given_another_workflow_folder(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    hr = workflows.create_business(ctx, project_id=project.project_id, business_name="hr")
    created = _create(ctx)
    view = files.update_file(
        ctx,
        project_id=project.project_id,
        file_id=created.file_id,
        file_folder_path="业务流程/hr/x",
    )
    assert (view.business_id, view.file_folder_path) == (hr.business_id, "业务流程/hr/x")


def test_update_file_fails_and_changes_nothing_given_a_taken_name(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _create(ctx, "a")
    b = _create(ctx, "b")
    with pytest.raises(Conflict) as info:
        files.update_file(
            ctx, project_id=project.project_id, file_id=b.file_id, file_name="a", content="new"
        )
    assert info.value.code == "Invalid.File.Duplicate"
    assert files.get_file(ctx, project_id=project.project_id, file_id=b.file_id) == b


def test_update_file_fails_given_a_malformed_para_value(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx)
    with pytest.raises(InvalidParameter) as info:
        files.update_file(
            ctx, project_id=project.project_id, file_id=created.file_id, para_value="a=1 a=2"
        )
    assert info.value.message == 'ParaValue: Invalid parameter "a=2": "a" is declared twice'


def test_delete_file_removes_a_draft_given_a_never_submitted_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx)
    assert files.delete_file(ctx, project_id=project.project_id, file_id=created.file_id) is None
    with pytest.raises(NotFound):
        files.get_file(ctx, project_id=project.project_id, file_id=created.file_id)
    again = _create(ctx)  # the name and the output are free again
    assert again.file_id > created.file_id


def test_delete_file_fails_given_an_already_deleted_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    created = _create(ctx)
    files.delete_file(ctx, project_id=project.project_id, file_id=created.file_id)
    with pytest.raises(NotFound) as info:
        files.delete_file(ctx, project_id=project.project_id, file_id=created.file_id)
    assert info.value.code == "Invalid.File.NotExists"


def test_a_file_keeps_its_resource_group_and_its_version_snapshots_it(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    import sqlalchemy as sa

    from opcenter.store.tables import FileVersion

    view = _create(ctx, resource_group="gpu")
    files.update_file(ctx, project_identifier="demo", file_id=view.file_id, resource_group="gpu-2")
    deployments.submit_file(ctx, project_identifier="demo", file_id=view.file_id)
    with ctx.db.transaction(readonly=True) as session:
        stored = session.scalar(
            sa.select(FileVersion.resource_group).where(FileVersion.file_id == view.file_id)
        )
    assert stored == "gpu-2"


def test_update_file_clears_the_resource_group_given_an_empty_one_and_keeps_it_given_none(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    view = _create(ctx, resource_group="gpu")
    assert view.resource_group == "gpu"

    kept = files.update_file(ctx, project_identifier="demo", file_id=view.file_id, content="x")
    cleared = files.update_file(
        ctx, project_identifier="demo", file_id=view.file_id, resource_group=""
    )

    assert (kept.resource_group, cleared.resource_group) == ("gpu", None)
    again = files.get_file(ctx, project_identifier="demo", file_id=view.file_id)
    assert again.resource_group is None


def test_create_file_fails_given_a_resource_group_that_cannot_name_a_queue(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        _create(ctx, resource_group="gpu pool")
    assert info.value.message == (
        "ResourceGroupIdentifier='gpu pool' must be 1 to 128 letters, digits, '_', '.' or '-'."
    )
