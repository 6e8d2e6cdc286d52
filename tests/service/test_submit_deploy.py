from __future__ import annotations

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DeploymentStatus, Env
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service import deployments, files, nodes, workflows
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.views import BusinessView, FileView, ProjectView
from opcenter.store.tables import FileVersion, Node


def _file(ctx: ServiceContext, name: str, inputs: str = "", **fields: object) -> FileView:
    fields.setdefault("file_folder_path", "Business Flow/sales")
    fields.setdefault("file_type", 6)
    project = fields.pop("project", "demo")
    return files.create_file(
        ctx,
        project_identifier=project,  # type: ignore[arg-type]
        file_name=name,
        content=f"echo {name}",
        output_list=name,
        input_list=inputs,
        **fields,  # type: ignore[arg-type]
    )


def _submit(ctx: ServiceContext, file: FileView, project: str = "demo"):
    return deployments.submit_file(ctx, project_identifier=project, file_id=file.file_id)


def _count(ctx: ServiceContext, table: type) -> int:
    with ctx.db.transaction() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_submit_file_assigns_a_node_and_releases_to_dev_given_a_standard_workspace(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a", "demo_root")
    dep = deployments.submit_file(
        ctx, project_id=project.project_id, file_id=f.file_id, caller=Caller(name="fay")
    )
    view = files.get_file(ctx, project_id=project.project_id, file_id=f.file_id)
    assert view.node_id is not None and view.node_id > 0
    assert (view.current_version, view.commit_status) == (1, 1)
    assert (dep.node_id, dep.file_id, dep.file_version) == (view.node_id, f.file_id, 1)
    assert (dep.name, dep.from_env, dep.to_env) == ("submit a v1", "LOCAL", "DEV")
    assert (dep.status, dep.creator, dep.project_id) == (
        DeploymentStatus.SUCCESS,
        "fay",
        project.project_id,
    )
    node = nodes.get_node(ctx, node_id=view.node_id, project_env="DEV")
    assert (node.node_name, node.file_version, node.env) == ("a", 1, Env.DEV)
    with pytest.raises(NotFound) as info:
        nodes.get_node(ctx, node_id=view.node_id, project_env="PROD")
    assert (
        info.value.message == f"The node NodeId={view.node_id} does not exist in ProjectEnv='PROD'."
    )


def test_submit_file_changes_nothing_given_an_unchanged_draft(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a")
    first = _submit(ctx, f)
    again = _submit(ctx, f)
    assert again == first
    assert _count(ctx, FileVersion) == 1


def test_submit_file_makes_a_new_version_with_the_same_node_given_a_changed_draft(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a")
    first = _submit(ctx, f)
    files.update_file(ctx, project_identifier="demo", file_id=f.file_id, content="echo v2")
    assert files.get_file(ctx, project_identifier="demo", file_id=f.file_id).commit_status == 0
    second = _submit(ctx, f)
    assert (second.node_id, second.file_version) == (first.node_id, 2)
    assert second.deployment_id > first.deployment_id
    assert nodes.get_node_code(ctx, node_id=first.node_id, project_env="DEV") == "echo v2"


def test_submit_file_releases_to_prod_given_a_basic_workspace(
    ctx: ServiceContext, basic_project: ProjectView, basic_flow: BusinessView
) -> None:
    f = _file(ctx, "a", project="lite")
    dep = _submit(ctx, f, project="lite")
    assert (dep.from_env, dep.to_env) == ("LOCAL", "PROD")
    assert nodes.get_node(ctx, node_id=dep.node_id, project_env="PROD").file_version == 1
    with pytest.raises(InvalidParameter) as info:
        nodes.get_node(ctx, node_id=dep.node_id, project_env="DEV")
    assert info.value.message == (
        "ProjectEnv='DEV' is not available: workspace 'lite' is in basic mode, which has PROD only."
    )
    # DeployFile on a basic workspace: PROD already runs the version; nothing changes.
    assert deployments.deploy_file(ctx, project_identifier="lite", file_id=f.file_id) == dep


def test_submit_file_fails_and_changes_nothing_given_an_unsupported_file_type(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "sync", file_type=23)
    with pytest.raises(InvalidParameter) as info:
        _submit(ctx, f)
    assert info.value.message == (
        "FileType=23 of file 'sync' is not supported for running; supported types: "
        "6 (DIDE_SHELL), 10 (ODPS_SQL), 99 (VIRTUAL), 1322 (PYTHON)."
    )
    assert files.get_file(ctx, project_identifier="demo", file_id=f.file_id).node_id is None
    assert (_count(ctx, Node), _count(ctx, FileVersion)) == (0, 0)


def test_submit_file_fails_given_an_input_no_file_of_the_workflow_produces(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    workflows.create_business(ctx, project_identifier="demo", business_name="hr")
    _file(ctx, "elsewhere", file_folder_path="Business Flow/hr")
    f = _file(ctx, "a", "elsewhere")
    with pytest.raises(InvalidParameter) as info:
        _submit(ctx, f)
    assert info.value.message == (
        "InputList entry 'elsewhere' of file 'a' is not the output of any file in workflow "
        "'sales' (nor the root 'demo_root')."
    )
    assert _count(ctx, FileVersion) == 0


def test_submit_file_accepts_an_upstream_draft_given_it_is_in_the_same_workflow(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    _file(ctx, "up")
    down = _file(ctx, "down", "up,demo_root")
    assert _submit(ctx, down).file_version == 1


def test_submit_file_fails_naming_the_cycle_given_files_that_depend_on_each_other(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    a = _file(ctx, "a", "c")
    b = _file(ctx, "b", "a")
    c = _file(ctx, "c", "b")
    _submit(ctx, b)
    _submit(ctx, c)
    with pytest.raises(InvalidParameter) as info:
        _submit(ctx, a)
    assert (
        info.value.message == "Submitting file 'a' would make a dependency cycle: a -> b -> c -> a."
    )
    assert files.get_file(ctx, project_identifier="demo", file_id=a.file_id).node_id is None


def test_submit_file_fails_given_a_file_that_depends_on_itself(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    a = _file(ctx, "a", "a")
    with pytest.raises(InvalidParameter) as info:
        _submit(ctx, a)
    assert info.value.message == "Submitting file 'a' would make a dependency cycle: a -> a."


def test_deploy_file_releases_the_latest_submitted_version_to_prod(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a")
    submitted = _submit(ctx, f)
    files.update_file(ctx, project_identifier="demo", file_id=f.file_id, content="draft only")
    dep = deployments.deploy_file(
        ctx, project_identifier="demo", node_id=submitted.node_id, caller=Caller(name="gus")
    )
    assert (dep.name, dep.from_env, dep.to_env, dep.file_version) == (
        "deploy a v1",
        "DEV",
        "PROD",
        1,
    )
    assert (dep.status, dep.creator) == (DeploymentStatus.SUCCESS, "gus")
    assert nodes.get_node_code(ctx, node_id=dep.node_id, project_env="PROD") == "echo a"
    assert (
        deployments.get_deployment(ctx, project_identifier="demo", deployment_id=dep.deployment_id)
        == dep
    )
    again = deployments.deploy_file(ctx, project_identifier="demo", file_id=f.file_id)
    assert again == dep


def test_deploy_file_fails_given_a_never_submitted_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a")
    with pytest.raises(Conflict) as info:
        deployments.deploy_file(ctx, project_identifier="demo", file_id=f.file_id)
    assert (info.value.code, info.value.http_status) == ("Invalid.File.Status", 409)
    assert info.value.message == (
        f"The file FileId={f.file_id} ('a') has never been submitted; submit it before deploying."
    )


def test_deploy_file_fails_given_neither_file_nor_node(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(MissingParameter) as info:
        deployments.deploy_file(ctx, project_identifier="demo")
    assert info.value.parameter == "FileId"


def test_deploy_file_fails_given_a_version_that_closes_a_cycle_in_prod(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    # Given a -> b deployed, then b stops depending on a and a starts depending on b in DEV.
    a = _file(ctx, "a")
    b = _file(ctx, "b", "a")
    for f in (a, b):
        _submit(ctx, f)
        deployments.deploy_file(ctx, project_identifier="demo", file_id=f.file_id)
    files.update_file(ctx, project_identifier="demo", file_id=b.file_id, input_list="demo_root")
    _submit(ctx, b)
    files.update_file(ctx, project_identifier="demo", file_id=a.file_id, input_list="b")
    _submit(ctx, a)
    # When a is deployed before b, PROD would hold a cycle.
    with pytest.raises(InvalidParameter) as info:
        deployments.deploy_file(ctx, project_identifier="demo", file_id=a.file_id)
    assert info.value.message == (
        "Deploying file 'a' would make a dependency cycle: a -> b -> a. Deploy the other files "
        "first."
    )
    deployments.deploy_file(ctx, project_identifier="demo", file_id=b.file_id)
    assert (
        deployments.deploy_file(ctx, project_identifier="demo", file_id=a.file_id).file_version == 2
    )


def test_get_deployment_fails_given_an_unknown_id(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(NotFound) as info:
        deployments.get_deployment(ctx, project_identifier="demo", deployment_id=5)
    assert (info.value.code, info.value.http_status) == ("Invalid.Deployment.NotExists", 404)
    assert info.value.message == "The deployment DeploymentId=5 does not exist in workspace 'demo'."


def test_delete_file_takes_the_node_out_of_every_env_given_a_deployed_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    f = _file(ctx, "a")
    node_id = _submit(ctx, f).node_id
    deployments.deploy_file(ctx, project_identifier="demo", file_id=f.file_id)
    dep_id = files.delete_file(ctx, project_identifier="demo", file_id=f.file_id)
    assert dep_id is not None
    dep = deployments.get_deployment(ctx, project_identifier="demo", deployment_id=dep_id)
    assert (dep.name, dep.node_id, dep.to_env) == ("delete a", node_id, "PROD")
    for env in ("DEV", "PROD"):
        with pytest.raises(NotFound):
            nodes.get_node(ctx, node_id=node_id, project_env=env)
    # A new file of the same name gets a new node id: ids are never reused.
    again = _submit(ctx, _file(ctx, "a"))
    assert again.node_id > node_id
