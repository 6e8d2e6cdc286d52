"""`opcenter apply` and `opcenter export`: workflows as definition files (DataWorks Spec form)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from opcenter.cli._output import CommandFailed, data_dir_option, one_line_errors, service_context
from opcenter.errors import NotFound
from opcenter.service.context import ServiceContext
from opcenter.service.definitions import ApplyReport, apply_definition, export_definition
from opcenter.service.workspaces import create_project, get_project

__all__ = ["apply", "dump_yaml", "export"]

_workspace_option = click.option(
    "--workspace",
    "-w",
    required=True,
    metavar="IDENTIFIER",
    help="Workspace identifier (DataWorks ProjectIdentifier).",
)


def dump_yaml(document: Any) -> str:
    """YAML in the order given, multi-line text as literal blocks (scripts stay readable)."""

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value and _literal_ok(value) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _literal_ok(value: str) -> bool:
    # A literal block cannot keep trailing spaces on a line or carriage returns faithfully.
    return "\r" not in value and not any(line.endswith((" ", "\t")) for line in value.split("\n"))


@click.command("apply")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_workspace_option
@click.option("--deploy", is_flag=True, help="Also deploy every changed file to PROD.")
@click.option(
    "--create-workspace",
    is_flag=True,
    help="Create the workspace (STANDARD mode) if it does not exist yet.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@data_dir_option
@one_line_errors
def apply(
    path: Path, workspace: str, deploy: bool, create_workspace: bool, as_json: bool,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Apply a workflow definition file (DataWorks Spec, kind ManualWorkflow; JSON or YAML).

    Creates or updates the workflow and one file per node, submits what changed (DEV) and,
    with --deploy, deploys it (PROD). Applying the same file again changes nothing.
    """
    with service_context(data_dir) as ctx:
        if create_workspace:
            _ensure_workspace(ctx, workspace)
        report = apply_definition(ctx, path_or_document=path, workspace=workspace, deploy=deploy)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)


def _ensure_workspace(ctx: ServiceContext, identifier: str) -> None:
    try:
        get_project(ctx, project_identifier=identifier)
    except NotFound:
        create_project(ctx, project_identifier=identifier, project_name=identifier)


def _print_report(report: ApplyReport) -> None:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: no terminal width to squeeze names into
        console = Console(highlight=False, soft_wrap=True, width=200)
    console.print(
        f"Workflow {report.workflow} (BusinessId {report.business_id}) in workspace "
        f"{report.workspace}: {report.workflow_action}"
    )
    table = Table("node", "file id", "draft", "submitted", "deployed", "node id", "version")
    for f in report.files:
        table.add_row(
            f.node,
            str(f.file_id),
            f.action,
            "yes" if f.submitted else "-",
            "yes" if f.deployed else "-",
            str(f.node_id or "-"),
            str(f.version or "-"),
        )
    console.print(table)
    if report.not_in_definition:
        console.print(
            "Files of the workflow not in the definition (left as they are): "
            + ", ".join(report.not_in_definition)
        )
    console.print("Changed." if report.changed else "Nothing to change.")


@click.command("export")
@click.argument("workflow")
@_workspace_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--env",
    type=click.Choice(["DEV", "PROD"], case_sensitive=False),
    default=None,
    help="Export the nodes as released in this environment (default: the drafts).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@data_dir_option
@one_line_errors
def export(
    workflow: str, workspace: str, fmt: str, env: str | None, output: Path | None,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Export WORKFLOW as a definition file (DataWorks Spec, kind ManualWorkflow).

    `opcenter apply` of the result changes nothing.
    """
    with service_context(data_dir) as ctx:
        document = export_definition(
            ctx, workspace=workspace, workflow_name=workflow, env=env.upper() if env else None
        )
    text = (
        json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else dump_yaml(document)
    )
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(f"Cannot write {str(output)!r}: {exc}") from None
    click.echo(f"Wrote {output}", err=True)
