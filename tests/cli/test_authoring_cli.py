"""`opcenter workspace|workflow|file|node`: the authoring CLI over a real store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from opcenter.cli import authoring, cli

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    return tmp_path / "data"


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=ENV)


def run_json(data_dir: Path, *args: str) -> object:
    result = run(data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _diamond(data_dir: Path, tmp_path: Path) -> None:
    run_json(data_dir, "workspace", "create", "demo", "--name", "Demo")
    run_json(data_dir, "workflow", "create", "sales", "-w", "demo", "--parameters", "region=cn")
    script = tmp_path / "load.sh"
    script.write_text("echo load $1\n")
    run_json(
        data_dir, "file", "create", "load", "-w", "demo", "--workflow", "sales",
        "--type", "shell", "--content-file", str(script), "--para-value", "dt=$bizdate",
        "--input", "demo_root",
    )  # fmt: skip
    for name, kind, inputs in [("left", "python", "demo.load"), ("right", "10", "demo.load")]:
        run_json(
            data_dir, "file", "create", name, "-w", "demo", "--folder-path",
            "Business Flow/sales/x", "--type", kind, "--content", f"-- {name}", "--input", inputs,
        )  # fmt: skip
    run_json(
        data_dir, "file", "create", "done", "-w", "demo", "--workflow", "sales",
        "--type", "virtual", "--input", "demo.left,demo.right",
    )  # fmt: skip


def test_authoring_commands_create_submit_and_deploy_a_diamond_given_json_output(
    data_dir: Path, tmp_path: Path
) -> None:
    _diamond(data_dir, tmp_path)
    for name in ("load", "left", "right", "done"):
        dep = run_json(data_dir, "file", "submit", name, "-w", "demo")
        assert dep["name"] == f"submit {name} v1"
        assert (dep["to_env"], dep["status"]) == ("DEV", 1)
    deployed = run_json(data_dir, "file", "deploy", "load", "-w", "demo")
    assert (deployed["name"], deployed["from_env"], deployed["to_env"]) == (
        "deploy load v1",
        "DEV",
        "PROD",
    )
    shown = run_json(data_dir, "file", "deployment", str(deployed["deployment_id"]), "-w", "demo")
    assert shown == deployed
    listed = run_json(data_dir, "node", "list", "-w", "demo", "--env", "DEV")
    assert [n["node_name"] for n in listed["items"]] == ["load", "left", "right", "done"]
    ids = {n["node_name"]: n["node_id"] for n in listed["items"]}
    parents = run_json(data_dir, "node", "parents", str(ids["done"]), "--env", "DEV")
    children = run_json(data_dir, "node", "children", str(ids["load"]), "--env", "DEV")
    assert [n["node_name"] for n in parents] == ["left", "right"]
    assert [n["node_name"] for n in children] == ["left", "right"]
    code = run(data_dir, "node", "code", str(ids["load"]), "--env", "PROD")
    assert (code.exit_code, code.stdout) == (0, "echo load $1\n")
    prod = run_json(data_dir, "node", "list", "-w", "demo", "--env", "PROD")
    assert [n["node_name"] for n in prod["items"]] == ["load"]


def test_file_update_changes_the_draft_given_options(data_dir: Path, tmp_path: Path) -> None:
    _diamond(data_dir, tmp_path)
    view = run_json(
        data_dir, "file", "update", "left", "-w", "demo", "--content", "print(2)",
        "--new-name", "lhs", "--auto-rerun-times", "2",
    )  # fmt: skip
    assert (view["file_name"], view["content"], view["auto_rerun_times"]) == ("lhs", "print(2)", 2)
    assert view["output_list"] == ["demo.left"]
    assert run_json(data_dir, "file", "get", "lhs", "-w", "demo") == view


def test_workflow_commands_update_list_and_delete_given_a_workflow(data_dir: Path) -> None:
    run_json(data_dir, "workspace", "create", "demo")
    run_json(data_dir, "workflow", "create", "sales", "-w", "demo")
    updated = run_json(
        data_dir, "workflow", "update", "sales", "-w", "demo", "--parameters", "a=1 b=$bizdate"
    )
    assert updated["parameters"] == "a=1 b=$bizdate"
    listed = run_json(data_dir, "workflow", "list", "-w", "demo")
    assert [w["business_name"] for w in listed["items"]] == ["sales"]
    deleted = run(data_dir, "workflow", "delete", "sales", "-w", "demo")
    assert (deleted.exit_code, deleted.stdout) == (
        0,
        f"Deleted workflow {updated['business_id']}.\n",
    )
    assert run_json(data_dir, "workflow", "list", "-w", "demo")["total_count"] == 0


def test_list_commands_print_a_table_given_no_json_flag(data_dir: Path, tmp_path: Path) -> None:
    _diamond(data_dir, tmp_path)
    result = run(data_dir, "file", "list", "-w", "demo", "--workflow", "sales")
    assert result.exit_code == 0
    assert "file_name" in result.stdout
    for name in ("load", "left", "right", "done"):
        assert f" {name} " in result.stdout
    assert result.stdout.rstrip().endswith("page 1, 4 of 4")


def test_commands_print_one_error_line_given_an_unknown_workspace(data_dir: Path) -> None:
    result = run(data_dir, "workflow", "create", "sales", "-w", "ghost")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: The workspace 'ghost' does not exist.\n"


def test_file_submit_fails_with_one_line_given_a_cycle(data_dir: Path) -> None:
    run_json(data_dir, "workspace", "create", "demo")
    run_json(data_dir, "workflow", "create", "sales", "-w", "demo")
    for name, inputs in [("a", "demo.b"), ("b", "demo.a")]:
        run_json(
            data_dir, "file", "create", name, "-w", "demo", "--workflow", "sales",
            "--type", "6", "--input", inputs,
        )  # fmt: skip
    assert run(data_dir, "file", "submit", "a", "-w", "demo").exit_code == 0
    result = run(data_dir, "file", "submit", "b", "-w", "demo")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Submitting file 'b' would make a dependency cycle: a -> b -> a.\n"
    )


def test_file_create_fails_with_a_usage_error_given_content_and_content_file(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "x.sh").write_text("x")
    result = run(
        data_dir, "file", "create", "x", "-w", "demo", "--workflow", "s", "--type", "6",
        "--content", "y", "--content-file", str(tmp_path / "x.sh"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Give --content or --content-file, not both." in result.stderr


def test_file_create_fails_with_a_usage_error_given_an_unknown_type(data_dir: Path) -> None:
    result = run(data_dir, "file", "create", "x", "-w", "demo", "--type", "spark")
    assert result.exit_code == 2
    assert "'spark' is not a FileType code or one of" in result.stderr


def _commands() -> list[tuple[str, str]]:
    pairs = []
    for group in (authoring.workspace, authoring.workflow, authoring.file, authoring.node):
        assert isinstance(group, click.Group)
        # `workspace member` is the IAM group, tested with the IAM commands.
        pairs.extend((group.name or "", n) for n in group.commands if n != "member")
    return pairs


@pytest.mark.parametrize(("group", "command"), _commands())
def test_every_authoring_command_has_help_given_help_flag(group: str, command: str) -> None:
    result = CliRunner().invoke(cli, [group, command, "--help"])
    assert result.exit_code == 0
    assert "--json" in result.stdout
    assert "--data-dir" in result.stdout
    sub = getattr(authoring, group).commands[command]
    assert sub.help
    assert " ".join(sub.help.split()) in " ".join(result.stdout.split())


def test_opcenter_runs_as_a_real_process_given_a_data_dir(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    base = [sys.executable, "-m", "opcenter.cli"]
    env = {"PATH": "/usr/bin:/bin", "OPCENTER_DATA_DIR": data_dir, "HOME": str(tmp_path)}
    created = subprocess.run(
        [*base, "workspace", "create", "demo", "--mode", "BASIC", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["project_mode"] == "BASIC"
    failed = subprocess.run(
        [*base, "node", "list", "-w", "demo", "--env", "DEV"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr == (
        "Error: --env DEV is not available: workspace 'demo' is in basic mode, "
        "which has PROD only.\n"
    )


def test_workspace_member_is_the_iam_member_group_given_either_spelling() -> None:
    from opcenter.cli import iam

    context = click.Context(authoring.workspace)
    assert "member" in authoring.workspace.list_commands(context)
    workspace_member = authoring.workspace.get_command(context, "member")
    iam_member = iam.iam.commands["member"]
    assert workspace_member is iam_member
    assert set(workspace_member.commands) >= {"add", "list", "remove", "grant", "revoke"}
