"""Applying the Spec forms DataWorks users have (docs/definitions.md): a scheduled 1.2.0 file of
two workflows imported as manual ones, node types mapped or turned virtual, the import report,
the round trip through export, and a run of the imported workflow through the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from opcenter.domain.flowspec import ImportNote
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.errors import InvalidParameter, MissingParameter
from opcenter.service import files
from opcenter.service.context import ServiceContext
from opcenter.service.definitions import apply_definition, export_definition
from opcenter.service.logs import get_instance_log
from opcenter.service.runs import start_manual_run
from opcenter.service.views import ProjectView
from opcenter.store.tables import Deployment, FileVersion
from tests.engine.builders import biz, by_name, wait_dag, wait_for


def _out(*data: str) -> dict[str, Any]:
    return {"nodeOutputs": [{"artifactType": "NodeOutput", "data": d} for d in data]}


def _script(command: str, content: str) -> dict[str, Any]:
    return {"content": content, "runtime": {"command": command}}


def _scheduled() -> dict[str, Any]:
    """A CycleWorkflow 1.2.0 document: workflow 采集 (shell, PyODPS, ODPS SQL, DI) and report."""
    return {
        "version": "1.2.0",
        "kind": "CycleWorkflow",
        "spec": {
            "scripts": [{"id": "sc_py", "path": "采集/转换.py", "content": "print('转换', 1)",
                         "runtime": {"command": "PYODPS3"}}],
            "workflows": [
                {
                    "id": "w1", "name": "采集",
                    "trigger": {"type": "Scheduler", "cron": "00 30 01 * * ?"},
                    "strategy": {"rerunTimes": 1, "rerunInterval": 60000},
                    "nodes": [
                        {"id": "n1", "name": "抽取", "inputs": _out("demo_root"),
                         "outputs": _out("demo.抽取"),
                         "runtimeResource": {"resourceGroup": "S_res_group"},
                         "script": _script("DIDE_SHELL", "echo 抽取 $1") | {
                             "parameters": [{"name": "1", "scope": "NodeParameter",
                                             "type": "System", "value": "$bizdate"}]}},
                        {"id": "n2", "name": "转换", "script": "{{sc_py}}",
                         "inputs": _out("demo.抽取"), "outputs": _out("demo.转换")},
                        {"id": "n3", "name": "汇总", "outputs": _out("demo.汇总"),
                         "script": _script("ODPS_SQL", "select 1;")},
                        {"id": "n4", "name": "同步", "script": _script("DI", "{}")},
                    ],
                    "dependencies": [
                        {"nodeId": "n3", "depends": [{"output": "demo.转换", "type": "Normal"}]},
                        {"nodeId": "n4", "depends": [{"nodeId": "n3", "type": "Normal"}]},
                    ],
                },
                {"id": "w2", "nodes": [{"id": "notify", "inputs": _out("demo.汇总")}]},
            ],
        },
    }  # fmt: skip


MAP = {"PYODPS3": "python", "ODPS_SQL": "sql"}


def _counts(ctx: ServiceContext) -> tuple[int, int]:
    with ctx.db.transaction() as session:
        versions = session.scalar(sa.select(sa.func.count()).select_from(FileVersion))
        deployments = session.scalar(sa.select(sa.func.count()).select_from(Deployment))
    return versions or 0, deployments or 0


def _files(ctx: ServiceContext) -> dict[str, Any]:
    page = files.list_files(ctx, project_identifier="demo", page_size=100)
    return {f.file_name: f for f in page.items}


def test_apply_definition_refuses_a_cycle_workflow_without_as_manual(
    ctx: ServiceContext, project: ProjectView
) -> None:
    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=_scheduled(), workspace="demo", name="x")

    assert "`opcenter apply FILE --as-manual`" in err.value.message
    assert _files(ctx) == {}


def test_apply_definition_imports_a_scheduled_file_of_two_workflows_and_reports_it(
    ctx: ServiceContext, project: ProjectView
) -> None:
    report = apply_definition(
        ctx,
        path_or_document=_scheduled(),
        workspace="demo",
        name="通知",
        as_manual=True,
        type_map=MAP,
    )

    assert [(r.workflow, r.workflow_action) for r in report.reports] == [
        ("采集", "created"),
        ("通知", "created"),
    ]
    found = _files(ctx)
    assert {n: (f.file_type, f.input_list) for n, f in found.items()} == {
        "抽取": (6, ("demo_root",)),
        "转换": (1322, ("demo.抽取",)),
        "汇总": (10, ("demo.转换",)),
        "同步": (99, ("demo.汇总",)),
        "notify": (99, ("demo_root",)),
    }
    assert (found["抽取"].para_value, found["抽取"].auto_rerun_times) == ("$bizdate", 1)
    assert (found["抽取"].resource_group, found["转换"].resource_group) == ("S_res_group", None)
    assert found["转换"].file_folder_path == "Business Flow/采集/Python"
    assert [(n.workflow, n.node, n.action) for n in report.notes] == [
        ("通知", "", "named"),
        ("采集", "抽取", "dropped"),  # the demo_root input
        ("采集", "转换", "mapped"),
        ("采集", "同步", "virtual"),
        ("采集", "", "dropped"),  # the trigger and its cron
        ("通知", "notify", "dropped"),  # the output of another workflow
    ]
    assert report.notes[-1] == ImportNote(
        "通知", "notify", "dropped", "dependency on output 'demo.汇总' (of workflow '采集')"
    )
    data = report.as_dict()
    assert data["changed"] is True
    assert data["more"][0]["workflow"] == "通知"
    assert data["notes"][2] == {
        "workflow": "采集",
        "node": "转换",
        "action": "mapped",
        "detail": "PYODPS3 -> python",
    }


def test_apply_definition_changes_nothing_given_the_import_again_or_its_export(
    ctx: ServiceContext, project: ProjectView, tmp_path: Path
) -> None:
    options: dict[str, Any] = {"name": "通知", "as_manual": True, "type_map": MAP}
    apply_definition(ctx, path_or_document=_scheduled(), workspace="demo", deploy=True, **options)
    before = _counts(ctx)

    again = apply_definition(
        ctx, path_or_document=_scheduled(), workspace="demo", deploy=True, **options
    )
    exports = [
        export_definition(ctx, workspace="demo", workflow_name=name) for name in ("采集", "通知")
    ]
    path = tmp_path / "采集.yaml"  # a YAML file with a CJK name and content
    path.write_text(yaml.safe_dump(exports[0], allow_unicode=True), encoding="utf-8")
    replays = [
        apply_definition(ctx, path_or_document=str(path), workspace="demo", deploy=True),
        apply_definition(ctx, path_or_document=exports[1], workspace="demo", deploy=True),
    ]

    assert again.changed is False
    extract = next(n for n in exports[0]["spec"]["nodes"] if n["name"] == "抽取")
    assert extract["runtimeResource"] == {"resourceGroup": "S_res_group"}
    assert [r.changed for r in replays] == [False, False]
    assert [r.notes for r in replays] == [(), ()]
    assert _counts(ctx) == before


def test_apply_definition_names_an_unnamed_workflow_after_the_file_stem(
    ctx: ServiceContext, project: ProjectView, tmp_path: Path
) -> None:
    path = tmp_path / "每日.json"
    path.write_text(
        '{"version": "1.0.0", "kind": "ManualWorkflow", "nodes": [{"id": "only"}]}',
        encoding="utf-8",
    )

    report = apply_definition(ctx, path_or_document=str(path), workspace="demo")

    assert report.workflow == "每日"
    with pytest.raises(MissingParameter):
        apply_definition(
            ctx,
            path_or_document={"version": "1.0.0", "kind": "ManualWorkflow", "nodes": []},
            workspace="demo",
        )


def test_an_imported_workflow_runs_mapped_nodes_and_dry_runs_virtual_ones(
    ctx: ServiceContext, project: ProjectView, start_engine: Callable[..., object]
) -> None:
    start_engine(ctx)
    apply_definition(
        ctx,
        path_or_document=_scheduled(),
        workspace="demo",
        name="通知",
        as_manual=True,
        type_map=MAP,
        deploy=True,
    )

    created = start_manual_run(
        ctx, project_env="PROD", project_name="demo", flow_name="采集", biz_date=biz()
    )

    assert wait_dag(ctx, created.dag_id, timeout=60) is DagStatus.SUCCESS
    rows = by_name(ctx, created.dag_id)
    assert {n: r.status for n, r in rows.items()} == dict.fromkeys(
        ("抽取", "转换", "汇总", "同步"), InstanceStatus.SUCCESS
    )

    def log(name: str) -> str:
        return wait_for(
            lambda: get_instance_log(ctx, instance_id=rows[name].instance_id, project_env="PROD")
        )

    assert "抽取 20" in log("抽取")  # $1 = $bizdate
    assert "转换 1" in log("转换")
    assert "Virtual node: nothing to run" in log("同步")


def test_apply_definition_refuses_a_node_name_in_two_workflows_and_writes_nothing(
    ctx: ServiceContext, project: ProjectView
) -> None:
    document = {
        "version": "1.2.0",
        "kind": "ManualWorkflow",
        "spec": {
            "workflows": [
                {"name": "one", "nodes": [{"id": "a"}]},
                {"name": "two", "nodes": [{"id": "b", "name": "a"}]},
            ]
        },
    }

    with pytest.raises(InvalidParameter) as err:
        apply_definition(ctx, path_or_document=document, workspace="demo")

    assert err.value.message == (
        "Node \"a\": it is a node of workflows 'one' and 'two'; a file name is unique in a "
        "workspace"
    )
    assert _files(ctx) == {}
