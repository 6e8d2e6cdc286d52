from __future__ import annotations

import copy
from typing import Any

import pytest

from opcenter.domain import flowspec
from opcenter.domain.flowspec import (
    ImportNote,
    NodeDefinition,
    WorkflowDefinition,
    command_code,
    command_name,
    para_value_from_parameters,
    parameters_from_para_value,
    read_spec,
    read_specs,
    to_spec,
    workflow_parameter_string,
)
from opcenter.errors import InvalidParameter, MissingParameter


def _param(name: str, value: str, type_: str = "System") -> dict[str, str]:
    return {"name": name, "scope": "NodeParameter", "type": type_, "value": value}


def _script(command: str, content: str = "", parameters: list[Any] | None = None) -> dict:
    script: dict[str, Any] = {"content": content, "runtime": {"command": command}}
    if parameters is not None:
        script["parameters"] = parameters
    return script


# The example of dataworks-semantics.md §2.7, verbatim in substance.
EXAMPLE: dict[str, Any] = {
    "version": "1.1.0",
    "kind": "ManualWorkflow",
    "metadata": {"owner": "1000", "description": "demo manual workflow"},
    "spec": {
        "name": "wf_demo",
        "variables": [
            {
                "id": "region",
                "name": "region",
                "scope": "Workflow",
                "type": "Constant",
                "value": "cn-shanghai",
            }
        ],
        "runtimeResources": [{"id": "rg", "resourceGroup": "S_demo_group"}],
        "nodes": [
            {
                "id": "start",
                "name": "start",
                "trigger": {"type": "Manual"},
                "script": {"path": "wf_demo/start", "language": "none", "content": "",
                           "runtime": {"command": "VIRTUAL"}},
            },
            {
                "id": "extract",
                "name": "extract",
                "trigger": {"type": "Manual"},
                "runtimeResource": "{{rg}}",
                "rerunMode": "Allowed",
                "script": {
                    "path": "wf_demo/extract",
                    "language": "shell",
                    "content": 'echo "extract $1 for $2"',
                    "runtime": {"command": "DIDE_SHELL"},
                    "parameters": [_param("1", "$bizdate"), _param("2", "${region}")],
                },
            },
            {
                "id": "transform",
                "name": "transform",
                "trigger": {"type": "Manual"},
                "runtimeResource": "{{rg}}",
                "script": {
                    "path": "wf_demo/transform",
                    "language": "python3",
                    "content": "import sys\nprint('transform', sys.argv[1])",
                    "runtime": {"command": "PYTHON"},
                    "parameters": [_param("1", "$[yyyymmddhh24miss-1/24]")],
                },
            },
            {
                "id": "load",
                "name": "load",
                "trigger": {"type": "Manual"},
                "runtimeResource": "{{rg}}",
                "script": {
                    "path": "wf_demo/load",
                    "language": "sql",
                    "content": "INSERT INTO t SELECT '${dt}', '${region}';",
                    "runtime": {"engine": "MaxCompute", "command": "ODPS_SQL"},
                    "parameters": [
                        _param("dt", "${yyyymmdd}"),
                        _param("region", "cn-hangzhou", "Constant"),
                    ],
                },
            },
        ],
        "flow": [
            {"nodeId": "{{extract}}", "depends": [{"nodeId": "{{start}}", "type": "Normal"}]},
            {"nodeId": "{{transform}}", "depends": [{"nodeId": "{{extract}}", "type": "Normal"}]},
            {"nodeId": "{{load}}", "depends": [{"nodeId": "{{transform}}", "type": "Normal"}]},
        ],
    },
}  # fmt: skip


def _example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE)


def _with_nodes(*nodes: dict[str, Any], flow: list[Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "wf", "nodes": list(nodes)}
    if flow is not None:
        spec["flow"] = flow
    return {"version": "1.1.0", "kind": "ManualWorkflow", "spec": spec}


def test_read_spec_reads_the_semantics_example_into_a_definition() -> None:
    definition = read_spec(_example())

    assert definition.name == "wf_demo"
    assert definition.owner == "1000"
    assert definition.description == "demo manual workflow"
    assert definition.parameters == {"region": "cn-shanghai"}
    assert [n.local_id for n in definition.nodes] == ["start", "extract", "transform", "load"]
    assert definition.node("start") == NodeDefinition(local_id="start", name="start", file_type=99)
    assert definition.node("extract") == NodeDefinition(
        local_id="extract",
        name="extract",
        file_type=6,
        content='echo "extract $1 for $2"',
        para_value="$bizdate ${region}",
        depends=("start",),
        resource_group="S_demo_group",  # through the {{rg}} runtimeResource
    )
    assert definition.node("transform").file_type == 1322
    assert definition.node("transform").para_value == "$[yyyymmddhh24miss-1/24]"
    assert definition.node("load").file_type == 10
    assert definition.node("load").para_value == "dt=${yyyymmdd} region=cn-hangzhou"
    assert definition.node("load").depends == ("transform",)


def test_read_spec_reads_node_options_given_rerun_and_timeout_fields() -> None:
    document = _with_nodes(
        {
            "id": "a",
            "name": "alpha",
            "owner": "alice",
            "description": "first",
            "rerunMode": "failureallowed",
            "rerunTimes": 3,
            "rerunInterval": 180000,
            "timeout": 4,
            "script": _script("DIDE_SHELL", "echo hi"),
        }
    )

    node = read_spec(document).nodes[0]

    assert node == NodeDefinition(
        local_id="a",
        name="alpha",
        file_type=6,
        content="echo hi",
        rerun_mode="FAILURE_ALLOWED",
        auto_rerun_times=3,
        auto_rerun_interval_millis=180000,
        timeout=4,
        owner="alice",
        description="first",
    )


def test_read_spec_treats_a_node_without_script_as_virtual_given_the_upstream_example() -> None:
    # The upstream manual_flow.json: nodes by id only, scripts by reference, flow of {{ids}}.
    document = {
        "version": "1.1.0",
        "kind": "ManualWorkflow",
        "spec": {
            "id": 12345,
            "name": "upstream",
            "scripts": [
                {"id": "file2", "path": "/path/to/file2.sql", "language": "sql",
                 "runtime": {"engine": "MaxCompute", "command": "ODPS_SQL"}},
            ],
            "nodes": [{"id": "start"}, {"id": "sql", "script": "{{scripts.file2}}"}, {"id": "end"}],
            "flow": [
                {"nodeId": "{{sql}}", "depends": [{"nodeId": "{{start}}"}]},
                {"nodeId": "{{end}}", "depends": [{"nodeId": "{{sql}}"}]},
            ],
        },
    }  # fmt: skip

    definition = read_spec(document)

    assert [(n.name, n.file_type, n.depends) for n in definition.nodes] == [
        ("start", 99, ()),
        ("sql", 10, ("start",)),
        ("end", 99, ("sql",)),
    ]


def test_read_spec_wires_dependencies_given_outputs_and_inputs() -> None:
    document = _with_nodes(
        {"id": "a", "outputs": {"nodeOutputs": [{"data": "ws.a_out"}]}},
        {"id": "b", "inputs": {"nodeOutputs": [{"data": "ws.a_out"}]}},
        {"id": "c"},
        flow=[{"nodeId": "{{c}}", "depends": [{"output": "ws.a_out", "type": "Normal"}]}],
    )

    definition = read_spec(document)

    assert [n.depends for n in definition.nodes] == [(), ("a",), ("a",)]


def test_read_spec_resolves_script_parameters_given_variable_references() -> None:
    document = _with_nodes(
        {"id": "a", "script": _script("ODPS_SQL", "select 1", ["{{variables.dt}}"])},
    )
    document["spec"]["variables"] = [
        {"id": "dt", "name": "dt", "scope": "NodeParameter", "type": "System", "value": "$bizdate"}
    ]

    definition = read_spec(document)

    assert definition.nodes[0].para_value == "dt=$bizdate"
    assert definition.parameters == {}


def test_read_spec_accepts_a_command_type_id_given_no_command_name() -> None:
    document = _with_nodes({"id": "a", "script": {"runtime": {"commandTypeId": 1322}}})

    assert read_spec(document).nodes[0].file_type == 1322


def test_read_specs_maps_shell_onto_dide_shell_and_notes_it() -> None:
    found = read_specs(_with_nodes({"id": "a", "script": _script("shell")}))

    assert found.workflows[0].nodes[0].file_type == 6
    assert found.notes == [ImportNote("wf", "a", "mapped", "SHELL -> shell")]


def test_read_specs_makes_an_unknown_command_virtual_or_refuses_it_given_strict() -> None:
    document = _with_nodes({"id": "a", "name": "alpha", "script": _script("NO_SUCH_TYPE")})

    with pytest.raises(InvalidParameter) as err:
        read_spec(document, strict=True)
    found = read_specs(document)
    mapped = read_specs(document, strict=True, type_map={"NO_SUCH_TYPE": "shell"})

    assert err.value.message == (
        'Invalid parameter spec.nodes[0].script.runtime.command of node "alpha": '
        'unknown command "NO_SUCH_TYPE"'
    )
    assert found.workflows[0].nodes[0].file_type == 99
    assert found.notes == [
        ImportNote(
            "wf",
            "alpha",
            "virtual",
            "NO_SUCH_TYPE is an unknown type, not run by opcenter (a dry run)",
        )
    ]
    assert mapped.workflows[0].nodes[0].file_type == 6


def test_read_spec_fails_given_an_unknown_reference() -> None:
    document = _with_nodes(
        {"id": "a"}, flow=[{"nodeId": "{{a}}", "depends": [{"nodeId": "{{zzz}}"}]}]
    )

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message == (
        'Invalid parameter spec.flow[0].depends[0].nodeId: unknown reference "{{zzz}}"'
    )


def test_read_spec_fails_given_a_reference_with_two_dots() -> None:
    document = _with_nodes({"id": "a", "script": "{{spec.scripts.x}}"})

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message == (
        'Invalid parameter spec.nodes[0].script: bad reference "{{spec.scripts.x}}"'
    )


def test_read_spec_fails_given_a_duplicate_node_id() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_spec(_with_nodes({"id": "a"}, {"id": "a", "name": "other"}))

    assert err.value.message == 'Invalid parameter spec.nodes[1].id: duplicate id "a"'


def test_read_spec_fails_given_a_duplicate_node_name() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_spec(_with_nodes({"id": "a", "name": "x"}, {"id": "b", "name": "x"}))

    assert err.value.message == 'Invalid parameter spec.nodes[1].name: duplicate node name "x"'


def test_read_spec_fails_given_another_kind() -> None:
    document = _example()
    document["kind"] = "CycleWorkflow"

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message == (
        'Invalid parameter kind: "CycleWorkflow" is a scheduled workflow; opcenter runs manual '
        "workflows: import it as one with `opcenter apply FILE --as-manual` (its triggers and "
        "cron are dropped and reported)"
    )


def test_read_spec_fails_given_no_workflow_name_and_none_supplied() -> None:
    document = _example()
    del document["spec"]["name"]

    with pytest.raises(MissingParameter) as err:
        read_spec(document)

    assert err.value.parameter == "spec.name"


def test_read_spec_fails_given_a_cross_cycle_dependency() -> None:
    document = _with_nodes(
        {"id": "a"},
        {"id": "b"},
        flow=[{"nodeId": "b", "depends": [{"nodeId": "a", "type": "CrossCycleDependsOnSelf"}]}],
    )

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message == (
        'Invalid parameter spec.flow[0].depends[0].type: "CrossCycleDependsOnSelf" '
        "(a manual workflow has only Normal dependencies)"
    )


def test_read_spec_fails_given_an_unknown_rerun_mode() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_spec(_with_nodes({"id": "a", "rerunMode": "Sometimes"}))

    assert err.value.message == (
        'Invalid parameter spec.nodes[0].rerunMode: "Sometimes" '
        "(one of Allowed, Denied, FailureAllowed)"
    )


def test_read_spec_fails_given_a_parameter_value_with_a_space() -> None:
    document = _with_nodes(
        {"id": "a", "name": "alpha", "script": _script("ODPS_SQL", "", [_param("t", "a b")])}
    )

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message == (
        'Invalid parameter spec.nodes[0].script.parameters of node "alpha": parameter "t" has '
        "value \"a b\"; a value must be non-empty, without spaces or '=' (concatenate two "
        "parameters instead)"
    )


def test_read_spec_fails_given_the_document_is_not_an_object() -> None:
    with pytest.raises(InvalidParameter) as err:
        read_spec(["not", "a", "spec"])

    assert err.value.message == (
        "Invalid parameter document: expected an object, got ['not', 'a', 'spec']"
    )


def test_para_value_from_parameters_sorts_numbered_parameters_given_any_order() -> None:
    # DataWorksNodeAdapterTest: {2: 222222}, {1: 111111} -> "111111 222222".
    assert para_value_from_parameters([("2", "222222"), ("1", "111111")]) == "111111 222222"


def test_para_value_from_parameters_keeps_named_ones_in_place_given_a_mix() -> None:
    pairs = [("dt", "$bizdate"), ("2", "b"), ("hour", "$[hh24]"), ("1", "a")]

    assert para_value_from_parameters(pairs) == "dt=$bizdate a hour=$[hh24] b"


def test_para_value_from_parameters_fails_given_a_gap_in_positions() -> None:
    with pytest.raises(InvalidParameter) as err:
        para_value_from_parameters([("1", "a"), ("3", "c")], where="here")

    assert err.value.message == (
        "Invalid parameter here: positional parameters must be named 1..2 without gaps, got 1, 3"
    )


def test_para_value_from_parameters_keeps_a_whole_p_string_given_no_kv_expression() -> None:
    value = '-p"-Dbizdate=$bizdate -Dhour=$[hh24]"'

    assert para_value_from_parameters([("-", value)]) == value
    assert parameters_from_para_value(value) == [("-", value)]


def test_parameters_from_para_value_names_positional_pieces_given_a_mix() -> None:
    assert parameters_from_para_value("dt=$bizdate ${yyyymmdd} x=1 $[hh24]") == [
        ("dt", "$bizdate"),
        ("1", "${yyyymmdd}"),
        ("x", "1"),
        ("2", "$[hh24]"),
    ]


def test_workflow_parameter_string_prints_pieces_given_variables() -> None:
    assert workflow_parameter_string({"region": "cn", "day": "${yyyymmdd-1}"}) == (
        "region=cn day=${yyyymmdd-1}"
    )


def test_workflow_parameter_string_fails_given_a_numbered_name() -> None:
    with pytest.raises(InvalidParameter) as err:
        workflow_parameter_string({"1": "x"})

    assert err.value.message == (
        'Invalid parameter spec.variables: workflow variable "1" needs a name, not a position'
    )


def test_command_code_maps_names_case_insensitively_given_the_runnable_types() -> None:
    assert [command_code(n) for n in ("DIDE_SHELL", "python", "ODPS_SQL", "Virtual", "SHELL")] == [
        6,
        1322,
        10,
        99,
        2,
    ]
    assert [command_name(c) for c in (6, 1322, 10, 99, 2, 123456)] == [
        "DIDE_SHELL",
        "PYTHON",
        "ODPS_SQL",
        "VIRTUAL",
        "SHELL",
        None,
    ]


def test_to_spec_round_trips_through_read_spec_given_the_example() -> None:
    definition = read_spec(_example())

    document = to_spec(definition)

    assert read_spec(document) == definition
    assert to_spec(read_spec(document)) == document


def test_to_spec_round_trips_the_resource_group_given_a_referenced_runtime_resource() -> None:
    definition = read_spec(_example())

    document = to_spec(definition)

    nodes = {n["id"]: n for n in document["spec"]["nodes"]}
    assert nodes["extract"]["runtimeResource"] == {"resourceGroup": "S_demo_group"}
    assert "runtimeResource" not in nodes["start"]
    assert read_spec(document).node("extract").resource_group == "S_demo_group"
    assert read_spec(document).node("start").resource_group is None


def test_read_spec_keeps_an_inline_resource_group_and_notes_nothing() -> None:
    document = _with_nodes({"id": "a", "runtimeResource": {"resourceGroup": "etl.q-1"}})

    found = read_specs(document)

    assert found.workflows[0].nodes[0].resource_group == "etl.q-1"
    assert found.notes == []


@pytest.mark.parametrize("group", ["has space", "ü", "x" * 129, "a/b"])
def test_read_spec_fails_given_a_resource_group_that_cannot_name_a_queue(group: str) -> None:
    document = _with_nodes({"id": "a", "runtimeResource": {"resourceGroup": group}})

    with pytest.raises(InvalidParameter) as err:
        read_spec(document)

    assert err.value.message.startswith(
        f"Invalid parameter spec.nodes[0].runtimeResource.resourceGroup: {group!r} must be"
    )


def test_to_spec_writes_the_spec_form_given_a_definition() -> None:
    definition = WorkflowDefinition(
        name="wf",
        description="d",
        owner="o",
        parameters={"region": "cn"},
        nodes=[
            NodeDefinition(local_id="s", name="s", file_type=99),
            NodeDefinition(
                local_id="t",
                name="t",
                file_type=6,
                content="echo $1",
                para_value="$bizdate",
                depends=("s",),
                rerun_mode="ALL_DENIED",
                timeout=2,
            ),
        ],
    )

    assert to_spec(definition) == {
        "version": "1.1.0",
        "kind": "ManualWorkflow",
        "metadata": {"owner": "o", "description": "d"},
        "spec": {
            "name": "wf",
            "description": "d",
            "owner": "o",
            "variables": [
                {"id": "region", "name": "region", "scope": "Workflow", "type": "Constant",
                 "value": "cn"},
            ],
            "nodes": [
                {"id": "s", "name": "s", "trigger": {"type": "Manual"}, "rerunMode": "Allowed",
                 "script": {"path": "wf/s", "language": "none", "content": "",
                            "runtime": {"command": "VIRTUAL", "commandTypeId": 99}}},
                {"id": "t", "name": "t", "trigger": {"type": "Manual"}, "rerunMode": "Denied",
                 "timeout": 2,
                 "script": {"path": "wf/t.sh", "language": "shell", "content": "echo $1",
                            "runtime": {"command": "DIDE_SHELL", "commandTypeId": 6},
                            "parameters": [{"name": "1", "scope": "NodeParameter",
                                            "type": "System", "value": "$bizdate"}]}},
            ],
            "flow": [{"nodeId": "{{t}}", "depends": [{"nodeId": "{{s}}", "type": "Normal"}]}],
        },
    }  # fmt: skip


def test_flowspec_exports_the_names_we_meant() -> None:
    assert sorted(flowspec.__all__) == [
        "COMMAND_CODES",
        "CYCLE_KIND",
        "ImportNote",
        "KIND",
        "KINDS",
        "NodeDefinition",
        "SPEC_VERSION",
        "SpecImport",
        "WorkflowDefinition",
        "command_code",
        "command_name",
        "para_value_from_parameters",
        "parameters_from_para_value",
        "read_spec",
        "read_specs",
        "to_spec",
        "workflow_parameter_string",
    ]


def test_read_spec_keeps_declared_outputs_given_node_outputs() -> None:
    document = _with_nodes(
        {"id": "a", "outputs": {"nodeOutputs": [{"artifactType": "NodeOutput", "data": "x.a"}]}}
    )

    definition = read_spec(document)

    assert definition.nodes[0].outputs == ("x.a",)
    assert to_spec(definition)["spec"]["nodes"][0]["outputs"] == {
        "nodeOutputs": [{"artifactType": "NodeOutput", "data": "x.a"}]
    }


def test_read_spec_fails_given_an_output_declared_twice() -> None:
    outputs = {"nodeOutputs": [{"data": "x.a"}]}

    with pytest.raises(InvalidParameter) as err:
        read_spec(_with_nodes({"id": "a", "outputs": outputs}, {"id": "b", "outputs": outputs}))

    assert err.value.message == (
        'Invalid parameter spec.nodes[1].outputs: output "x.a" is declared by node "a" too'
    )


def test_topological_order_puts_upstream_first_given_a_diamond() -> None:
    document = _with_nodes(
        {"id": "end"},
        {"id": "b"},
        {"id": "a"},
        {"id": "start"},
        flow=[
            {"nodeId": "a", "depends": [{"nodeId": "start"}]},
            {"nodeId": "b", "depends": [{"nodeId": "start"}]},
            {"nodeId": "end", "depends": [{"nodeId": "a"}, {"nodeId": "b"}]},
        ],
    )

    order = read_spec(document).topological_order()

    assert [n.local_id for n in order] == ["start", "b", "a", "end"]


def test_topological_order_fails_naming_the_cycle_given_circular_dependencies() -> None:
    document = _with_nodes(
        {"id": "s"},
        {"id": "a", "name": "alpha"},
        {"id": "b", "name": "beta"},
        flow=[
            {"nodeId": "a", "depends": [{"nodeId": "s"}, {"nodeId": "b"}]},
            {"nodeId": "b", "depends": [{"nodeId": "a"}]},
        ],
    )
    definition = read_spec(document)  # reading leaves cycles to the writer

    with pytest.raises(InvalidParameter) as err:
        definition.topological_order()

    assert err.value.message == (
        "Invalid parameter spec.flow: the dependencies form a cycle: alpha -> beta -> alpha"
    )
