"""`opcenter iam …` (users, AccessKeys, policies, workspace members) and `opcenter audit`.

Every command works on the store of the data directory directly, as the root account would.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from opcenter.errors import InvalidParameter, OpcenterError
from opcenter.iam.audit import AuditFilter
from opcenter.iam.keys import generate_server_key
from opcenter.iam.roles import ROLES
from opcenter.service import iam as svc
from opcenter.service.context import ServiceContext
from opcenter.service.workspaces import get_project
from opcenter.settings import load_settings

__all__ = ["audit", "iam"]

EXIT_FAILURE = 1  # as opcenter.cli.EXIT_FAILURE (not imported: that module imports this one)
F = TypeVar("F", bound=Callable[..., Any])


class _Failed(click.ClickException):
    exit_code = EXIT_FAILURE


def _one_line_errors(command: F) -> F:
    """Our own errors become one `Error: …` line and exit code 1, under CliRunner too."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OpcenterError as exc:
            raise _Failed(exc.message) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _service_context() -> Iterator[ServiceContext]:
    data_dir = click.get_current_context().find_root().meta.get("opcenter.iam.data_dir")
    ctx = ServiceContext.open(load_settings(data_dir=data_dir))
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def _remember_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().meta["opcenter.iam.data_dir"] = value


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_remember_data_dir,
    help="Data directory (default: OPCENTER_DATA_DIR, else ./.opcenter).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _emit(headers: Sequence[str], rows: Sequence[Sequence[Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([dict(zip(headers, row, strict=True)) for row in rows], indent=2))
        return
    table = [list(headers), *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


# --- iam ------------------------------------------------------------------------------------


@click.group("iam")
@_data_dir_option
def iam() -> None:
    """Identity and access: RAM users, AccessKeys, policies, workspace members."""


@iam.group("user")
def user() -> None:
    """RAM users of the account."""


@user.command("create")
@click.argument("name")
@click.option("--display-name", default="", help="Display name (default: the name).")
@_data_dir_option
@_one_line_errors
def user_create(name: str, display_name: str) -> None:
    """Create a RAM user (it can do nothing until a policy and a workspace role say so)."""
    with _service_context() as ctx:
        record = svc.create_user(ctx, user_name=name, display_name=display_name)
    click.echo(f"Created user {record.name} (UserId {record.uid}).")


@user.command("list")
@_json_option
@_data_dir_option
@_one_line_errors
def user_list(as_json: bool) -> None:
    """List RAM users with their UserId and attached policies."""
    with _service_context() as ctx:
        users = svc.list_users(ctx)
        rows = [
            (
                u.name,
                u.uid,
                u.display_name,
                ",".join(svc.list_user_policies(ctx, user_name=u.name)),
                _when(u.created_at),
            )
            for u in users
        ]
    _emit(("Name", "UserId", "DisplayName", "Policies", "Created"), rows, as_json)


@user.command("delete")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def user_delete(name: str) -> None:
    """Delete a user with its AccessKeys, policy attachments and memberships."""
    with _service_context() as ctx:
        record = svc.delete_user(ctx, user_name=name)
    click.echo(f"Deleted user {record.name} (UserId {record.uid}).")


@iam.group("key")
def key() -> None:
    """AccessKey pairs (the secret is shown once, at creation)."""


_user_option = click.option(
    "--user", "user_name", default=None, help="RAM user name or UserId (default: the root account)."
)


@key.command("create")
@_user_option
@_data_dir_option
@_one_line_errors
def key_create(user_name: str | None) -> None:
    """Create an AccessKey pair and print its secret, this one time."""
    with _service_context() as ctx:
        record, secret = svc.create_access_key(ctx, user_name=user_name)
    click.echo(f"AccessKeyId:     {record.access_key_id}")
    click.echo(f"AccessKeySecret: {secret}")
    click.echo("The secret is not shown again; keep it now.", err=True)


@key.command("list")
@_user_option
@_json_option
@_data_dir_option
@_one_line_errors
def key_list(user_name: str | None, as_json: bool) -> None:
    """List the AccessKeys of a user (default: the root account), never their secrets."""
    with _service_context() as ctx:
        keys = svc.list_access_keys(ctx, user_name=user_name)
    rows = [(k.access_key_id, k.status, _when(k.created_at)) for k in keys]
    _emit(("AccessKeyId", "Status", "Created"), rows, as_json)


def _key_command(name: str, verb: str, action: Callable[..., None]) -> None:
    @key.command(name, help=f"{verb.capitalize()} an AccessKey.")
    @click.argument("access_key_id")
    @_data_dir_option
    @_one_line_errors
    def command(access_key_id: str) -> None:
        with _service_context() as ctx:
            action(ctx, access_key_id=access_key_id)
        click.echo(f"AccessKey {access_key_id} {verb}d.")


_key_command("disable", "disable", svc.disable_access_key)
_key_command("enable", "enable", svc.enable_access_key)
_key_command("delete", "delete", svc.delete_access_key)


@iam.group("policy")
def policy() -> None:
    """RAM policies: the system ones and custom documents."""


@policy.command("create")
@click.argument("name")
@click.option(
    "--document",
    "document",
    required=True,
    help="The policy document: JSON text, @FILE, or - for standard input.",
)
@click.option("--description", default="")
@_data_dir_option
@_one_line_errors
def policy_create(name: str, document: str, description: str) -> None:
    """Create a custom policy from a RAM policy document."""
    text = _read_document(document)
    with _service_context() as ctx:
        svc.create_policy(ctx, policy_name=name, policy_document=text, description=description)
    click.echo(f"Created policy {name}.")


def _read_document(value: str) -> str:
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise InvalidParameter(f"--document {value!r}: the file {path} does not exist.")
        return path.read_text()
    return value


@policy.command("list")
@_json_option
@_data_dir_option
@_one_line_errors
def policy_list(as_json: bool) -> None:
    """List the system and custom policies."""
    with _service_context() as ctx:
        rows = [(p.name, p.type, p.description) for p in svc.list_policies(ctx)]
    _emit(("Name", "Type", "Description"), rows, as_json)


@policy.command("show")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def policy_show(name: str) -> None:
    """Print a policy's document."""
    with _service_context() as ctx:
        click.echo(svc.get_policy(ctx, policy_name=name).document)


@policy.command("attach")
@click.argument("name")
@click.option("--user", "user_name", required=True, help="RAM user name or UserId.")
@_data_dir_option
@_one_line_errors
def policy_attach(name: str, user_name: str) -> None:
    """Attach a policy to a user."""
    with _service_context() as ctx:
        svc.attach_policy(ctx, policy_name=name, user_name=user_name)
    click.echo(f"Attached {name} to {user_name}.")


@policy.command("detach")
@click.argument("name")
@click.option("--user", "user_name", required=True, help="RAM user name or UserId.")
@_data_dir_option
@_one_line_errors
def policy_detach(name: str, user_name: str) -> None:
    """Detach a policy from a user."""
    with _service_context() as ctx:
        svc.detach_policy(ctx, policy_name=name, user_name=user_name)
    click.echo(f"Detached {name} from {user_name}.")


@policy.command("delete")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def policy_delete(name: str) -> None:
    """Delete a custom policy (detach it from every user first)."""
    with _service_context() as ctx:
        svc.delete_policy(ctx, policy_name=name)
    click.echo(f"Deleted policy {name}.")


@iam.group("member")
def member() -> None:
    """Workspace members and their roles (CreateProjectMember and friends)."""


def _project_id(ctx: ServiceContext, workspace: str) -> int:
    if workspace.isdigit():
        return get_project(ctx, project_id=int(workspace)).project_id
    return get_project(ctx, project_identifier=workspace).project_id


def _uid(ctx: ServiceContext, user_name: str) -> str:
    return ctx.settings.account_id if user_name == "root" else user_name


_workspace_argument = click.argument("workspace", metavar="WORKSPACE")
_member_argument = click.argument("user_name", metavar="USER")
_role_choice = click.Choice([r.code for r in ROLES])


@member.command("add")
@_workspace_argument
@_member_argument
@click.option("--role", "role_code", type=_role_choice, default=None, help="A first role.")
@_data_dir_option
@_one_line_errors
def member_add(workspace: str, user_name: str, role_code: str | None) -> None:
    """Add USER (name, UserId, or root) to WORKSPACE (identifier or id)."""
    with _service_context() as ctx:
        svc.create_project_member(
            ctx,
            project_id=_project_id(ctx, workspace),
            user_id=_uid(ctx, user_name),
            role_code=role_code,
        )
    click.echo(f"Added {user_name} to {workspace}.")


@member.command("list")
@_workspace_argument
@_json_option
@_data_dir_option
@_one_line_errors
def member_list(workspace: str, as_json: bool) -> None:
    """List the members of WORKSPACE with their roles."""
    with _service_context() as ctx:
        project_id = _project_id(ctx, workspace)
        views, page = [], 1
        while True:
            result = svc.list_project_members(
                ctx, project_id=project_id, page_number=page, page_size=100
            )
            views.extend(result.items)
            if page * 100 >= result.total_count:
                break
            page += 1
    rows = [
        (v.project_member_name, v.project_member_id, v.project_member_type,
         ",".join(r.code for r in v.roles))
        for v in views
    ]  # fmt: skip
    _emit(("Name", "UserId", "Type", "Roles"), rows, as_json)


@member.command("remove")
@_workspace_argument
@_member_argument
@_data_dir_option
@_one_line_errors
def member_remove(workspace: str, user_name: str) -> None:
    """Remove USER and all its roles from WORKSPACE."""
    with _service_context() as ctx:
        svc.delete_project_member(
            ctx, project_id=_project_id(ctx, workspace), user_id=_uid(ctx, user_name)
        )
    click.echo(f"Removed {user_name} from {workspace}.")


@member.command("grant")
@_workspace_argument
@_member_argument
@click.argument("role_code", metavar="ROLE", type=_role_choice)
@_data_dir_option
@_one_line_errors
def member_grant(workspace: str, user_name: str, role_code: str) -> None:
    """Give a member of WORKSPACE one more ROLE."""
    with _service_context() as ctx:
        svc.add_project_member_to_role(
            ctx,
            project_id=_project_id(ctx, workspace),
            user_id=_uid(ctx, user_name),
            role_code=role_code,
        )
    click.echo(f"Granted {role_code} to {user_name} in {workspace}.")


@member.command("revoke")
@_workspace_argument
@_member_argument
@click.argument("role_code", metavar="ROLE", type=_role_choice)
@_data_dir_option
@_one_line_errors
def member_revoke(workspace: str, user_name: str, role_code: str) -> None:
    """Take ROLE from a member of WORKSPACE (it stays a member)."""
    with _service_context() as ctx:
        svc.remove_project_member_from_role(
            ctx,
            project_id=_project_id(ctx, workspace),
            user_id=_uid(ctx, user_name),
            role_code=role_code,
        )
    click.echo(f"Revoked {role_code} from {user_name} in {workspace}.")


@member.command("roles")
def member_roles() -> None:
    """List the workspace roles (ListProjectRoles)."""
    _emit(("RoleCode", "RoleId", "Name"), [(r.code, r.id, r.name) for r in ROLES], False)


@iam.command("server-key")
def server_key() -> None:
    """Print a fresh server key for OPCENTER_SECRET_KEY (seals AccessKey secrets at rest)."""
    click.echo(generate_server_key())


# --- audit ----------------------------------------------------------------------------------


def _epoch_ms(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            f"{option} {value!r} is not a date or time (YYYY-MM-DD[THH:MM[:SS]])."
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


@click.command("audit")
@click.option("--principal", help="Principal ARN; * and ? wildcards.")
@click.option("--action", help="RAM action, e.g. 'dataworks:Run*'.")
@click.option("--resource", help="Resource ARN; * and ? wildcards.")
@click.option("--outcome", type=click.Choice(["Allowed", "Denied"]))
@click.option("--key", "access_key_id", help="AccessKey id.")
@click.option("--ip", "source_ip", help="Source IP address.")
@click.option("--request-id", help="Request id.")
@click.option("--since", help="From this local time on (ISO 8601).")
@click.option("--until", help="Before this local time (ISO 8601).")
@click.option("--limit", type=int, default=100, show_default=True)
@_json_option
@_data_dir_option
@_one_line_errors
def audit(
    principal: str | None, action: str | None, resource: str | None, outcome: str | None,
    access_key_id: str | None, source_ip: str | None, request_id: str | None,
    since: str | None, until: str | None, limit: int, as_json: bool,
) -> None:  # fmt: skip
    """List audit events, newest first: every write (allowed or denied) and every denial."""
    where = AuditFilter(
        principal=principal,
        action=action,
        resource=resource,
        outcome=outcome,
        access_key_id=access_key_id,
        source_ip=source_ip,
        request_id=request_id,
        since_ms=_epoch_ms(since, "--since"),
        until_ms=_epoch_ms(until, "--until"),
        limit=limit,
    )
    with _service_context() as ctx:
        events = svc.list_audit_events(ctx, where)
    headers = ("Time", "Outcome", "Principal", "AccessKeyId", "SourceIp", "Action", "Resource",
               "Code", "RequestId")  # fmt: skip
    rows = [
        (_when(e.at), e.outcome, e.principal, e.access_key_id, e.source_ip, e.action,
         e.resource, e.code, e.request_id)
        for e in events
    ]  # fmt: skip
    _emit(headers, rows, as_json)
