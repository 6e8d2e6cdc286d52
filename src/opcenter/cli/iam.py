"""`opcenter iam …` (users, AccessKeys, policies, workspace members) and `opcenter audit`.

Every command works on the store of the data directory directly, as the root account would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opcenter.cli._output import (
    group_data_dir_option,
    human_time,
    iso_time,
    json_option,
    lazy_module,
    one_line_errors,
    service_context,
)
from opcenter.errors import InvalidParameter
from opcenter.iam.roles import ROLES

if TYPE_CHECKING:
    from opcenter.service import iam as svc
    from opcenter.service.context import ServiceContext
else:
    svc = lazy_module("opcenter.service.iam")

__all__ = ["audit", "iam"]

# `--data-dir` is accepted by `iam`, by each of its groups and by each command, as everywhere.
_data_dir_option = group_data_dir_option
_json_option = json_option
_one_line_errors = one_line_errors
_service_context = service_context


def _emit(headers: Sequence[str], rows: Sequence[Sequence[Any]], as_json: bool) -> None:
    """Aligned columns for people; JSON objects (times in ISO 8601) for machines."""
    import json

    if as_json:
        objects = [dict(zip(headers, map(_plain, row), strict=True)) for row in rows]
        click.echo(json.dumps(objects, indent=2))
        return
    table = [list(headers), *[[_text(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


class _Moment(int):
    """Epoch milliseconds: `yyyy-mm-dd hh:mm:ss` in a table, ISO 8601 in JSON."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, _Moment):
        return human_time(value)
    return str(value)


def _plain(value: Any) -> Any:
    return iso_time(value) if isinstance(value, _Moment) else value


def _when(ms: int) -> _Moment:
    return _Moment(ms)


# --- iam ------------------------------------------------------------------------------------


@click.group("iam", short_help="Manage users, AccessKeys, policies and members.")
@_data_dir_option
def iam() -> None:
    """Identity and access: RAM users, AccessKeys, policies, workspace members."""


@iam.group("user", short_help="Manage RAM users.")
@_data_dir_option
def user() -> None:
    """RAM users of the account."""


@user.command("create", short_help="Create a RAM user.")
@click.argument("name")
@click.option("--display-name", default="", help="Display name (default: the name).")
@_data_dir_option
@_one_line_errors
def user_create(name: str, display_name: str) -> None:
    """Create a RAM user (it can do nothing until a policy and a workspace role say so)."""
    with _service_context() as ctx:
        record = svc.create_user(ctx, user_name=name, display_name=display_name)
    click.echo(f"Created user {record.name} (UserId {record.uid}).")


@user.command("list", short_help="List the RAM users.")
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


@user.command("delete", short_help="Delete a RAM user.")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def user_delete(name: str) -> None:
    """Delete a user with its AccessKeys, policy attachments and memberships."""
    with _service_context() as ctx:
        record = svc.delete_user(ctx, user_name=name)
    click.echo(f"Deleted user {record.name} (UserId {record.uid}).")


@user.command("password", short_help="Set a user's password for signing in to the page.")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def user_password(name: str) -> None:
    """Set the password NAME signs in to the Operation Center page with (`root`: the account).

    Asked twice on a terminal; otherwise read from the first line of standard input, so
    `printf '%s\\n' "$PASSWORD" | opcenter iam user password alice` works in scripts. Stored
    as a salted scrypt hash; at least 8 characters."""
    stdin = click.get_text_stream("stdin")
    if stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = stdin.readline().rstrip("\r\n")
    with _service_context() as ctx:
        stored = svc.set_login_password(ctx, user_name=name, password=password)
    who = "the account (root)" if stored == "root" else f"user {stored}"
    click.echo(f"Set the sign-in password of {who}.")


@iam.group("key", short_help="Manage AccessKey pairs.")
@_data_dir_option
def key() -> None:
    """AccessKey pairs (the secret is shown once, at creation)."""


_user_option = click.option(
    "--user", "user_name", default=None, help="RAM user name or UserId (default: the root account)."
)


@key.command("create", short_help="Create an AccessKey pair and print its secret.")
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


@key.command("list", short_help="List the AccessKeys of a user.")
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


def _key_command(name: str, verb: str) -> None:
    text = f"{verb.capitalize()} an AccessKey."

    @key.command(name, help=text, short_help=text)
    @click.argument("access_key_id")
    @_data_dir_option
    @_one_line_errors
    def command(access_key_id: str) -> None:
        action: Callable[..., None] = getattr(svc, f"{verb}_access_key")
        with _service_context() as ctx:
            action(ctx, access_key_id=access_key_id)
        click.echo(f"AccessKey {access_key_id} {verb}d.")


_key_command("disable", "disable")
_key_command("enable", "enable")
_key_command("delete", "delete")


@iam.group("policy", short_help="Manage RAM policies.")
@_data_dir_option
def policy() -> None:
    """RAM policies: the system ones and custom documents."""


@policy.command("create", short_help="Create a custom policy.")
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


@policy.command("list", short_help="List the policies.")
@_json_option
@_data_dir_option
@_one_line_errors
def policy_list(as_json: bool) -> None:
    """List the system and custom policies."""
    with _service_context() as ctx:
        rows = [(p.name, p.type, p.description) for p in svc.list_policies(ctx)]
    _emit(("Name", "Type", "Description"), rows, as_json)


@policy.command("show", short_help="Print a policy's document.")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def policy_show(name: str) -> None:
    """Print a policy's document."""
    with _service_context() as ctx:
        click.echo(svc.get_policy(ctx, policy_name=name).document)


@policy.command("attach", short_help="Attach a policy to a user.")
@click.argument("name")
@click.option("--user", "user_name", required=True, help="RAM user name or UserId.")
@_data_dir_option
@_one_line_errors
def policy_attach(name: str, user_name: str) -> None:
    """Attach a policy to a user."""
    with _service_context() as ctx:
        svc.attach_policy(ctx, policy_name=name, user_name=user_name)
    click.echo(f"Attached {name} to {user_name}.")


@policy.command("detach", short_help="Detach a policy from a user.")
@click.argument("name")
@click.option("--user", "user_name", required=True, help="RAM user name or UserId.")
@_data_dir_option
@_one_line_errors
def policy_detach(name: str, user_name: str) -> None:
    """Detach a policy from a user."""
    with _service_context() as ctx:
        svc.detach_policy(ctx, policy_name=name, user_name=user_name)
    click.echo(f"Detached {name} from {user_name}.")


@policy.command("delete", short_help="Delete a custom policy.")
@click.argument("name")
@_data_dir_option
@_one_line_errors
def policy_delete(name: str) -> None:
    """Delete a custom policy (detach it from every user first)."""
    with _service_context() as ctx:
        svc.delete_policy(ctx, policy_name=name)
    click.echo(f"Deleted policy {name}.")


@iam.group("member", short_help="Manage the members of a workspace and their roles.")
@_data_dir_option
def member() -> None:
    """Workspace members and their roles (CreateProjectMember and friends)."""


def _project_id(ctx: ServiceContext, workspace: str) -> int:
    from opcenter.service.workspaces import get_project

    if workspace.isdigit():
        return get_project(ctx, project_id=int(workspace)).project_id
    return get_project(ctx, project_identifier=workspace).project_id


def _uid(ctx: ServiceContext, user_name: str) -> str:
    return ctx.settings.account_id if user_name == "root" else user_name


_workspace_argument = click.argument("workspace", metavar="WORKSPACE")
_member_argument = click.argument("user_name", metavar="USER")
_role_choice = click.Choice([r.code for r in ROLES])


@member.command("add", short_help="Add a user to a workspace.")
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


@member.command("list", short_help="List the members of a workspace.")
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


@member.command("remove", short_help="Remove a user from a workspace.")
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


@member.command("grant", short_help="Give a member one more role.")
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


@member.command("revoke", short_help="Take a role from a member.")
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


@member.command("roles", short_help="List the workspace roles.")
def member_roles() -> None:
    """List the workspace roles (ListProjectRoles)."""
    _emit(("RoleCode", "RoleId", "Name"), [(r.code, r.id, r.name) for r in ROLES], False)


@iam.command("server-key", short_help="Print a fresh server key (OPCENTER_SECRET_KEY).")
def server_key() -> None:
    """Print a fresh server key for OPCENTER_SECRET_KEY (seals AccessKey secrets at rest)."""
    from opcenter.iam.keys import generate_server_key

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


@click.command("audit", short_help="List audit events, newest first.")
@click.option("--principal", help="Principal ARN; * and ? wildcards.")
@click.option("--action", help="RAM action, e.g. 'dataworks:Run*'.")
@click.option("--resource", help="Resource ARN; * and ? wildcards.")
@click.option("--outcome", type=click.Choice(["Allowed", "Denied"]))
@click.option("--key", "access_key_id", help="AccessKey id.")
@click.option("--ip", "source_ip", help="Source IP address.")
@click.option("--request-id", help="Request id.")
@click.option("--since", help="From this local time on (ISO 8601).")
@click.option("--until", help="Before this local time (ISO 8601).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True,
    help="Print at most this many events.",
)  # fmt: skip
@_json_option
@_data_dir_option
@_one_line_errors
def audit(
    principal: str | None, action: str | None, resource: str | None, outcome: str | None,
    access_key_id: str | None, source_ip: str | None, request_id: str | None,
    since: str | None, until: str | None, limit: int, as_json: bool,
) -> None:  # fmt: skip
    """List audit events, newest first: every write (allowed or denied) and every denial."""
    from opcenter.iam.audit import AuditFilter

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
