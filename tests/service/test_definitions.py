from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from opcenter.domain.model import Env
from opcenter.errors import InvalidParameter, NotFound
from opcenter.service import definitions, files, nodes, workflows
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.definitions import apply_definition, export_definition, load_document
from opcenter.service.views import BusinessView, ProjectView
from opcenter.store.tables import Deployment, FileVersion

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales_daily.yaml"


def _param(name: str, value: str) -> dict[str, str]:
    return {"name": name, "scope": "NodeParameter", "type": "System", "value": value}


def _node(
    node_id: str, command: str, content: str = "", params: list[Any] | None = None
) -> dict[str, Any]:
    script: dict[str, Any] = {"content": content, "runtime": {"command": command}}
    if params:
        script["parameters"] = params
    return {"id": node_id, "name": node_id, "trigger": {"type": "Manual"}, "script": script}


def _diamond() -> dict[str, Any]:
    """start -> a (Shell), b (Python) -> end, with a workflow variable."""
    return {
        "version": "1.1.0",
        "kind": "ManualWorkflow",
        "spec": {
            "name": "diamond",
            "description": "a diamond",
            "variables": [
                {"id": "region", "name": "region", "scope": "Workflow", "value": "cn"},
            ],
            "nodes": [
                _node("start", "VIRTUAL"),
                _node("a", "DIDE_SHELL", "echo $1", [_param("1", "$bizdate")]),
                _node("b", "PYTHON", "print(1)", [_param("1", "${yyyymmdd-1}")]),
                _node("end", "ODPS_SQL", "select '${dt}';", [_param("dt", "$bizdate")]),
            ],
            "flow": [
                {"nodeId": "{{a}}", "depends": [{"nodeId": "{{start}}"}]},
                {"nodeId": "{{b}}", "depends": [{"nodeId": "{{start}}"}]},
                {"nodeId": "{{end}}", "depends": [{"nodeId": "{{a}}"}, {"nodeId": "{{b}}"}]},
            ],
        },
    }


def _counts(ctx: ServiceContext) -> tuple[int, int]:
    """(file versions, deployments) in the store: what a no-op apply must not grow."""
    with ctx.db.transaction() as session:
        versions = session.scalar(sa.select(sa.func.count()).select_from(FileVersion))
        deployments = session.scalar(sa.select(sa.func.count()).select_from(Deployment))
    return versions or 0, deployments or 0


def _files(ctx: ServiceContext, workspace: str = "demo") -> dict[str, Any]:
    page = files.list_files(ctx, project_identifier=workspace, page_size=100)
    return {f.file_name: f for f in page.items}


def test_apply_definition_creates_the_workflow_and_its_files_given_a_new_definition(
    ctx: ServiceContext, project: ProjectView
) -> None:
    report = apply_definition(ctx, path_or_document=_diamond(), workspace="demo")

    assert (report.workspace, report.workflow, report.workflow_action) == (
        "demo",
        "diamond",
        "created",
    )
    assert [(f.node, f.action, f.submitted, f.deployed, f.version) for f in report.files] == [
        ("start", "created", True, False, 1),
        ("a", "created", True, False, 1),
        ("b", "created", True, False, 1),
        ("end", "created", True, False, 1),
    ]
    assert report.changed is True
    flow = workflows.get_business(ctx, business_id=report.business_id, project_id=1)
    assert (flow.use_type.value, flow.parameters, flow.description) == (
        "MANUAL_BIZ",
        "region=cn",
        "a diamond",
    )
    by_name = _files(ctx)
    assert by_name["a"].file_folder_path == "Business Flow/diamond/Shell"
    assert by_name["a"].file_type == 6
    assert by_name["a"].para_value == "$bizdate"
    assert by_name["a"].output_list == ("demo.a",)
    assert by_name["start"].input_list == ("demo_root",)
    assert by_name["end"].input_list == ("demo.a", "demo.b")
    assert by_name["end"].file_folder_path == "Business Flow/diamond/SQL"
    assert by_name["end"].para_value == "dt=$bizdate"


def test_apply_definition_releases_the_diamond_to_dev_given_no_deploy(
    ctx: ServiceContext, project: ProjectView
) -> None:
    report = apply_definition(ctx, path_or_document=_diamond(), workspace="demo")
    node_of = {f.node: f.node_id for f in report.files}

    parents = nodes.get_node_parents(ctx, node_id=node_of["end"], project_env="DEV")

    assert sorted(p.node_name for p in parents) == ["a", "b"]
    with pytest.raises(NotFound) as err:
        nodes.get_node(ctx, node_id=node_of["end"], project_env="PROD")
    assert err.value.code == "Invalid.Node.NotExists"


def test_apply_definition_deploys_every_file_given_deploy(
    ctx: ServiceContext, project: ProjectView
) -> None:
    report = apply_definition(ctx, path_or_document=_diamond(), workspace="demo", deploy=True)

    assert [f.deployed for f in report.files] == [True, True, True, True]
    prod = nodes.list_nodes(ctx, project_env=Env.PROD, project_identifier="demo", page_size=100)
    assert sorted(n.node_name for n in prod.items) == ["a", "b", "end", "start"]


def test_apply_definition_changes_nothing_given_the_same_definition_twice(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=_diamond(), workspace="demo", deploy=True)
    before = _counts(ctx)

    report = apply_definition(ctx, path_or_document=_diamond(), workspace="demo", deploy=True)

    assert report.changed is False
    assert report.workflow_action == "unchanged"
    assert [(f.action, f.submitted, f.deployed) for f in report.files] == [
        ("unchanged", False, False)
    ] * 4
    assert _counts(ctx) == before


def test_apply_definition_updates_only_what_changed_given_an_edited_node(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=_diamond(), workspace="demo", deploy=True)
    edited = _diamond()
    edited["spec"]["nodes"][1]["script"]["content"] = "echo changed $1"
    edited["spec"]["variables"][0]["value"] = "us"

    report = apply_definition(ctx, path_or_document=edited, workspace="demo", deploy=True)

    assert report.workflow_action == "updated"
    assert [(f.node, f.action, f.submitted, f.deployed, f.version) for f in report.files] == [
        ("start", "unchanged", False, False, 1),
        ("a", "updated", True, True, 2),
        ("b", "unchanged", False, False, 1),
        ("end", "unchanged", False, False, 1),
    ]
    node_a = report.files[1].node_id
    assert nodes.get_node_code(ctx, node_id=node_a, project_env="PROD") == "echo changed $1"
    assert workflows.get_business(ctx, business_name="diamond", project_id=1).parameters == (
        "region=us"
    )


def test_apply_definition_rewires_dependencies_given_a_reversed_edge(
    ctx: ServiceContext, project: ProjectView
) -> None:
    # Given a -> b
    first = {
        "kind": "ManualWorkflow",
        "spec": {
            "name": "pair",
            "nodes": [_node("a", "VIRTUAL"), _node("b", "VIRTUAL")],
            "flow": [{"nodeId": "b", "depends": [{"nodeId": "a"}]}],
        },
    }
    apply_definition(ctx, path_or_document=first, workspace="demo", deploy=True)
    # When the edge turns round (b -> a): submitting in the new order makes no transient cycle
    second = copy.deepcopy(first)
    second["spec"]["flow"] = [{"nodeId": "a", "depends": [{"nodeId": "b"}]}]

    report = apply_definition(ctx, path_or_document=second, workspace="demo", deploy=True)

    # Then
    ids = {f.node: f.node_id for f in report.files}
    parents = nodes.get_node_parents(ctx, node_id=ids["a"], project_env="PROD")
    assert [p.node_name for p in parents] == ["b"]


def test_apply_definition_fails_naming_the_cycle_given_circular_flow_and_writes_nothing(
    ctx: ServiceContext, project: ProjectView
) -> None:
    document = _diamond()
    document["spec"]["flow"].append({"nodeId": "{{start}}", "depends": [{"nodeId": "{{end}}"}]})

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=document, workspace="demo")

    assert err.value.message == (
        "Invalid parameter spec.flow: the dependencies form a cycle: " "start -> a -> end -> start"
    )
    assert _files(ctx) == {}
    with pytest.raises(NotFound):
        workflows.get_business(ctx, business_name="diamond", project_id=1)


def test_apply_definition_fails_given_an_unmapped_type_and_strict_and_writes_nothing(
    ctx: ServiceContext, project: ProjectView
) -> None:
    document = _diamond()
    document["spec"]["nodes"][1]["script"]["runtime"]["command"] = "EMR_HIVE"

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=document, workspace="demo", strict=True)

    assert err.value.message == (
        'Invalid parameter node "a": type EMR_HIVE is not run by opcenter; map it onto a kind '
        "(shell, python, sql, virtual) with --map EMR_HIVE=KIND, or leave out --strict to "
        "import it as a virtual node"
    )
    assert _files(ctx) == {}


def test_apply_definition_fails_given_a_malformed_parameter_expression(
    ctx: ServiceContext, project: ProjectView
) -> None:
    document = _diamond()
    document["spec"]["nodes"][3]["script"]["parameters"] = [_param("dt", "${yyyymmdd+x}")]

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=document, workspace="demo")

    assert err.value.message.startswith('Node "end": ')
    assert "${yyyymmdd+x}" in err.value.message
    assert _files(ctx) == {}


def test_apply_definition_fails_given_a_node_named_like_a_file_of_another_workflow(
    ctx: ServiceContext, project: ProjectView, flow: BusinessView
) -> None:
    files.create_file(
        ctx,
        project_identifier="demo",
        file_name="a",
        file_folder_path="Business Flow/sales/Shell",
        file_type=6,
    )

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=_diamond(), workspace="demo")

    assert err.value.message == (
        "Node \"a\": FileName='a' is already a file of another workflow of workspace 'demo' "
        "(FileFolderPath='Business Flow/sales/Shell'); rename the node or move the file."
    )
    assert sorted(_files(ctx)) == ["a"]


def test_apply_definition_fails_given_a_node_changes_its_type(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=_diamond(), workspace="demo")
    document = _diamond()
    document["spec"]["nodes"][1]["script"]["runtime"]["command"] = "PYTHON"

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=document, workspace="demo")

    assert err.value.message == (
        'Node "a": the file has FileType=6 and the definition asks for 1322; a file\'s type '
        "cannot change: delete the file or rename the node."
    )


def test_apply_definition_fails_given_a_normal_workflow_of_that_name(
    ctx: ServiceContext, project: ProjectView
) -> None:
    workflows.create_business(
        ctx, project_identifier="demo", business_name="diamond", use_type="NORMAL"
    )

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=_diamond(), workspace="demo")

    assert err.value.message == (
        "BusinessName='diamond' is a workflow with UseType=NORMAL; a ManualWorkflow definition "
        "describes a MANUAL_BIZ workflow."
    )
    assert _files(ctx) == {}


def test_apply_definition_fails_given_an_unknown_workspace(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as err:
        apply_definition(ctx, path_or_document=_diamond(), workspace="nowhere")

    assert err.value.code == "Invalid.Project.NotExists"


def test_apply_definition_lists_files_it_does_not_name_given_a_shrunk_definition(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=_diamond(), workspace="demo")
    document = _diamond()
    document["spec"]["nodes"] = document["spec"]["nodes"][:1]
    del document["spec"]["flow"]

    report = apply_definition(ctx, path_or_document=document, workspace="demo")

    assert report.not_in_definition == ("a", "b", "end")
    assert report.changed is False


def test_apply_definition_publishes_to_prod_on_submit_given_a_basic_workspace(
    ctx: ServiceContext, basic_project: ProjectView
) -> None:
    report = apply_definition(ctx, path_or_document=_diamond(), workspace="lite", deploy=True)

    assert [(f.submitted, f.deployed) for f in report.files] == [(True, False)] * 4
    end = report.files[3].node_id
    assert nodes.get_node(ctx, node_id=end, project_env="PROD").node_name == "end"


def test_apply_definition_reads_the_example_file_given_its_path(
    ctx: ServiceContext, project: ProjectView
) -> None:
    report = apply_definition(ctx, path_or_document=str(EXAMPLE), workspace="demo", deploy=True)

    assert [f.node for f in report.files] == [
        "start",
        "extract_orders",
        "extract_customers",
        "load_sales",
        "done",
    ]
    by_name = _files(ctx)
    assert {name: f.file_type for name, f in by_name.items()} == {
        "start": 99,
        "extract_orders": 6,
        "extract_customers": 1322,
        "load_sales": 10,
        "done": 99,
    }
    assert by_name["load_sales"].input_list == ("demo.extract_orders", "demo.extract_customers")
    assert by_name["extract_customers"].para_value == "$bizdate $[yyyymmddhh24miss-1/24]"
    flow = workflows.get_business(ctx, business_name="sales_daily", project_id=1)
    assert flow.parameters == "region=cn-shanghai channel=online"


def test_export_definition_round_trips_given_an_applied_example(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=str(EXAMPLE), workspace="demo", deploy=True)
    before = _counts(ctx)

    exported = export_definition(ctx, workspace="demo", workflow_name="sales_daily")
    report = apply_definition(ctx, path_or_document=exported, workspace="demo", deploy=True)

    assert report.changed is False
    assert _counts(ctx) == before
    assert exported["kind"] == "ManualWorkflow"
    assert [n["id"] for n in exported["spec"]["nodes"]] == [
        "start",
        "extract_orders",
        "extract_customers",
        "load_sales",
        "done",
    ]
    assert exported["spec"]["flow"][2] == {
        "nodeId": "{{load_sales}}",
        "depends": [
            {"nodeId": "{{extract_orders}}", "type": "Normal"},
            {"nodeId": "{{extract_customers}}", "type": "Normal"},
        ],
    }


def test_export_definition_reads_the_released_nodes_given_an_environment(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(ctx, path_or_document=_diamond(), workspace="demo", deploy=True)
    edited = _diamond()
    edited["spec"]["nodes"][1]["script"]["content"] = "echo v2 $1"
    apply_definition(ctx, path_or_document=edited, workspace="demo")  # DEV only

    prod = export_definition(ctx, workspace="demo", workflow_name="diamond", env="PROD")
    dev = export_definition(ctx, workspace="demo", workflow_name="diamond", env="DEV")

    assert prod["spec"]["nodes"][1]["script"]["content"] == "echo $1"
    assert dev["spec"]["nodes"][1]["script"]["content"] == "echo v2 $1"


def _grouped(groups: dict[str, str]) -> dict[str, Any]:
    """The diamond with `runtimeResource.resourceGroup` set on the nodes `groups` names."""
    document = _diamond()
    for node in document["spec"]["nodes"]:
        if node["id"] in groups:
            node["runtimeResource"] = {"resourceGroup": groups[node["id"]]}
    return document


def test_apply_definition_sets_changes_and_clears_a_resource_group_given_edits(
    ctx: ServiceContext, project: ProjectView
) -> None:
    created = apply_definition(ctx, path_or_document=_grouped({"a": "etl"}), workspace="demo")
    same = apply_definition(ctx, path_or_document=_grouped({"a": "etl"}), workspace="demo")
    assert [f.action for f in created.files] == ["created"] * 4
    assert same.changed is False
    groups = {n: f.resource_group for n, f in _files(ctx).items()}
    assert groups == {"start": None, "a": "etl", "b": None, "end": None}

    moved = apply_definition(
        ctx, path_or_document=_grouped({"a": "gpu", "b": "etl"}), workspace="demo", deploy=True
    )
    assert [(f.node, f.action) for f in moved.files] == [
        ("start", "unchanged"), ("a", "updated"), ("b", "updated"), ("end", "unchanged"),
    ]  # fmt: skip
    assert _files(ctx)["a"].resource_group == "gpu"
    prod = export_definition(ctx, workspace="demo", workflow_name="diamond", env="PROD")
    assert [n.get("runtimeResource") for n in prod["spec"]["nodes"]] == [
        None, {"resourceGroup": "gpu"}, {"resourceGroup": "etl"}, None,
    ]  # fmt: skip

    cleared = apply_definition(ctx, path_or_document=_grouped({"b": "etl"}), workspace="demo")
    assert [(f.node, f.action) for f in cleared.files][1] == ("a", "updated")
    assert _files(ctx)["a"].resource_group is None
    draft = export_definition(ctx, workspace="demo", workflow_name="diamond")
    assert "runtimeResource" not in draft["spec"]["nodes"][1]
    assert apply_definition(ctx, path_or_document=draft, workspace="demo").changed is False


def test_apply_definition_fails_given_a_resource_group_that_cannot_name_a_queue(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=_grouped({"a": "no spaces"}), workspace="demo")

    assert "spec.nodes[1].runtimeResource.resourceGroup" in err.value.message
    assert _files(ctx) == {}


def test_export_definition_keeps_custom_outputs_given_a_file_with_its_own_output(
    ctx: ServiceContext, project: ProjectView
) -> None:
    document = _diamond()
    document["spec"]["nodes"][0]["outputs"] = {"nodeOutputs": [{"data": "demo.entry"}]}
    apply_definition(ctx, path_or_document=document, workspace="demo")

    exported = export_definition(ctx, workspace="demo", workflow_name="diamond")

    assert exported["spec"]["nodes"][0]["outputs"] == {
        "nodeOutputs": [{"artifactType": "NodeOutput", "data": "demo.entry"}]
    }
    assert "outputs" not in exported["spec"]["nodes"][1]
    assert _files(ctx)["a"].input_list == ("demo.entry",)


def test_export_definition_fails_given_an_unknown_workflow(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(NotFound) as err:
        export_definition(ctx, workspace="demo", workflow_name="nope")

    assert err.value.code == "Invalid.Business.NotExists"


def test_apply_definition_records_the_caller_as_owner_given_no_owner(
    ctx: ServiceContext, project: ProjectView
) -> None:
    apply_definition(
        ctx, path_or_document=_diamond(), workspace="demo", caller=Caller(name="alice")
    )

    assert {f.owner for f in _files(ctx).values()} == {"alice"}


def test_load_document_reads_json_given_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(_diamond()), encoding="utf-8")

    assert load_document(path) == _diamond()


def test_load_document_reads_yaml_given_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(_diamond()), encoding="utf-8")

    assert load_document(str(path)) == _diamond()


def test_load_document_fails_given_broken_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(InvalidParameter) as err:
        load_document(path)

    assert err.value.message == (
        f"Definition file {str(path)!r} is not valid JSON: Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)"
    )


def test_load_document_fails_given_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(InvalidParameter) as err:
        load_document(path)

    assert err.value.message.startswith(f"Cannot read definition file {str(path)!r}: ")


def test_load_document_fails_given_a_yaml_list(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")

    with pytest.raises(InvalidParameter) as err:
        load_document(path)

    assert err.value.message == (
        f"Definition file {str(path)!r} holds a list, not a definition: "
        f"{definitions.WHAT_A_DEFINITION_HOLDS}."
    )


def test_load_document_says_what_a_definition_holds_given_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")

    with pytest.raises(InvalidParameter) as err:
        load_document(path)

    assert err.value.message == (
        f"Definition file {str(path)!r} is empty: {definitions.WHAT_A_DEFINITION_HOLDS}."
    )
    assert "kind: ManualWorkflow" in definitions.WHAT_A_DEFINITION_HOLDS


def test_definitions_exports_the_names_we_meant() -> None:
    assert sorted(definitions.__all__) == [
        "ApplyReport",
        "FileOutcome",
        "WHAT_A_DEFINITION_HOLDS",
        "apply_definition",
        "export_definition",
        "load_document",
        "undeclared_names",
    ]
