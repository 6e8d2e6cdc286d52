"""`opcenter node io|offline|owner` over a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    return tmp_path / "data"


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=ENV)


def run_json(data_dir: Path, *args: str) -> Any:
    result = run(data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def node_ids(data_dir: Path) -> dict[str, int]:
    """demo/sales: a (virtual) feeds b (shell); both submitted and deployed."""
    run_json(data_dir, "workspace", "create", "demo", "--name", "Demo")
    run_json(data_dir, "workflow", "create", "sales", "-w", "demo")
    ids = {}
    for name, kind, inputs in [("a", "virtual", "demo_root"), ("b", "shell", "demo.a")]:
        run_json(
            data_dir, "file", "create", name, "-w", "demo", "--workflow", "sales",
            "--type", kind, "--content", "echo b", "--input", inputs,
        )  # fmt: skip
        ids[name] = run_json(data_dir, "file", "submit", name, "-w", "demo")["node_id"]
        run_json(data_dir, "file", "deploy", name, "-w", "demo")
    return ids


def test_node_io_lists_inputs_and_outputs_with_the_node_at_the_other_end(
    data_dir: Path, node_ids: dict[str, int]
) -> None:
    inputs = run_json(data_dir, "node", "io", str(node_ids["b"]), "input")
    outputs = run_json(data_dir, "node", "io", str(node_ids["a"]), "OUTPUT", "--env", "dev")
    assert inputs == [{"data": "demo.a", "node_id": node_ids["a"], "table_name": ""}]
    assert outputs == [{"data": "demo.a", "node_id": node_ids["b"], "table_name": ""}]
    table = run(data_dir, "node", "io", str(node_ids["a"]), "input")
    assert table.exit_code == 0
    assert "demo_root" in table.output


def test_node_offline_shows_the_node_as_a_dry_run_until_it_is_deployed_again(
    data_dir: Path, node_ids: dict[str, int]
) -> None:
    b = str(node_ids["b"])
    shown = run_json(data_dir, "node", "offline", b)
    assert (shown["scheduler_type"], shown["offline_at"] is not None) == ("SKIP", True)
    refused = run(data_dir, "run", "sales", "-w", "demo", "--bizdate", "2024-01-02", "--include", b)
    assert refused.exit_code == 1
    assert f"node {b} ('b') is offline in PROD; deploy it again to run it." in refused.output
    run_json(data_dir, "file", "deploy", "b", "-w", "demo")
    back = run_json(data_dir, "node", "get", b)
    assert (back["scheduler_type"], back["offline_at"]) == ("MANUAL", None)


def test_node_owner_gives_the_node_and_its_file_the_user(
    data_dir: Path, node_ids: dict[str, int]
) -> None:
    assert run(data_dir, "iam", "user", "create", "alice").exit_code == 0
    shown = run_json(data_dir, "node", "owner", str(node_ids["b"]), "alice")
    assert shown["owner"] == "alice"
    assert run_json(data_dir, "file", "get", "b", "-w", "demo")["owner"] == "alice"
    unknown = run(data_dir, "node", "owner", str(node_ids["b"]), "nobody")
    assert (unknown.exit_code, unknown.output.strip()) == (
        1,
        "Error: UserId='nobody' is neither the account nor a RAM user.",
    )
