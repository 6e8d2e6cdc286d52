"""`opcenter workspace|workflow|file|node …`: the authoring model from the command line.

Each command calls one service function (two when a name must first be turned into an id) and
prints its result; `--json` prints it for machines. Workspace-scoped commands take
`-w/--workspace IDENTIFIER` or `--project-id ID`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opcenter.cli._output import (
    ENV_CHOICE,
    current_caller,
    data_dir_option,
    emit,
    env_option,
    group_data_dir_option,
    json_option,
    lazy_module,
    one_line_errors,
    paging_options,
    service_context,
    to_plain,
    workspace_option,
)
from opcenter.domain.model import FileType
from opcenter.errors import InvalidParameter, MissingParameter, NotFound
from opcenter.service._fields import RERUN_MODES, SCHEDULER_TYPES

if TYPE_CHECKING:
    from opcenter.service import deployments, files, nodes, versions, workflows, workspaces
    from opcenter.service.context import ServiceContext
else:  # imported by the first command that uses them (`node list` needs no deployments)
    deployments = lazy_module("opcenter.service.deployments")
    files = lazy_module("opcenter.service.files")
    nodes = lazy_module("opcenter.service.nodes")
    versions = lazy_module("opcenter.service.versions")
    workflows = lazy_module("opcenter.service.workflows")
    workspaces = lazy_module("opcenter.service.workspaces")

__all__ = ["file", "node", "workflow", "workspace"]

F = TypeVar("F", bound=Callable[..., Any])

_PROJECT_COLUMNS = ["project_id", "project_identifier", "project_name", "project_mode", "owner"]
_BUSINESS_COLUMNS = ["business_id", "business_name", "use_type", "owner", "parameters"]
_FILE_COLUMNS = [
    "file_id",
    "file_name",
    "program_type",
    "file_folder_path",
    "node_id",
    "current_version",
    "commit_status",
]
_NODE_COLUMNS = ["node_id", "node_name", "program_type", "file_version", "owner", "input_list"]
_TYPE_ALIASES = {"shell": 6, "python": 1322, "sql": 10, "virtual": 99}


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


_workspace_options = _options(
    workspace_option(),
    click.option("--project-id", type=int, help="Workspace id (ProjectId), instead of -w."),
)
_paging_options = paging_options
_env_option = env_option()


def _ws(workspace: str | None, project_id: int | None) -> dict[str, Any]:
    return {"project_identifier": workspace, "project_id": project_id}


class _FileTypeParam(click.ParamType):
    """A FileType code (`6`) or a name (`shell`, `python`, `sql`, `virtual`, `DIDE_SHELL`)."""

    name = "type"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        if text.lower() in _TYPE_ALIASES:
            return _TYPE_ALIASES[text.lower()]
        try:
            return int(FileType[text.upper()])
        except KeyError:
            names = ", ".join([*_TYPE_ALIASES, *(t.name for t in FileType)])
            self.fail(f"{text!r} is not a FileType code or one of {names}", param, ctx)


# --------------------------------------------------------------------------- workspace


class _WorkspaceGroup(click.Group):
    """`opcenter workspace member …` is the same group as `opcenter iam member …` (one
    implementation, two places people look for it), imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "member"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "member":
            from opcenter.cli.iam import member

            return member
        return super().get_command(ctx, cmd_name)


@click.group(cls=_WorkspaceGroup, short_help="Create and set up workspaces.")
@group_data_dir_option
def workspace() -> None:
    """Workspaces (DataWorks projects): STANDARD has DEV and PROD, BASIC has PROD only."""


@workspace.command("create", short_help="Create a workspace.")
@click.argument("identifier")
@click.option("--name", help="Display name (ProjectName); default: the identifier.")
@click.option(
    "--mode",
    type=click.Choice(["STANDARD", "BASIC"], case_sensitive=False),
    default="STANDARD",
    show_default=True,
    help="STANDARD: DEV and PROD; BASIC: PROD only.",
)
@click.option("--description", default="", help="Workspace description.")
@data_dir_option
@json_option
@one_line_errors
def workspace_create(
    identifier: str,
    name: str | None,
    mode: str,
    description: str,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create workspace IDENTIFIER (letters, digits, underscores)."""
    with service_context(data_dir) as ctx:
        view = workspaces.create_project(
            ctx,
            project_identifier=identifier,
            project_name=name or identifier,
            project_mode=mode.upper(),
            project_description=description,
            caller=current_caller(),
        )
        emit(view, as_json)


@workspace.command("get", short_help="Show a workspace, its job variables and tenants.")
@click.argument("identifier", required=False)
@click.option("--project-id", type=int, help="Workspace id, instead of IDENTIFIER.")
@data_dir_option
@json_option
@one_line_errors
def workspace_get(
    identifier: str | None, project_id: int | None, data_dir: Path | None, as_json: bool
) -> None:
    """Show workspace IDENTIFIER (or --project-id), with the variables it gives its jobs and the
    OS user (tenant) they run as in each environment."""
    with service_context(data_dir) as ctx:
        view = workspaces.get_project(ctx, **_ws(identifier, project_id))
        variables = workspaces.get_job_env(ctx, project_id=view.project_id)
        isolation = workspaces.get_isolation(ctx, project_id=view.project_id)
    if as_json:
        tenants = {t.env: t.user for t in isolation.tenants}
        emit({**to_plain(view), "job_env": _env_dict(variables), "tenants": tenants}, as_json)
        return
    emit(view, as_json)
    emit(variables, as_json, title="job environment")
    emit(_tenant_rows(isolation), as_json, title="tenants")


def _env_dict(variables: tuple[workspaces.JobVariable, ...]) -> dict[str, str]:
    return {v.name: v.value for v in variables}


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise InvalidParameter(f"{text!r} is not NAME=VALUE.")
    return name, value


@workspace.command("set-env", short_help="Set or remove the variables the jobs get.")
@click.argument("identifier")
@click.argument("assignments", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--unset", multiple=True, metavar="NAME", help="Remove a variable (repeatable).")
@data_dir_option
@json_option
@one_line_errors
def workspace_set_env(
    identifier: str,
    assignments: tuple[str, ...],
    unset: tuple[str, ...],
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Set (NAME=VALUE) or remove (--unset NAME) variables workspace IDENTIFIER gives its jobs.

    Names: letters, digits, underscores, not starting with a digit; not OPCENTER_* or LD_*, not
    PATH, HOME and the like (see docs/execution.md). Prints the workspace's variables."""
    with service_context(data_dir) as ctx:
        variables = workspaces.set_job_env(
            ctx,
            project_identifier=identifier,
            values=dict(_assignment(a) for a in assignments),
            unset=unset,
            caller=current_caller(),
        )
    emit(_env_dict(variables) if as_json else variables, as_json, title="job environment")


_DEFAULT_TENANT = "(default job user)"


@dataclass(frozen=True)
class _TenantRow:
    env: str
    user: str
    known_locally: str


@dataclass(frozen=True)
class _SharedRow:
    path: str
    access: str
    exists_locally: str


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _tenant_rows(isolation: workspaces.IsolationSettings) -> list[_TenantRow]:
    return [
        _TenantRow(t.env, t.user or _DEFAULT_TENANT, _yes(t.known_locally) if t.user else "")
        for t in isolation.tenants
    ]


def _emit_isolation(isolation: workspaces.IsolationSettings, as_json: bool) -> None:
    if as_json:
        emit(isolation, as_json)
        return
    emit(_tenant_rows(isolation), as_json, title="tenants")
    if not isolation.shared_paths:
        click.echo("shared paths: none")
        return
    shared = [
        _SharedRow(p.path, "read-write" if p.write else "read", _yes(p.exists_locally))
        for p in isolation.shared_paths
    ]
    emit(shared, as_json, title="shared paths")


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


@workspace.command("set-tenant", short_help="Choose the OS user the jobs run as.")
@click.argument("identifier")
@click.argument("user", required=False)
@click.option("--clear", is_flag=True, help="Remove the tenant: jobs run as the default job user.")
@click.option(
    "--env",
    type=ENV_CHOICE,
    default=None,
    help="Only this environment (default: every environment of the workspace).",
)
@data_dir_option
@json_option
@one_line_errors
def workspace_set_tenant(
    identifier: str,
    user: str | None,
    clear: bool,
    env: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Run the jobs of workspace IDENTIFIER as OS user USER (its tenant), or --clear it.

    USER is a POSIX user name, never root. It matters when opcenter runs as root: jobs then run
    as the tenant of their workspace environment, else as the default job user
    (OPCENTER_JOB_USER). A user this machine does not know is accepted with a warning (jobs may
    run on other machines). Prints the workspace's isolation settings."""
    if clear == (user is not None):
        raise click.UsageError("Give either USER or --clear.")
    with service_context(data_dir) as ctx:
        isolation = workspaces.set_tenant(
            ctx,
            project_identifier=identifier,
            user=user,
            env=env.upper() if env else None,
            caller=current_caller(),
        )
    if user is not None and not any(t.known_locally for t in isolation.tenants if t.user == user):
        _warn(f"user {user!r} does not exist on this machine: jobs cannot run as it here.")
    _emit_isolation(isolation, as_json)


@workspace.command("share", short_help="Let the jobs read (or write) a path.")
@click.argument("identifier")
@click.argument("path")
@click.option("--write", is_flag=True, help="Jobs may write it too (default: read only).")
@data_dir_option
@json_option
@one_line_errors
def workspace_share(
    identifier: str, path: str, write: bool, data_dir: Path | None, as_json: bool
) -> None:
    """Let the jobs of workspace IDENTIFIER read PATH (--write: and write it).

    PATH is an absolute file or folder (everything below a folder is shared too), neither / nor
    inside or around the server's data directory. Sharing it again sets --write anew. A path
    missing on this machine is accepted with a warning. Prints the workspace's isolation
    settings."""
    with service_context(data_dir) as ctx:
        isolation = workspaces.share_path(
            ctx, project_identifier=identifier, path=path, write=write, caller=current_caller()
        )
    normal = workspaces.normal_shared_path(path)
    if not any(p.exists_locally for p in isolation.shared_paths if p.path == normal):
        _warn(f"{normal} does not exist on this machine.")
    _emit_isolation(isolation, as_json)


@workspace.command("unshare", short_help="Stop sharing a path with the jobs.")
@click.argument("identifier")
@click.argument("path")
@data_dir_option
@json_option
@one_line_errors
def workspace_unshare(identifier: str, path: str, data_dir: Path | None, as_json: bool) -> None:
    """Stop sharing PATH with the jobs of workspace IDENTIFIER. Prints the workspace's isolation
    settings."""
    with service_context(data_dir) as ctx:
        isolation = workspaces.unshare_path(
            ctx, project_identifier=identifier, path=path, caller=current_caller()
        )
    _emit_isolation(isolation, as_json)


@workspace.command("isolation", short_help="Show the jobs' OS user and shared paths.")
@click.argument("identifier")
@data_dir_option
@json_option
@one_line_errors
def workspace_isolation(identifier: str, data_dir: Path | None, as_json: bool) -> None:
    """Show the OS user (tenant) the jobs of workspace IDENTIFIER run as in each environment,
    and the paths it shares with them."""
    with service_context(data_dir) as ctx:
        isolation = workspaces.get_isolation(ctx, project_identifier=identifier)
    _emit_isolation(isolation, as_json)


@workspace.command("list", short_help="List the workspaces.")
@_paging_options
@data_dir_option
@json_option
@one_line_errors
def workspace_list(page_number: int, page_size: int, data_dir: Path | None, as_json: bool) -> None:
    """List workspaces."""
    with service_context(data_dir) as ctx:
        page = workspaces.list_projects(ctx, page_number=page_number, page_size=page_size)
        emit(page, as_json, columns=_PROJECT_COLUMNS)


# --------------------------------------------------------------------------- workflow


@click.group(short_help="Create, show, change and delete workflows.")
@group_data_dir_option
def workflow() -> None:
    """Workflows (DataWorks business flows); MANUAL_BIZ ones are run by hand."""


def _business_id(
    ctx: ServiceContext, ws: dict[str, Any], name: str | None, business_id: int | None
) -> int:
    if business_id is not None:
        return business_id
    return workflows.get_business(ctx, business_name=name, **ws).business_id


@workflow.command("create", short_help="Create a workflow.")
@click.argument("name")
@_workspace_options
@click.option(
    "--use-type",
    type=click.Choice(["MANUAL_BIZ", "NORMAL"], case_sensitive=False),
    default="MANUAL_BIZ",
    show_default=True,
    help="MANUAL_BIZ: manually triggered; NORMAL: stored only.",
)
@click.option("--description", default="", help="Workflow description.")
@click.option("--owner", help="Owner; default: the current user.")
@click.option("--parameters", default="", help="Workflow parameters with defaults: 'k=v k2=v2'.")
@data_dir_option
@json_option
@one_line_errors
def workflow_create(
    name: str,
    workspace: str | None,
    project_id: int | None,
    use_type: str,
    description: str,
    owner: str | None,
    parameters: str,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create workflow NAME in a workspace."""
    with service_context(data_dir) as ctx:
        view = workflows.create_business(
            ctx,
            business_name=name,
            use_type=use_type.upper(),
            description=description,
            owner=owner,
            parameters=parameters,
            caller=current_caller(),
            **_ws(workspace, project_id),
        )
        emit(view, as_json)


_business_arguments = _options(
    click.argument("name", required=False),
    click.option("--business-id", type=int, help="Workflow id (BusinessId), instead of NAME."),
)


@workflow.command("get", short_help="Show a workflow.")
@_business_arguments
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def workflow_get(
    name: str | None,
    business_id: int | None,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show workflow NAME (or --business-id)."""
    with service_context(data_dir) as ctx:
        view = workflows.get_business(
            ctx, business_id=business_id, business_name=name, **_ws(workspace, project_id)
        )
        emit(view, as_json)


@workflow.command("list", short_help="List the workflows of a workspace.")
@_workspace_options
@click.option("--keyword", help="Part of the workflow name.")
@_paging_options
@data_dir_option
@json_option
@one_line_errors
def workflow_list(
    workspace: str | None,
    project_id: int | None,
    keyword: str | None,
    page_number: int,
    page_size: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List the workflows of a workspace."""
    with service_context(data_dir) as ctx:
        page = workflows.list_business(
            ctx,
            keyword=keyword,
            page_number=page_number,
            page_size=page_size,
            **_ws(workspace, project_id),
        )
        emit(page, as_json, columns=_BUSINESS_COLUMNS)


@workflow.command("update", short_help="Change a workflow.")
@_business_arguments
@_workspace_options
@click.option("--new-name", help="Rename the workflow (its files move with it).")
@click.option("--description", help="New description.")
@click.option("--owner", help="New owner.")
@click.option("--parameters", help="New workflow parameters: 'k=v k2=v2' ('' clears them).")
@data_dir_option
@json_option
@one_line_errors
def workflow_update(
    name: str | None,
    business_id: int | None,
    workspace: str | None,
    project_id: int | None,
    new_name: str | None,
    description: str | None,
    owner: str | None,
    parameters: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Change workflow NAME (or --business-id); options not given stay as they are."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        view = workflows.update_business(
            ctx,
            business_id=_business_id(ctx, ws, name, business_id),
            business_name=new_name,
            description=description,
            owner=owner,
            parameters=parameters,
            caller=current_caller(),
            **ws,
        )
        emit(view, as_json)


@workflow.command("delete", short_help="Delete a workflow that has no files left.")
@_business_arguments
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def workflow_delete(
    name: str | None,
    business_id: int | None,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Delete workflow NAME (or --business-id); it must have no files left."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        wf_id = _business_id(ctx, ws, name, business_id)
        workflows.delete_business(ctx, business_id=wf_id, caller=current_caller(), **ws)
    if as_json:
        emit({"business_id": wf_id, "deleted": True}, True)
    else:
        click.echo(f"Deleted workflow {wf_id}.")


# --------------------------------------------------------------------------- file


@click.group(short_help="Create, change, submit and deploy files (drafts).")
@group_data_dir_option
def file() -> None:
    """Files (drafts) of a workflow; submit commits to DEV, deploy publishes to PROD."""


def _file_id(ctx: ServiceContext, ws: dict[str, Any], name: str | None, file_id: int | None) -> int:
    if file_id is not None:
        return file_id
    if not name:
        raise MissingParameter("FileId")
    page = files.list_files(ctx, exact_file_name=name, page_size=1, **ws)
    if not page.items:
        raise NotFound("File", f"No file is named FileName={name!r} in the workspace.")
    return page.items[0].file_id


def _folder(workflow_name: str | None, folder_path: str | None) -> str | None:
    if workflow_name and folder_path:
        raise click.UsageError("Give --workflow or --folder-path, not both.")
    return f"Business Flow/{workflow_name}" if workflow_name else folder_path


def _content(content: str | None, content_file: Path | None) -> str | None:
    if content is not None and content_file is not None:
        raise click.UsageError("Give --content or --content-file, not both.")
    return content_file.read_text(encoding="utf-8") if content_file is not None else content


_file_arguments = _options(
    click.argument("name", required=False),
    click.option("--file-id", type=int, help="File id (FileId), instead of NAME."),
)
_file_field_options = _options(
    click.option("--workflow", "workflow_name", help="Workflow: the folder 'Business Flow/NAME'."),
    click.option("--folder-path", help="FileFolderPath, e.g. 'Business Flow/<workflow>/Shell'."),
    click.option("--content", help="The code."),
    click.option(
        "--content-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Read the code from this file.",
    ),
    click.option("--para-value", help="Node parameters (ParaValue): 'k=v $bizdate ...'."),
    click.option("--output", "output_list", help="Output names, comma-separated (OutputList)."),
    click.option("--input", "input_list", help="Upstream output names, comma-separated."),
    click.option("--rerun-mode", type=click.Choice(RERUN_MODES)),
    click.option("--auto-rerun-times", type=int, help="Automatic reruns on failure (0-10)."),
    click.option("--auto-rerun-interval-millis", type=int, help="Between automatic reruns."),
    click.option("--timeout", type=int, help="Timeout in hours (0: the 3-day ceiling)."),
    click.option("--scheduler-type", type=click.Choice(SCHEDULER_TYPES)),
    click.option("--dependent-type", help="Cross-cycle dependency type (stored only)."),
    click.option("--dependent-node-ids", help="Cross-cycle node ids, comma-separated."),
    click.option("--description", help="File description."),
    click.option("--owner", help="Owner; default: the current user."),
)


def _file_fields(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "file_folder_path": _folder(opts["workflow_name"], opts["folder_path"]),
        "content": _content(opts["content"], opts["content_file"]),
        "para_value": opts["para_value"],
        "output_list": opts["output_list"],
        "input_list": opts["input_list"],
        "rerun_mode": opts["rerun_mode"],
        "auto_rerun_times": opts["auto_rerun_times"],
        "auto_rerun_interval_millis": opts["auto_rerun_interval_millis"],
        "timeout": opts["timeout"],
        "scheduler_type": opts["scheduler_type"],
        "dependent_type": opts["dependent_type"],
        "dependent_node_id_list": opts["dependent_node_ids"],
        "file_description": opts["description"],
        "owner": opts["owner"],
    }


@file.command("create", short_help="Create a file in a workflow.")
@click.argument("name")
@_workspace_options
@click.option(
    "--type", "file_type", type=_FileTypeParam(), required=True, help="FileType code or name."
)
@_file_field_options
@data_dir_option
@json_option
@one_line_errors
def file_create(
    name: str,
    workspace: str | None,
    project_id: int | None,
    file_type: int,
    data_dir: Path | None,
    as_json: bool,
    **opts: Any,
) -> None:
    """Create file NAME in a workflow (--workflow or --folder-path)."""
    fields = {k: v for k, v in _file_fields(opts).items() if v is not None}
    with service_context(data_dir) as ctx:
        view = files.create_file(
            ctx,
            file_name=name,
            file_type=file_type,
            file_folder_path=fields.pop("file_folder_path", None),
            caller=current_caller(),
            **fields,
            **_ws(workspace, project_id),
        )
        emit(view, as_json)


@file.command("get", short_help="Show a file with its code.")
@_file_arguments
@click.option("--node-id", type=int, help="The file's node id, instead of NAME.")
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def file_get(
    name: str | None,
    file_id: int | None,
    node_id: int | None,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show file NAME (or --file-id, --node-id) with its code."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        if node_id is not None and file_id is None and not name:
            emit(files.get_file(ctx, node_id=node_id, **ws), as_json)
            return
        emit(files.get_file(ctx, file_id=_file_id(ctx, ws, name, file_id), **ws), as_json)


@file.command("list", short_help="List the files of a workspace.")
@_workspace_options
@click.option("--workflow", "workflow_name", help="Only the files of this workflow.")
@click.option("--folder-path", help="Only files in this folder or below.")
@click.option("--keyword", help="Part of the file name.")
@_paging_options
@data_dir_option
@json_option
@one_line_errors
def file_list(
    workspace: str | None,
    project_id: int | None,
    workflow_name: str | None,
    folder_path: str | None,
    keyword: str | None,
    page_number: int,
    page_size: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List the files of a workspace."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        business_id = (
            workflows.get_business(ctx, business_name=workflow_name, **ws).business_id
            if workflow_name
            else None
        )
        page = files.list_files(
            ctx,
            file_folder_path=folder_path,
            keyword=keyword,
            business_id=business_id,
            page_number=page_number,
            page_size=page_size,
            **ws,
        )
        emit(page, as_json, columns=_FILE_COLUMNS)


@file.command("update", short_help="Change a file (its draft).")
@_file_arguments
@_workspace_options
@click.option("--new-name", help="Rename the file (its outputs stay as they are).")
@_file_field_options
@data_dir_option
@json_option
@one_line_errors
def file_update(
    name: str | None,
    file_id: int | None,
    workspace: str | None,
    project_id: int | None,
    new_name: str | None,
    data_dir: Path | None,
    as_json: bool,
    **opts: Any,
) -> None:
    """Change file NAME (or --file-id); options not given stay as they are."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        view = files.update_file(
            ctx,
            file_id=_file_id(ctx, ws, name, file_id),
            file_name=new_name,
            caller=current_caller(),
            **_file_fields(opts),
            **ws,
        )
        emit(view, as_json)


@file.command("delete", short_help="Delete a file.")
@_file_arguments
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def file_delete(
    name: str | None,
    file_id: int | None,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Delete file NAME (or --file-id); a submitted file leaves DEV and PROD at once."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        fid = _file_id(ctx, ws, name, file_id)
        deployment_id = files.delete_file(ctx, file_id=fid, caller=current_caller(), **ws)
        if as_json:
            emit({"file_id": fid, "deployment_id": deployment_id}, True)
        else:
            click.echo(f"Deleted file {fid}.")


@file.command("submit", short_help="Commit a file: a new version, released to DEV.")
@_file_arguments
@_workspace_options
@click.option("--comment", default="", help="Commit comment.")
@data_dir_option
@json_option
@one_line_errors
def file_submit(
    name: str | None,
    file_id: int | None,
    workspace: str | None,
    project_id: int | None,
    comment: str,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Commit file NAME (or --file-id): a new version, released to DEV (PROD if BASIC)."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        view = deployments.submit_file(
            ctx,
            file_id=_file_id(ctx, ws, name, file_id),
            comment=comment,
            caller=current_caller(),
            **ws,
        )
        emit(view, as_json)


@file.command("deploy", short_help="Publish a file's latest version to PROD.")
@_file_arguments
@click.option("--node-id", type=int, help="The file's node id, instead of NAME.")
@_workspace_options
@click.option("--comment", default="", help="Deployment comment.")
@data_dir_option
@json_option
@one_line_errors
def file_deploy(
    name: str | None,
    file_id: int | None,
    node_id: int | None,
    workspace: str | None,
    project_id: int | None,
    comment: str,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Publish the latest submitted version of file NAME (or --file-id, --node-id) to PROD."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        if file_id is None and (name or node_id is None):
            file_id = _file_id(ctx, ws, name, None)
        view = deployments.deploy_file(
            ctx,
            file_id=file_id,
            node_id=node_id,
            comment=comment,
            caller=current_caller(),
            **ws,
        )
        emit(view, as_json)


@file.command("deployment", short_help="Show a deployment and its status.")
@click.argument("deployment_id", type=int)
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def file_deployment(
    deployment_id: int,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show deployment DEPLOYMENT_ID (a submit, deploy or delete) and its status."""
    with service_context(data_dir) as ctx:
        view = deployments.get_deployment(
            ctx, deployment_id=deployment_id, **_ws(workspace, project_id)
        )
        emit(view, as_json)


class _VersionParam(click.ParamType):
    """A version number (`2`) or `draft`; the draft converts to `versions.DRAFT`."""

    name = "version"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        text = str(value).strip().lower().lstrip("v")
        if text == versions.DRAFT:
            return versions.DRAFT
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a version number (1, 2, …) or 'draft'", param, ctx)


def _diff_colour(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    if line.startswith("+"):
        return click.style(line, fg="green")
    if line.startswith("-"):
        return click.style(line, fg="red")
    return line


@file.command("diff", short_help="Compare two versions of a file.")
@click.argument("name")
@click.argument("v1", required=False, type=_VersionParam())
@click.argument("v2", required=False, type=_VersionParam())
@_workspace_options
@data_dir_option
@json_option
@one_line_errors
def file_diff(
    name: str,
    v1: int | str | None,
    v2: int | str | None,
    workspace: str | None,
    project_id: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Compare two versions of file NAME: the code and the settings, as unified diffs.

    V1 and V2 are version numbers or 'draft'. With V1 and V2: V1 against V2. With V1 only:
    V1 against the draft. With neither: the draft against the newest version when they
    differ, else the two newest versions."""
    ws = _ws(workspace, project_id)
    with service_context(data_dir) as ctx:
        compared = versions.compare_file_versions(
            ctx,
            file_id=_file_id(ctx, ws, name, None),
            old=None if v1 in (None, versions.DRAFT) else int(v1),
            new=None if v2 in (None, versions.DRAFT) else int(v2),
            old_given=v1 is not None,
            **ws,
        )
    if as_json:
        emit(
            {
                "file_id": compared.file_id,
                "file_name": compared.file_name,
                "old": compared.old_label,
                "new": compared.new_label,
                "code_diff": compared.code_diff,
                "settings_diff": compared.settings_diff,
                "settings": [to_plain(change) for change in compared.settings],
            },
            True,
        )
        return
    if compared.same:
        click.echo(
            f"No differences between {compared.file_name} {compared.old_label} "
            f"and {compared.new_label}."
        )
        return
    for line in (compared.code_diff + compared.settings_diff).splitlines():
        click.echo(_diff_colour(line))


# --------------------------------------------------------------------------- node


@click.group(short_help="Show the nodes released to DEV or PROD.")
@group_data_dir_option
def node() -> None:
    """Nodes as released in an environment (DEV after submit, PROD after deploy)."""


@node.command("get", short_help="Show a node.")
@click.argument("node_id", type=int)
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_get(node_id: int, project_env: str, data_dir: Path | None, as_json: bool) -> None:
    """Show node NODE_ID in an environment."""
    with service_context(data_dir) as ctx:
        emit(nodes.get_node(ctx, node_id=node_id, project_env=project_env.upper()), as_json)


@node.command("list", short_help="List the nodes of a workspace.")
@_workspace_options
@_env_option
@click.option("--workflow", "biz_name", help="Only the nodes of this workflow.")
@click.option("--name", "node_name", help="Part of the node name.")
@click.option("--type", "program_type", help="Node type name or code.")
@_paging_options
@data_dir_option
@json_option
@one_line_errors
def node_list(
    workspace: str | None,
    project_id: int | None,
    project_env: str,
    biz_name: str | None,
    node_name: str | None,
    program_type: str | None,
    page_number: int,
    page_size: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List the nodes of a workspace in an environment."""
    with service_context(data_dir) as ctx:
        page = nodes.list_nodes(
            ctx,
            project_env=project_env.upper(),
            biz_name=biz_name,
            node_name=node_name,
            program_type=program_type,
            page_number=page_number,
            page_size=page_size,
            **_ws(workspace, project_id),
        )
        emit(page, as_json, columns=_NODE_COLUMNS)


@node.command("code", short_help="Print the code a node runs.")
@click.argument("node_id", type=int)
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_code(node_id: int, project_env: str, data_dir: Path | None, as_json: bool) -> None:
    """Print the code node NODE_ID runs in an environment."""
    with service_context(data_dir) as ctx:
        code = nodes.get_node_code(ctx, node_id=node_id, project_env=project_env.upper())
        emit({"node_id": node_id, "code": code} if as_json else code, as_json)


@node.command("parents", short_help="List the upstream nodes of a node.")
@click.argument("node_id", type=int)
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_parents(node_id: int, project_env: str, data_dir: Path | None, as_json: bool) -> None:
    """List the upstream nodes of NODE_ID in an environment."""
    with service_context(data_dir) as ctx:
        views = nodes.get_node_parents(ctx, node_id=node_id, project_env=project_env.upper())
        emit(views, as_json, columns=_NODE_COLUMNS)


@node.command("children", short_help="List the downstream nodes of a node.")
@click.argument("node_id", type=int)
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_children(node_id: int, project_env: str, data_dir: Path | None, as_json: bool) -> None:
    """List the downstream nodes of NODE_ID in an environment."""
    with service_context(data_dir) as ctx:
        views = nodes.get_node_children(ctx, node_id=node_id, project_env=project_env.upper())
        emit(views, as_json, columns=_NODE_COLUMNS)


@node.command("io", short_help="List the inputs or outputs of a node.")
@click.argument("node_id", type=int)
@click.argument("io_type", type=click.Choice(["input", "output"], case_sensitive=False))
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_io(
    node_id: int, io_type: str, project_env: str, data_dir: Path | None, as_json: bool
) -> None:
    """List the inputs or outputs of a node.

    Each is an output name with the node at its other end: for an input, the node that
    produces it; for an output, a node that consumes it (none: the workspace root, or an
    output nobody uses)."""
    with service_context(data_dir) as ctx:
        views = nodes.list_node_io(
            ctx, node_id=node_id, project_env=project_env.upper(), io_type=io_type
        )
        emit(views, as_json, columns=["data", "node_id"])


@node.command("offline", short_help="Take a node offline: new runs dry-run it.")
@click.argument("node_id", type=int)
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_offline(node_id: int, project_env: str, data_dir: Path | None, as_json: bool) -> None:
    """Take a node offline: runs dry-run it.

    New runs in that environment make NODE_ID a dry run (its descendants still run) and refuse
    it in --include; deploying it again (submitting, for DEV) brings it back."""
    with service_context(data_dir) as ctx:
        env = project_env.upper()
        nodes.offline_node(ctx, node_id=node_id, project_env=env, caller=current_caller())
        emit(nodes.get_node(ctx, node_id=node_id, project_env=env), as_json)


@node.command("owner", short_help="Give a node and its file a new owner.")
@click.argument("node_id", type=int)
@click.argument("user")
@_env_option
@data_dir_option
@json_option
@one_line_errors
def node_owner(
    node_id: int, user: str, project_env: str, data_dir: Path | None, as_json: bool
) -> None:
    """Give a node and its file a new owner.

    USER is a RAM user's name or UserId, or root (or the account id). The file's draft and
    versions get it, so both environments show it; instances already created keep theirs."""
    with service_context(data_dir) as ctx:
        env = project_env.upper()
        nodes.update_node_owner(ctx, node_id=node_id, project_env=env, user_id=user)
        emit(nodes.get_node(ctx, node_id=node_id, project_env=env), as_json)
