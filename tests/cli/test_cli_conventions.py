"""What holds for every `opcenter` command: help that fits 80 columns in whole sentences, one
wording for the options they share, `--env` in any case, `--data-dir` at every level, and
errors that name the flag and the value as the user typed them (never a 10,000-character name
in full)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.cli._output import DATA_DIR_HELP, ENV_CHOICE, JSON_HELP, WORKSPACE_HELP
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.engine.builders import YESTERDAY, make_flow, node

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}
# Commands that never open a store, so take no --data-dir.
STORELESS = {"opcenter params", "opcenter params eval", "opcenter iam server-key",
             "opcenter iam member roles", "opcenter workspace member roles"}  # fmt: skip


def _tree(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        context = click.Context(command, info_name=path)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            found += _tree(sub, f"{path} {name}")
    return found


COMMANDS = _tree(cli, "opcenter")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=ENV, terminal_width=80)


def test_every_command_list_fits_80_columns_in_whole_sentences() -> None:
    groups = [(path, c) for path, c in COMMANDS if isinstance(c, click.Group)]
    assert len(groups) >= 14
    for path, group in groups:
        shown = invoke(*path.split()[1:], "--help")
        assert shown.exit_code == 0, path
        listing = shown.stdout.split("Commands:\n", 1)[1]
        for line in listing.splitlines():
            assert len(line) <= 80, (path, line)
            assert not line.rstrip().endswith("..."), (path, line)
        context = click.Context(group, info_name=path)
        for name in group.list_commands(context):
            sub = group.get_command(context, name)
            assert sub is not None and sub.short_help, f"{path} {name} has no short help"
            assert sub.short_help.endswith("."), f"{path} {name}: {sub.short_help!r}"
            assert f"  {name}  " in listing or f"  {name} " in listing
            assert " ".join(sub.short_help.split()) in " ".join(listing.split()), (path, name)


def test_every_help_text_is_whole_sentences() -> None:
    for path, command in COMMANDS:
        text = " ".join((command.help or "").split())
        assert text, f"{path} has no help"
        assert text.endswith(
            (".", ":", "h=23")
        ), f"{path}: {text[-60:]!r}"  # eval ends with its example


@pytest.mark.parametrize("name", ["rerun", "set-success", "stop", "suspend", "resume"])
def test_instance_operations_explain_themselves_in_whole_sentences(name: str) -> None:
    shown = invoke("instance", name, "--help").stdout
    body = " ".join(shown.split("Options:")[0].split("\n", 2)[2].split())
    assert body.endswith("."), body
    assert len(body) > 40, body
    assert body.startswith(
        {"rerun": "Run instance", "set-success": "Set instance", "stop": "Stop instance",
         "suspend": "Suspend instance", "resume": "Resume instance"}[name]
    )  # fmt: skip


def _options(name: str) -> list[tuple[str, click.Option]]:
    return [
        (path, p)
        for path, command in COMMANDS
        for p in command.params
        if isinstance(p, click.Option) and name in p.opts and not p.hidden
    ]


def test_shared_options_have_one_wording_and_env_one_case_free_type() -> None:
    assert {o.help for _, o in _options("--json")} == {JSON_HELP}
    assert len(_options("--json")) >= 25
    workspaces = _options("-w")
    assert {o.help for _, o in workspaces} == {WORKSPACE_HELP}
    assert all("--workspace" in o.opts for _, o in workspaces)
    assert {o.help for _, o in _options("--data-dir")} == {DATA_DIR_HELP}
    envs = _options("--env")
    assert len(envs) >= 15
    assert all(o.type is ENV_CHOICE for _, o in envs), [
        p for p, o in envs if o.type is not ENV_CHOICE
    ]


def test_every_command_and_group_that_reads_the_store_takes_data_dir() -> None:
    missing = [
        path
        for path, command in COMMANDS
        if path not in STORELESS
        and not any(isinstance(p, click.Option) and "--data-dir" in p.opts for p in command.params)
    ]
    assert missing == []


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    data = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    make_flow(ctx, [node("a", "virtual")])
    ctx.db.dispose()
    return data


def test_data_dir_is_taken_before_the_group_after_it_and_after_the_command(
    data_dir: Path, tmp_path: Path
) -> None:
    where = str(data_dir)
    for args in (
        ["--data-dir", where, "workspace", "list", "--json"],
        ["workspace", "--data-dir", where, "list", "--json"],
        ["workspace", "list", "--json", "--data-dir", where],
        [
            "--data-dir",
            str(tmp_path / "elsewhere"),
            "workspace",
            "list",
            "--json",
            "--data-dir",
            where,
        ],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
        assert [p["project_identifier"] for p in json.loads(result.stdout)["items"]] == ["ws"], args
    for args in (
        ["iam", "--data-dir", where, "user", "list", "--json"],
        ["iam", "user", "--data-dir", where, "list", "--json"],
        ["--data-dir", where, "iam", "key", "list", "--json"],
        ["--data-dir", where, "node", "list", "-w", "ws", "--json"],
        ["--data-dir", where, "run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat()],
        ["dag", "--data-dir", where, "list", "-w", "ws"],
        ["instance", "--data-dir", where, "list", "-w", "ws"],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)


def test_env_is_taken_in_any_case_by_every_command(data_dir: Path) -> None:
    where = ("--data-dir", str(data_dir))
    day = YESTERDAY.isoformat()
    for args in (
        ["run", "flow", "-w", "ws", "--bizdate", day, "--env", "prod"],
        ["run", "flow", "-w", "ws", "--bizdate", day, "--env", "Dev"],
        ["node", "list", "-w", "ws", "--env", "prod"],
        ["dag", "list", "-w", "ws", "--env", "pRoD"],
        ["dag", "show", "1", "--env", "prod"],
        ["instance", "list", "-w", "ws", "--env", "dev"],
        ["instance", "show", "1", "--env", "prod"],
        ["export", "flow", "-w", "ws", "--env", "prod"],
        ["workspace", "set-tenant", "ws", "--clear", "--env", "dev"],
    ):
        result = invoke(*args, *where)
        assert result.exit_code == 0, (args, result.output)
    wrong = invoke("node", "list", "-w", "ws", "--env", "test", *where)
    assert wrong.exit_code == 2
    assert wrong.stderr.endswith("Error: --env 'test' is not an environment (PROD or DEV).\n")


def test_run_errors_name_the_flag_and_the_value_as_typed(data_dir: Path) -> None:
    where = ("--data-dir", str(data_dir))

    def error(*args: str) -> tuple[int, str]:
        result = invoke("run", "flow", "-w", "ws", *args, *where)
        return result.exit_code, result.stderr.splitlines()[-1]

    assert error("--bizdate", "2024/01/31") == (
        2,
        "Error: --bizdate '2024/01/31' is not a date (yyyy-mm-dd or yyyymmdd).",
    )
    assert error("--from", "2024-13-01", "--to", "2024-01-02")[1] == (
        "Error: --from '2024-13-01' is not a date (yyyy-mm-dd or yyyymmdd)."
    )
    assert error("--bizdate", "2999-01-01")[1].startswith(
        "Error: --bizdate '2999-01-01' is not in the past: a business date must be at most "
    )
    assert error("--from", "20240105", "--to", "20240101") == (
        2,
        "Error: --from 2024-01-05 is after --to 2024-01-01.",
    )
    assert error() == (
        2,
        "Error: Give the business date: --bizdate DATE, or --from DATE --to DATE.",
    )
    assert error("--from", "2024-01-01") == (
        2,
        "Error: Give both --from and --to (the range includes both dates).",
    )
    assert error("--from", "2020-01-01", "--to", "2022-01-01") == (
        1,
        "Error: --from '2020-01-01' to --to '2022-01-01' spans 732 days; a range may span at "
        "most 366.",
    )
    assert error("--bizdate", "2024-01-31", "--include", "1,x") == (
        1,
        "Error: --include '1,x': 'x' is not a node id (comma-separated integers).",
    )
    unknown = invoke("run", "nope", "-w", "ws", "--bizdate", "2024-01-31", *where)
    assert unknown.stderr == "Error: The workflow 'nope' does not exist in 'ws'.\n"


def test_a_very_long_name_is_not_echoed_in_full(data_dir: Path) -> None:
    where = ("--data-dir", str(data_dir))
    long = "x" * 10_000
    for args in (
        ["run", long, "-w", "ws", "--bizdate", "2024-01-31"],
        ["run", "flow", "-w", long, "--bizdate", "2024-01-31"],
        ["node", "list", "-w", long],
        ["workflow", "get", long, "-w", "ws"],
        ["run", "flow", "-w", "ws", "--bizdate", long],
        ["node", "list", "-w", "ws", "--env", long],
    ):
        result = invoke(*args, *where)
        assert result.exit_code in (1, 2), args
        said = result.stderr.splitlines()[-1]
        assert said.startswith("Error: "), args
        assert len(said) < 250, (args, said[:300])
        assert "(10000 characters)" in said, (args, said)
