"""The deployment files under deploy/: every opcenter command line they hold is one the CLI
accepts, the compose file has the processes docs/deploy.md promises, and the doc shows the
systemd units and the environment file as they are."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
import yaml

from opcenter.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _command_lines() -> list[list[str]]:
    lines = []
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                lines.append(shlex.split(line.removeprefix("ExecStart="))[1:])
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for service in compose["services"].values():
        if service.get("image", "").startswith("opcenter"):
            lines.append(list(service["command"]))
    return lines


@pytest.mark.parametrize("argv", _command_lines(), ids=" ".join)
def test_every_command_line_of_the_deployment_files_is_accepted_by_the_cli(
    argv: list[str],
) -> None:
    group = click.Context(cli)
    command = cli.get_command(group, argv[0])
    if command is None and argv[0] == "worker":
        pytest.skip("`opcenter worker` comes with the Celery executor")
    assert command is not None, argv
    rest = argv[1:]
    while isinstance(command, click.Group):
        parent = click.Context(command, parent=group)
        command, rest = command.get_command(parent, rest[0]), rest[1:]
        assert command is not None, argv
    command.make_context(argv[0], list(rest))  # raises on an unknown option or a bad value


def test_the_compose_file_runs_the_three_kinds_of_process_twice_and_its_services() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    kinds = [tuple(s["command"][:2]) for s in services.values() if "command" in s]
    assert kinds.count(("serve", "--no-engine")) == 2
    assert sum(1 for k in kinds if k[0] == "scheduler") == 2
    assert sum(1 for k in kinds if k[0] == "worker") == 2
    assert {"postgres", "rabbitmq", "migrate"} <= set(services)


@pytest.mark.parametrize("path", [*UNITS, DEPLOY / "opcenter.env.example"], ids=lambda p: p.name)
def test_the_deploy_doc_shows_each_file_as_it_is(path: Path) -> None:
    assert path.read_text().strip() in (ROOT / "docs" / "deploy.md").read_text()
