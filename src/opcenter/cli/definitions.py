"""`opcenter apply` and `opcenter export`: workflows as definition files (DataWorks Spec form)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opcenter.cli._output import (
    ENV_CHOICE,
    CommandFailed,
    console,
    data_dir_option,
    json_option,
    one_line_errors,
    service_context,
    shorten,
    workspace_option,
)
from opcenter.cli._remote import apply_remotely, endpoint_options, report_of

if TYPE_CHECKING:
    from opcenter.service.context import ServiceContext
    from opcenter.service.definitions import ApplyReport

__all__ = ["apply", "dump_yaml", "export", "undeclared_warning"]


def dump_yaml(document: Any) -> str:
    """YAML in the order given, multi-line text as literal blocks (scripts stay readable)."""
    import yaml

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


def _type_map(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    from opcenter.cli._output import OptionError
    from opcenter.domain.flowspec import KINDS

    found: dict[str, str] = {}
    for value in values:
        spec_type, sep, kind = value.partition("=")
        if not sep or not spec_type.strip().isidentifier() or kind.strip() not in KINDS:
            raise OptionError(
                f"--map {shorten(value)!r} is not TYPE=KIND (TYPE a Spec node type such as "
                f"ODPS_SQL, KIND one of {', '.join(KINDS)}).",
                ctx,
                param,
            )
        found[spec_type.strip().upper()] = kind.strip()
    return found


@click.command("apply", short_help="Apply a workflow definition file (create, submit, deploy).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@workspace_option(required=True)
@click.option("--deploy", is_flag=True, help="Also deploy every changed file to PROD.")
@click.option(
    "--create-workspace",
    is_flag=True,
    help="Create the workspace (STANDARD mode) if it does not exist yet.",
)
@click.option(
    "--name",
    default=None,
    help="Name of a workflow the file leaves unnamed (default: the file's name, no suffix).",
)
@click.option(
    "--as-manual",
    is_flag=True,
    help="Import a scheduled workflow (CycleWorkflow) as a manual one; triggers are dropped.",
)
@click.option(
    "--map",
    "type_map",
    multiple=True,
    metavar="TYPE=KIND",
    callback=_type_map,
    help="Run nodes of a Spec TYPE as KIND: shell, python, sql or virtual (repeatable).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse a node type opcenter does not run instead of importing it as virtual.",
)
@json_option
@data_dir_option
@endpoint_options
@one_line_errors
def apply(
    path: Path, workspace: str, deploy: bool, create_workspace: bool, name: str | None,
    as_manual: bool, type_map: dict[str, str], strict: bool, as_json: bool,
    data_dir: Path | None, endpoint: str | None, access_key_id: str | None,
    access_key_secret: str | None,
) -> None:  # fmt: skip
    """Apply a workflow definition file (DataWorks Spec, any version; JSON or YAML).

    Creates or updates each workflow of the file and one file per node, submits what changed
    (DEV) and, with --deploy, deploys it (PROD). Applying the same file again changes nothing.
    The report lists what was created or updated, and each node type mapped, each node turned
    virtual and each setting dropped, with the reason. A warning names each `${name}` a node
    uses but neither it nor the workflow declares.
    With --endpoint the file is sent to a running server (ApplyWorkflowDefinition) instead.
    """
    from opcenter.service.definitions import apply_definition

    document = _definition(path)
    if endpoint is not None:  # sent to a running server: cli/_remote.py
        extra = {"Name": name or path.stem, "AsManual": str(as_manual).lower()}
        extra |= {"Strict": str(strict).lower()}
        if type_map:
            extra["Map"] = ",".join(f"{t}={k}" for t, k in type_map.items())
        data = apply_remotely(
            path, endpoint=endpoint, access_key_id=access_key_id,
            access_key_secret=access_key_secret, workspace=workspace, deploy=deploy,
            create_workspace=create_workspace, extra=extra,
        )  # fmt: skip
        report = report_of(data)
    else:
        with service_context(data_dir) as ctx:
            if create_workspace:
                _ensure_workspace(ctx, workspace)
            report = apply_definition(
                ctx,
                path_or_document=document,
                workspace=workspace,
                deploy=deploy,
                name=name or path.stem,
                as_manual=as_manual,
                type_map=type_map,
                strict=strict,
            )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    for one in report.reports:
        for node, names in one.undeclared.items():
            click.echo(undeclared_warning(node, names), err=True)


def undeclared_warning(node: str, names: list[str]) -> str:
    """One line: the `${…}` names node `node` uses that nothing declares."""
    refs = ", ".join(f"${{{name}}}" for name in names)
    one = len(names) == 1
    return (
        f"Warning: node {node} uses {refs}, which {'is' if one else 'are'} declared neither by "
        f"the node nor by the workflow: a run leaves {'it' if one else 'them'} as written "
        "unless given as a workflow parameter (--dag-param)."
    )


def _definition(path: Path) -> Mapping[str, Any]:
    """The document of the file; one without `kind` is refused saying what a definition file
    holds (as an empty file or a list is, by `load_document`)."""
    from opcenter.service.definitions import WHAT_A_DEFINITION_HOLDS, load_document

    document = load_document(path)
    if "kind" not in document:
        name = shorten(str(path))
        raise CommandFailed(f"Definition file {name!r} has no `kind`: {WHAT_A_DEFINITION_HOLDS}.")
    return document


def _ensure_workspace(ctx: ServiceContext, identifier: str) -> None:
    from opcenter.errors import NotFound
    from opcenter.service.workspaces import create_project, get_project

    try:
        get_project(ctx, project_identifier=identifier)
    except NotFound:
        create_project(ctx, project_identifier=identifier, project_name=identifier)


def _print_report(report: ApplyReport) -> None:
    from rich.table import Table

    out = console()
    for one in report.reports:
        out.print(
            f"Workflow {one.workflow} (BusinessId {one.business_id}) in workspace "
            f"{one.workspace}: {one.workflow_action}"
        )
        table = Table("node", "file id", "draft", "submitted", "deployed", "node id", "version")
        for f in one.files:
            table.add_row(
                f.node,
                str(f.file_id),
                f.action,
                "yes" if f.submitted else "-",
                "yes" if f.deployed else "-",
                str(f.node_id or "-"),
                str(f.version or "-"),
            )
        out.print(table)
        if one.not_in_definition:
            out.print(
                "Files of the workflow not in the definition (left as they are): "
                + ", ".join(one.not_in_definition)
            )
    if report.notes:
        notes = Table("workflow", "node", "import", "what and why")
        for note in report.notes:
            notes.add_row(note.workflow, note.node or "-", note.action, note.detail)
        out.print(notes)
    out.print("Changed." if report.changed else "Nothing to change.")


@click.command("export", short_help="Export a workflow as a definition file.")
@click.argument("workflow")
@workspace_option(required=True)
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
    type=ENV_CHOICE,
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
    from opcenter.service.definitions import export_definition

    with service_context(data_dir) as ctx:
        document = export_definition(ctx, workspace=workspace, workflow_name=workflow, env=env)
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
