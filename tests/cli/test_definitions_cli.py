"""`opcenter apply` / `opcenter export`, through click's runner and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.cli._output import cli_words
from opcenter.cli.definitions import dump_yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales_daily.yaml"
NODES = ["start", "extract_orders", "extract_customers", "load_sales", "done"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def invoke(data_dir: Path, *args: str) -> Result:
    env = {"OPCENTER_DATA_DIR": str(data_dir), "OPCENTER_DATABASE_URL": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def apply_json(data_dir: Path, path: Path, *extra: str) -> dict:
    result = invoke(data_dir, "apply", str(path), "--workspace", "demo", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_apply_creates_and_deploys_the_example_given_create_workspace(data_dir: Path) -> None:
    report = apply_json(data_dir, EXAMPLE, "--create-workspace", "--deploy")

    assert (report["workspace"], report["workflow"], report["workflow_action"]) == (
        "demo",
        "sales_daily",
        "created",
    )
    assert [(f["node"], f["action"], f["submitted"], f["deployed"]) for f in report["files"]] == [
        (name, "created", True, True) for name in NODES
    ]
    assert report["changed"] is True


def test_apply_reports_nothing_to_change_given_the_same_file_twice(data_dir: Path) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace", "--deploy")

    result = invoke(data_dir, "apply", str(EXAMPLE), "--workspace", "demo", "--deploy")

    assert result.exit_code == 0
    assert "Workflow sales_daily (BusinessId 1) in workspace demo: unchanged" in result.stdout
    assert result.stdout.rstrip().endswith("Nothing to change.")
    for name in NODES:
        assert name in result.stdout


def test_apply_fails_with_one_line_given_an_unknown_workspace(data_dir: Path) -> None:
    result = invoke(data_dir, "apply", str(EXAMPLE), "--workspace", "nowhere")

    assert result.exit_code == 1
    assert result.stderr == ("Error: The workspace 'nowhere' does not exist.\n")


def test_apply_fails_with_one_line_given_an_unknown_command_and_strict(
    data_dir: Path, tmp_path: Path
) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["spec"]["nodes"][1]["script"]["runtime"]["command"] = "BASH"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))

    result = invoke(
        data_dir, "apply", str(path), "--workspace", "demo", "--create-workspace", "--strict"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith(
        'Error: Invalid parameter spec.nodes[1].script.runtime.command of node "extract_orders": '
        'unknown command "BASH"'
    )
    assert result.stderr.count("\n") == 1


def test_export_writes_yaml_that_applies_as_a_no_op_given_an_applied_workflow(
    data_dir: Path, tmp_path: Path
) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace", "--deploy")
    out = tmp_path / "exported.yaml"

    result = invoke(data_dir, "export", "--workspace", "demo", "sales_daily", "-o", str(out))
    again = apply_json(data_dir, out, "--deploy")

    assert result.exit_code == 0
    assert result.stderr == f"Wrote {out}\n"
    document = yaml.safe_load(out.read_text())
    assert [n["name"] for n in document["spec"]["nodes"]] == NODES
    assert again["changed"] is False


def test_export_prints_json_given_format_json(data_dir: Path) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace")

    result = invoke(data_dir, "export", "-w", "demo", "sales_daily", "--format", "json")

    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["kind"] == "ManualWorkflow"
    assert document["spec"]["variables"] == [
        {"id": "region", "name": "region", "scope": "Workflow", "type": "Constant",
         "value": "cn-shanghai"},
        {"id": "channel", "name": "channel", "scope": "Workflow", "type": "Constant",
         "value": "online"},
    ]  # fmt: skip


def test_export_writes_no_nodes_given_prod_before_any_deploy(data_dir: Path) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace")

    result = invoke(data_dir, "export", "-w", "demo", "sales_daily", "--env", "prod")

    # Nothing is deployed: the export is a workflow without nodes, not an error.
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["spec"]["nodes"] == []


def test_export_fails_with_one_line_given_an_unknown_workflow(data_dir: Path) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace")

    result = invoke(data_dir, "export", "-w", "demo", "nope")

    assert result.exit_code == 1
    assert result.stderr == ("Error: The workflow 'nope' does not exist in workspace 'demo'.\n")


def test_apply_and_export_have_help_text() -> None:
    apply_help = CliRunner().invoke(cli, ["apply", "--help"])
    export_help = CliRunner().invoke(cli, ["export", "--help"])

    assert apply_help.exit_code == export_help.exit_code == 0
    assert "Apply a workflow definition file" in apply_help.stdout
    assert "--deploy" in apply_help.stdout
    assert "Export WORKFLOW as a definition file" in export_help.stdout
    assert "--format [yaml|json]" in export_help.stdout


def test_dump_yaml_writes_scripts_as_literal_blocks_given_multi_line_text() -> None:
    text = dump_yaml({"content": "echo 1\necho 2\n", "name": "x"})

    assert text == "content: |\n  echo 1\n  echo 2\nname: x\n"
    assert yaml.safe_load(text) == {"content": "echo 1\necho 2\n", "name": "x"}


def test_opcenter_apply_runs_as_a_real_process_given_the_example(data_dir: Path) -> None:
    env = {**os.environ, "OPCENTER_DATA_DIR": str(data_dir), "OPCENTER_DATABASE_URL": ""}
    command = [sys.executable, "-m", "opcenter.cli", "apply", str(EXAMPLE), "-w", "demo"]

    first = subprocess.run(
        [*command, "--create-workspace", "--deploy"], env=env, capture_output=True, text=True
    )
    second = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    bad = subprocess.run(
        [sys.executable, "-m", "opcenter.cli", "export", "-w", "demo", "missing"],
        env=env,
        capture_output=True,
        text=True,
    )

    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith("Changed.")
    assert json.loads(second.stdout)["changed"] is False
    assert (bad.returncode, bad.stderr) == (
        1,
        "Error: The workflow 'missing' does not exist in workspace 'demo'.\n",
    )


WHAT = (
    "a definition file holds workflows in DataWorks Spec form: `kind: ManualWorkflow` (or "
    "`CycleWorkflow`, imported with --as-manual) and the workflows' `nodes`, under `spec` or at "
    "the top level (see docs/definitions.md; `opcenter export` writes one from an existing "
    "workflow)."
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("\n# nothing yet\n", "is empty"),
        ("- a\n- b\n", "holds a list, not a definition"),
        ("spec:\n  name: x\n", "has no `kind`"),
    ],
)
def test_apply_says_what_a_definition_holds_given_a_file_without_one(
    data_dir: Path, tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    result = invoke(data_dir, "apply", str(path), "-w", "demo", "--create-workspace")
    assert result.exit_code == 1
    # A long path (pytest's folders) is cut as the CLI cuts every long value.
    expected = cli_words(f"Definition file {str(path)!r} {problem}: {WHAT}")
    assert result.stderr == f"Error: {expected}\n"


def test_apply_warns_about_names_a_node_uses_but_nothing_declares(
    data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kind": "ManualWorkflow",
                "spec": {
                    "name": "names",
                    "variables": [{"name": "region", "scope": "Workflow", "value": "cn"}],
                    "nodes": [
                        {
                            "id": "a",
                            "script": {
                                "content": "echo ${dt} ${region} ${missing} $1 ${1} ${2} ${HOME}",
                                "runtime": {"command": "DIDE_SHELL"},
                                "parameters": [
                                    {"name": "dt", "value": "$bizdate"},
                                    {"name": "tag", "value": "x${nope}"},
                                    {"name": "1", "value": "first"},
                                ],
                            },
                        },
                        {
                            "id": "b",
                            "script": {
                                "content": "echo ${region} ${bdp.system.bizdate}",
                                "runtime": {"command": "DIDE_SHELL"},
                            },
                        },
                    ],
                },
            }
        )
    )
    result = invoke(data_dir, "apply", str(path), "-w", "demo", "--create-workspace", "--json")
    assert result.exit_code == 0, result.output
    # What a run would leave as written: the undeclared ones (${2}: there is one positional
    # parameter only), not the node's, the workflow's, $1/${1} or the bdp.system.* names
    assert json.loads(result.stdout)["undeclared"] == {"a": ["nope", "missing", "2", "HOME"]}
    assert result.stderr == (
        "Warning: node a uses ${nope}, ${missing}, ${2}, ${HOME}, which are declared neither by "
        "the node nor by the workflow: a run leaves them as written unless given as a workflow "
        "parameter (--dag-param).\n"
    )
    example = invoke(data_dir, "apply", str(EXAMPLE), "-w", "demo")
    assert (example.exit_code, example.stderr) == (0, "")


def test_apply_and_export_take_env_and_workspace_as_every_command_does(data_dir: Path) -> None:
    apply_json(data_dir, EXAMPLE, "--create-workspace", "--deploy")
    exported = invoke(data_dir, "export", "sales_daily", "-w", "demo", "--env", "prod")
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(exported.stdout)["spec"]["name"] == "sales_daily"


SCHEDULED = {
    "version": "1.1.0",
    "kind": "CycleWorkflow",
    "spec": {
        "nodes": [
            {"id": "s", "name": "取数", "trigger": {"type": "Scheduler", "cron": "00 00 01 * * ?"},
             "script": {"content": "echo 1", "runtime": {"command": "SHELL"}}},
            {"id": "p", "script": {"content": "print(1)", "runtime": {"command": "PYODPS3"}}},
            {"id": "q", "script": {"content": "select 1", "runtime": {"command": "HOLOGRES_SQL"}}},
        ],
        "flow": [{"nodeId": "p", "depends": [{"nodeId": "s"}]}],
    },
}  # fmt: skip


def test_apply_refuses_a_scheduled_workflow_naming_as_manual(
    data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "日报.json"
    path.write_text(json.dumps(SCHEDULED, ensure_ascii=False), encoding="utf-8")

    result = invoke(data_dir, "apply", str(path), "-w", "demo", "--create-workspace")

    assert result.exit_code == 1
    assert "--as-manual" in result.output


def test_apply_imports_a_scheduled_workflow_with_maps_and_reports_it(
    data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "日报.json"
    path.write_text(json.dumps(SCHEDULED, ensure_ascii=False), encoding="utf-8")
    args = ["--create-workspace", "--as-manual", "--map", "PYODPS3=python"]

    report = apply_json(data_dir, path, *args)
    shown = invoke(data_dir, "apply", str(path), "-w", "demo", *args[1:], "--name", "日报")
    strict = invoke(data_dir, "apply", str(path), "-w", "demo", *args[1:], "--strict")

    assert report["workflow"] == "日报"  # the file's stem
    assert [(n["node"], n["action"], n["detail"]) for n in report["notes"]] == [
        ("", "named", "the workflow has no name in the file"),
        ("取数", "dropped", "Scheduler trigger (cron '00 00 01 * * ?') (runs are manual)"),
        ("取数", "mapped", "SHELL -> shell"),
        ("p", "mapped", "PYODPS3 -> python"),
        ("q", "virtual", "HOLOGRES_SQL is not run by opcenter (a dry run)"),
    ]
    assert shown.exit_code == 0, shown.output
    assert "Nothing to change." in shown.stdout
    assert "HOLOGRES_SQL is not run by opcenter" in shown.stdout
    assert strict.exit_code == 1
    assert "--map HOLOGRES_SQL=KIND" in strict.output


def test_apply_refuses_a_map_that_is_not_type_equals_kind(data_dir: Path) -> None:
    result = invoke(data_dir, "apply", str(EXAMPLE), "-w", "demo", "--map", "DI=spark")

    assert result.exit_code == 2
    assert (
        "--map 'DI=spark' is not TYPE=KIND (TYPE a Spec node type such as ODPS_SQL, KIND one "
        "of shell, python, sql, virtual)."
    ) in result.output
