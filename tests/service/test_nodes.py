from __future__ import annotations

import pytest

from opcenter.domain.model import Env
from opcenter.errors import InvalidParameter, MissingParameter, NotFound
from opcenter.service import deployments, files, nodes
from opcenter.service.context import ServiceContext
from opcenter.service.views import BusinessView, ProjectView

# A diamond: a feeds b and c, which both feed d.
DIAMOND = [
    ("a", 6, "demo_root"),
    ("b", 1322, "a"),
    ("c", 10, "a"),
    ("d", 99, "b,c"),
]


@pytest.fixture
def diamond(ctx: ServiceContext, project: ProjectView, flow: BusinessView) -> dict[str, int]:
    """Submit the diamond; deploy all but `d`. Returns node ids by name."""
    ids = {}
    for name, file_type, inputs in DIAMOND:
        f = files.create_file(
            ctx,
            project_identifier="demo",
            file_name=name,
            file_folder_path="Business Flow/sales",
            file_type=file_type,
            content=f"-- {name}",
            para_value=f"who={name}",
            output_list=name,
            input_list=inputs,
            rerun_mode="ALL_DENIED" if name == "d" else "ALL_ALLOWED",
        )
        ids[name] = deployments.submit_file(
            ctx, project_identifier="demo", file_id=f.file_id
        ).node_id
        if name != "d":
            deployments.deploy_file(ctx, project_identifier="demo", file_id=f.file_id)
    return ids


def test_get_node_shows_the_released_version_given_a_submitted_file(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView, diamond: dict[str, int]
) -> None:
    node = nodes.get_node(ctx, node_id=diamond["b"], project_env="PROD")
    assert (node.node_id, node.node_name, node.env) == (diamond["b"], "b", Env.PROD)
    assert (node.project_id, node.business_id) == (project.project_id, flow.business_id)
    assert (node.file_type, node.program_type, node.file_version) == (1322, "PYTHON", 1)
    assert (node.para_value, node.scheduler_type, node.priority) == ("who=b", "MANUAL", 1)
    assert (node.output_list, node.input_list) == (("b",), ("a",))
    assert (node.repeatability, node.repeat_mode) == (True, 1)
    d = nodes.get_node(ctx, node_id=diamond["d"], project_env=Env.DEV)
    assert (d.repeatability, d.repeat_mode, d.program_type) == (False, 2, "VIRTUAL")


def test_get_node_fails_given_an_unknown_node(ctx: ServiceContext, project: ProjectView) -> None:
    with pytest.raises(NotFound) as info:
        nodes.get_node(ctx, node_id=123, project_env="PROD")
    assert (info.value.code, info.value.http_status) == ("Invalid.Node.NotExists", 404)
    assert info.value.message == "The node NodeId=123 does not exist."


def test_get_node_fails_given_an_unknown_or_missing_env(
    ctx: ServiceContext, diamond: dict[str, int]
) -> None:
    with pytest.raises(InvalidParameter) as info:
        nodes.get_node(ctx, node_id=diamond["a"], project_env="TEST")
    assert info.value.message == "ProjectEnv='TEST' is not one of DEV, PROD."
    with pytest.raises(MissingParameter) as missing:
        nodes.get_node(ctx, node_id=diamond["a"], project_env="")
    assert missing.value.parameter == "ProjectEnv"


def test_get_node_code_returns_the_code_of_the_env_given_a_newer_dev_version(
    ctx: ServiceContext, diamond: dict[str, int]
) -> None:
    view = files.get_file(ctx, project_identifier="demo", node_id=diamond["a"])
    files.update_file(ctx, project_identifier="demo", file_id=view.file_id, content="-- a2")
    deployments.submit_file(ctx, project_identifier="demo", file_id=view.file_id)
    assert nodes.get_node_code(ctx, node_id=diamond["a"], project_env="DEV") == "-- a2"
    assert nodes.get_node_code(ctx, node_id=diamond["a"], project_env="PROD") == "-- a"


def test_get_node_parents_and_children_follow_the_outputs_given_a_diamond(
    ctx: ServiceContext, diamond: dict[str, int]
) -> None:
    def names(views: tuple) -> list[str]:
        return [v.node_name for v in views]

    assert names(nodes.get_node_parents(ctx, node_id=diamond["d"], project_env="DEV")) == ["b", "c"]
    assert names(nodes.get_node_children(ctx, node_id=diamond["a"], project_env="DEV")) == [
        "b",
        "c",
    ]
    assert names(nodes.get_node_parents(ctx, node_id=diamond["a"], project_env="DEV")) == []
    # d is not deployed: PROD has no child of b.
    assert names(nodes.get_node_children(ctx, node_id=diamond["b"], project_env="PROD")) == []
    assert names(nodes.get_node_children(ctx, node_id=diamond["b"], project_env="DEV")) == ["d"]


def test_list_nodes_lists_the_nodes_of_one_env_given_filters(
    ctx: ServiceContext, project: ProjectView, diamond: dict[str, int]
) -> None:
    def names(**filters: object) -> list[str]:
        page = nodes.list_nodes(ctx, project_id=project.project_id, **filters)  # type: ignore[arg-type]
        return [n.node_name for n in page.items]

    assert names(project_env="DEV") == ["a", "b", "c", "d"]
    assert names(project_env="PROD") == ["a", "b", "c"]
    assert names(project_env="DEV", biz_name="sales") == ["a", "b", "c", "d"]
    assert names(project_env="DEV", biz_name="other") == []
    assert names(project_env="DEV", node_name="c") == ["c"]
    assert names(project_env="DEV", program_type="VIRTUAL") == ["d"]
    assert names(project_env="DEV", program_type="10") == ["c"]
    assert names(project_env="DEV", owner="root", scheduler_type="MANUAL") == ["a", "b", "c", "d"]
    page = nodes.list_nodes(
        ctx, project_id=project.project_id, project_env="DEV", page_size=3, page_number=2
    )
    assert ([n.node_name for n in page.items], page.total_count) == (["d"], 4)


def test_list_nodes_fails_given_dev_on_a_basic_workspace(
    ctx: ServiceContext, basic_project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        nodes.list_nodes(ctx, project_identifier="lite", project_env="DEV")
    assert info.value.message == (
        "ProjectEnv='DEV' is not available: workspace 'lite' is in basic mode, which has PROD only."
    )


def test_list_nodes_fails_given_an_unknown_program_type(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as info:
        nodes.list_nodes(ctx, project_identifier="demo", project_env="DEV", program_type="SPARK")
    assert info.value.message == "ProgramType='SPARK' is not a known node type."
