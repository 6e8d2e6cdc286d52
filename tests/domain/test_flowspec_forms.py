"""Every structural form of the DataWorks Spec that `read_specs` reads (docs/definitions.md).

The documents are written here to reproduce the forms DataWorks exports: version 1.0.0 with the
entities at the top level, 1.1.0 with `spec.nodes`, 1.2.0 with `spec.workflows[]`, CycleWorkflow.
"""

from __future__ import annotations

from typing import Any

import pytest

from opcenter.domain.flowspec import ImportNote, read_spec, read_specs, to_spec
from opcenter.errors import InvalidParameter, MissingParameter


def _shell(content: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    script: dict[str, Any] = {
        "path": "demo/sh",
        "language": "shell-script",
        "content": content,
        "runtime": {"command": "DIDE_SHELL", "commandTypeId": 6},
    }
    if parameters:
        script["parameters"] = list(parameters)
    return script


def _out(*data: str) -> dict[str, Any]:
    return {"nodeOutputs": [{"artifactType": "NodeOutput", "data": d} for d in data]}


# Version 1.0.0: no `spec`, the entities stand at the top level; scripts referenced by {{id}}.
V100: dict[str, Any] = {
    "version": "1.0.0",
    "kind": "ManualWorkflow",
    "scripts": [
        {"id": "s_load", "path": "数据/加载.sh", "content": "echo load $1",
         "runtime": {"command": "DIDE_SHELL"},
         "parameters": [{"name": "1", "scope": "NodeParameter", "type": "System",
                         "value": "$bizdate"}]},
    ],
    "nodes": [
        {"id": "n1", "name": "开始"},
        {"id": "n2", "name": "加载", "script": "{{s_load}}", "rerunMode": "FailureAllowed",
         "rerunTimes": 2, "rerunInterval": 60000, "timeout": 3, "owner": "1001"},
    ],
    "flow": [{"nodeId": "{{n2}}", "depends": [{"nodeId": "{{n1}}", "type": "Normal"}]}],
}  # fmt: skip


def test_read_specs_reads_version_1_0_0_entities_at_the_top_level() -> None:
    found = read_specs(V100, name="我的流程")

    (wf,) = found.workflows
    assert wf.name == "我的流程"
    assert [(n.name, n.file_type, n.depends) for n in wf.nodes] == [
        ("开始", 99, ()),
        ("加载", 6, ("n1",)),
    ]
    load = wf.nodes[1]
    assert (load.content, load.para_value) == ("echo load $1", "$bizdate")
    assert (load.rerun_mode, load.auto_rerun_times, load.auto_rerun_interval_millis) == (
        "FAILURE_ALLOWED",
        2,
        60000,
    )
    assert (load.timeout, load.owner) == (3, "1001")
    assert found.notes == [
        ImportNote("我的流程", "", "named", "the workflow has no name in the file")
    ]


def test_read_specs_refuses_an_unnamed_workflow_given_no_name() -> None:
    with pytest.raises(MissingParameter) as err:
        read_specs(V100)

    assert err.value.parameter == "document.name"


# Version 1.2.0: two workflows in one file, each with its strategy, inputs and outputs; a
# dependency by output, the default `<project>_root` input pointing outside the file; an inline
# script; a node with only an id; a cross-workflow dependency; variables of other scopes.
V120: dict[str, Any] = {
    "version": "1.2.0",
    "kind": "CycleWorkflow",
    "spec": {
        "variables": [{"id": "v_day", "name": "day", "scope": "NodeParameter", "type": "System",
                       "value": "$[yyyymmdd-1]"}],
        "workflows": [
            {
                "id": "w1", "name": "ods",
                "trigger": {"type": "Scheduler", "cron": "00 00 02 * * ?"},
                "strategy": {"rerunMode": "Denied", "rerunTimes": 1, "rerunInterval": 120000,
                             "timeout": 2},
                "script": {"runtime": {"command": "WORKFLOW"},
                           "parameters": [{"name": "region", "scope": "Workflow",
                                           "type": "Constant", "value": "cn-shanghai"}]},
                "inputs": _out("proj_root"),
                "outputs": _out("proj.ods_flow"),
                "nodes": [
                    {"id": "a", "name": "extract", "trigger": {"type": "Scheduler",
                                                            "cron": "00 00 02 * * ?"},
                     "runtimeResource": {"resourceGroup": "S_res_group_1"},
                     "inputs": _out("proj_root"), "outputs": _out("proj.extract"),
                     "script": _shell("echo $day", "{{v_day}}",
                                      {"name": "who", "scope": "Tenant", "type": "Constant",
                                       "value": "x"})},
                    {"id": "b", "name": "sum", "rerunTimes": 5, "inputs": _out("proj.extract"),
                     "outputs": _out("proj.sum"),
                     "script": {"content": "select 1;", "runtime": {"command": "ODPS_SQL"}}},
                    {"id": "c"},
                ],
                "dependencies": [{"nodeId": "c", "depends": [{"output": "proj.sum",
                                                              "type": "Normal"},
                                                             {"nodeId": "a",
                                                              "type": "CrossCycleDependsOnSelf"}]}],
            },
            {
                "id": "w2", "name": "dws",
                "nodes": [{"id": "d", "name": "report", "inputs": _out("proj.sum"),
                           "script": {"content": "print(1)",
                                      "runtime": {"command": "PYODPS3"}}},
                          {"id": "e", "name": "sync",
                           "script": {"content": "{}", "runtime": {"command": "DI"}}}],
            },
        ],
    },
}  # fmt: skip


def test_read_specs_refuses_a_cycle_workflow_naming_the_flag() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_specs(V120)

    assert "--as-manual" in err.value.message


def test_read_specs_reads_several_workflows_as_manual_ones_and_notes_what_it_dropped() -> None:
    found = read_specs(V120, as_manual=True, type_map={"PYODPS3": "python"})

    ods, dws = found.workflows
    assert ods.name == "ods" and dws.name == "dws"
    assert ods.parameters == {"region": "cn-shanghai"}
    extract, total, only_id = ods.nodes
    assert (extract.para_value, extract.depends, extract.outputs) == (
        "day=$[yyyymmdd-1]",
        (),
        ("proj.extract",),
    )
    # The strategy gives the settings a node does not set itself.
    assert (extract.rerun_mode, extract.auto_rerun_times, extract.timeout) == ("ALL_DENIED", 1, 2)
    # The resource group is kept (the Celery queue of its attempts), not noted.
    assert (extract.resource_group, total.resource_group) == ("S_res_group_1", None)
    assert (total.file_type, total.depends, total.auto_rerun_times) == (10, ("a",), 5)
    assert (only_id.name, only_id.file_type, only_id.depends) == ("c", 99, ("b",))
    report, sync = dws.nodes
    assert (report.file_type, report.depends) == (1322, ())
    assert (sync.file_type, sync.content) == (99, "{}")
    assert found.notes == [
        ImportNote("ods", "c", "dropped", "CrossCycleDependsOnSelf dependency (a manual "
                   "workflow has only Normal dependencies)"),
        ImportNote("ods", "extract", "dropped", "dependency on output 'proj_root' (outside "
                   "the file)"),
        ImportNote("ods", "extract", "dropped", "Scheduler trigger (cron '00 00 02 * * ?') "
                   "(runs are manual)"),
        ImportNote("ods", "extract", "dropped", "parameter 'who' of scope Tenant"),
        ImportNote("ods", "", "dropped", "Scheduler trigger (cron '00 00 02 * * ?') (runs are "
                   "manual)"),
        ImportNote("ods", "", "dropped", "workflow input 'proj_root' (outside the file)"),
        ImportNote("ods", "", "dropped", "workflow output 'proj.ods_flow' (outside the file)"),
        ImportNote("dws", "report", "dropped", "dependency on output 'proj.sum' (of workflow "
                   "'ods')"),
        ImportNote("dws", "report", "mapped", "PYODPS3 -> python"),
        ImportNote("dws", "sync", "virtual", "DI is not run by opcenter (a dry run)"),
    ]  # fmt: skip


def test_read_specs_refuses_an_unmapped_type_given_strict() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_specs(V120, as_manual=True, type_map={"PYODPS3": "python"}, strict=True)

    assert err.value.message == (
        'Invalid parameter node "sync": type DI is not run by opcenter; map it onto a kind '
        "(shell, python, sql, virtual) with --map DI=KIND, or leave out --strict to import it "
        "as a virtual node"
    )


def test_read_specs_refuses_a_map_onto_an_unknown_kind() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_specs(V120, as_manual=True, type_map={"DI": "spark"})

    assert err.value.message == (
        'Invalid parameter map: "DI=spark" (a kind is one of shell, python, sql, virtual)'
    )


def test_read_spec_refuses_a_document_of_several_workflows() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_spec(V120, as_manual=True)

    assert "holds 2 workflows" in err.value.message


# Version 1.1.0 in YAML-like shape: spec.nodes with inline scripts, `flow` by output.
V110: dict[str, Any] = {
    "version": "1.1.0",
    "kind": "ManualWorkflow",
    "spec": {
        "name": "日报",
        "nodes": [
            {"id": "1", "name": "取数", "outputs": _out("p.取数"), "script": _shell("echo 1")},
            {"id": "2", "name": "汇总", "script": _shell("echo 2")},
        ],
        "flow": [{"nodeId": "2", "depends": [{"output": "p.取数", "type": "Normal"}]}],
    },
}  # fmt: skip


def test_read_specs_reads_version_1_1_0_with_cjk_names_and_a_dependency_by_output() -> None:
    found = read_specs(V110)

    (wf,) = found.workflows
    assert [(n.name, n.depends) for n in wf.nodes] == [("取数", ()), ("汇总", ("1",))]
    assert found.notes == []


def test_to_spec_of_an_imported_workflow_reads_back_the_same() -> None:
    for wf in read_specs(V120, as_manual=True).workflows:
        back = read_spec(to_spec(wf))
        assert [(n.name, n.file_type, n.content, n.para_value) for n in back.nodes] == [
            (n.name, n.file_type, n.content, n.para_value) for n in wf.nodes
        ]


def test_the_forms_shown_in_docs_definitions_read_as_the_docs_say() -> None:
    import json
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "definitions.md").read_text("utf-8")
    section = text[text.index("## Importing DataWorks files") : text.index("### The import")]
    blocks = re.findall(r"```(yaml|json)\n(.*?)```", section, re.DOTALL)
    found = [
        read_specs(
            yaml.safe_load(body) if lang == "yaml" else json.loads(body),
            name="daily",
            as_manual=True,
            type_map={"PYODPS3": "python"},
        )
        for lang, body in blocks
    ]

    assert [[w.name for w in f.workflows] for f in found] == [["daily"], ["日报"], ["ods", "dws"]]
    ods = found[2].workflows[0]
    assert [(n.name, n.file_type, n.depends, n.auto_rerun_times) for n in ods.nodes] == [
        ("extract", 6, (), 1),
        ("to_odps", 1322, ("a",), 1),
    ]
    assert [n.action for n in found[2].notes] == ["mapped", "dropped"]
    assert [n.resource_group for n in ods.nodes] == ["S_group", None]  # kept: its queue


def test_read_specs_numbers_several_unnamed_workflows_after_the_name_given() -> None:
    document = {
        "version": "1.2.0",
        "kind": "ManualWorkflow",
        "spec": {
            "workflows": [
                {"nodes": [{"id": "a", "outputs": _out("p.a")}]},
                {"nodes": [{"id": "b", "inputs": _out("p.a")}]},
            ]
        },
    }

    found = read_specs(document, name="批")

    assert [w.name for w in found.workflows] == ["批_1", "批_2"]
    assert found.notes[-1] == ImportNote(
        "批_2", "b", "dropped", "dependency on output 'p.a' (of workflow '批_1')"
    )


def test_read_specs_reads_scripts_without_a_command_object_content_and_grouped_files() -> None:
    document = {
        "version": "1.1.0",
        "kind": "CycleWorkflow",
        "spec": {
            "files": {"oss": [{"id": "f1", "path": "a.json", "language": "json"}]},
            "nodes": [
                {"id": "a", "script": "{{files.f1}}"},
                {"id": "b", "script": {"content": {"cluster": "c1"},
                                       "runtime": {"command": "EMR_SPARK"}}},
            ],
        },
    }  # fmt: skip

    found = read_specs(document, name="w", as_manual=True)

    a, b = found.workflows[0].nodes
    assert (a.file_type, b.file_type, b.content) == (99, 99, '{"cluster": "c1"}')
    assert [(n.node, n.action, n.detail) for n in found.notes[1:]] == [
        ("a", "virtual", "the script names no runtime.command (a dry run)"),
        ("b", "virtual", "EMR_SPARK is not run by opcenter (a dry run)"),
    ]
    with pytest.raises(MissingParameter):
        read_specs(document, name="w", as_manual=True, strict=True)
