"""`opcenter iam …` and `opcenter audit` through click's runner, on a real data directory."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.iam.audit import AuditRecord, record_event
from opcenter.service.context import ServiceContext
from opcenter.service.workspaces import create_project
from opcenter.settings import load_settings


def run(data: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data)], catch_exceptions=False)


def test_iam_cli_does_manage_users_keys_policies_and_members(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    create_project(ctx, project_identifier="sales", project_name="Sales")
    ctx.db.dispose()

    created = run(data, "iam", "user", "create", "alice")
    assert created.exit_code == 0, created.output
    assert created.output.startswith("Created user alice (UserId 2")

    key = run(data, "iam", "key", "create", "--user", "alice")
    assert key.exit_code == 0
    key_id = key.stdout.splitlines()[0].split()[-1]
    assert key_id.startswith("LTAI")
    listed = json.loads(run(data, "iam", "key", "list", "--user", "alice", "--json").output)
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key_id, "Active")]
    assert run(data, "iam", "key", "disable", key_id).output == f"AccessKey {key_id} disabled.\n"
    listed = json.loads(run(data, "iam", "key", "list", "--user", "alice", "--json").output)
    assert listed[0]["Status"] == "Inactive"

    attach = run(
        data, "iam", "policy", "attach", "AliyunDataWorksReadOnlyAccess", "--user", "alice"
    )
    assert attach.output == "Attached AliyunDataWorksReadOnlyAccess to alice.\n"
    shown = json.loads(run(data, "iam", "policy", "show", "AliyunDataWorksReadOnlyAccess").output)
    assert shown["Statement"][0]["Resource"] == ["acs:dataworks:*:*:*"]

    assert (
        run(data, "iam", "member", "add", "sales", "alice", "--role", "role_project_dev").exit_code
        == 0
    )
    assert run(data, "iam", "member", "grant", "sales", "alice", "role_project_pe").exit_code == 0
    members = json.loads(run(data, "iam", "member", "list", "sales", "--json").output)
    assert [(m["Name"], m["Roles"]) for m in members] == [
        ("alice", "role_project_dev,role_project_pe")
    ]
    assert run(data, "iam", "member", "revoke", "sales", "alice", "role_project_pe").exit_code == 0
    assert run(data, "iam", "member", "remove", "sales", "alice").exit_code == 0
    assert json.loads(run(data, "iam", "member", "list", "sales", "--json").output) == []

    users = json.loads(run(data, "iam", "user", "list", "--json").output)
    assert [(u["Name"], u["Policies"]) for u in users] == [
        ("alice", "AliyunDataWorksReadOnlyAccess")
    ]
    assert run(data, "iam", "user", "delete", "alice").exit_code == 0


def test_iam_cli_does_print_one_error_line_given_an_unknown_user(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "iam", "key", "create", "--user", "ghost")
    assert result.exit_code == 1
    assert result.stderr == 'Error: The user "ghost" does not exist.\n'


def test_iam_cli_does_create_a_policy_from_a_file(tmp_path: Path) -> None:
    document = tmp_path / "p.json"
    document.write_text('{"Version": "1", "Statement": [{"Effect": "Deny", "Action": "*"}]}')
    created = run(
        tmp_path / "data", "iam", "policy", "create", "DenyAll", "--document", f"@{document}"
    )
    assert created.output == "Created policy DenyAll.\n"
    bad = run(tmp_path / "data", "iam", "policy", "create", "Bad", "--document", '{"Version": "2"}')
    assert bad.exit_code == 1
    assert bad.stderr == """Error: Version is '2'; the only valid version is "1".\n"""


def test_audit_cli_does_filter_given_outcome_and_action(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    with ctx.db.transaction() as s:
        for at, action, outcome in [
            (1000, "dataworks:CreateFile", "Allowed"),
            (2000, "dataworks:DeployFile", "Denied"),
        ]:
            record_event(
                s,
                AuditRecord(at=at, principal="acs:ram::1:user/a", action=action,
                            resource="*", outcome=outcome, request_id=f"R{at}"),
            )  # fmt: skip
    ctx.db.dispose()
    events = json.loads(run(data, "audit", "--outcome", "Denied", "--json").output)
    assert [(e["Action"], e["RequestId"]) for e in events] == [("dataworks:DeployFile", "R2000")]
    text = run(data, "audit", "--action", "dataworks:Create*").output.splitlines()
    assert text[0].split() == [
        "Time", "Outcome", "Principal", "AccessKeyId", "SourceIp", "Action", "Resource", "Code",
        "RequestId",
    ]  # fmt: skip
    assert len(text) == 2 and "dataworks:CreateFile" in text[1]
    bad = run(data, "audit", "--since", "yesterday")
    assert (
        bad.stderr
        == "Error: --since 'yesterday' is not a date or time (YYYY-MM-DD[THH:MM[:SS]]).\n"
    )


def test_workspace_member_cli_is_the_iam_member_group(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    create_project(ctx, project_identifier="sales", project_name="Sales")
    ctx.db.dispose()
    assert run(data, "iam", "user", "create", "alice").exit_code == 0

    added = run(data, "workspace", "member", "add", "sales", "alice", "--role", "role_project_pe")
    members = json.loads(run(data, "workspace", "member", "list", "sales", "--json").output)
    assert added.output == "Added alice to sales.\n"
    assert [(m["Name"], m["Type"], m["Roles"]) for m in members] == [
        ("alice", "USER_UBACCOUNT", "role_project_pe")
    ]


def _password_cli(data: Path, name: str, stdin: str) -> Result:
    return CliRunner().invoke(
        cli, ["iam", "user", "password", name, "--data-dir", str(data)], input=stdin
    )


def test_iam_user_password_reads_standard_input_and_stores_only_a_hash(tmp_path: Path) -> None:
    from opcenter.console.sessions import SignInRefused, sign_in
    from opcenter.store.tables import LoginPassword

    data = tmp_path / "data"
    assert run(data, "iam", "user", "create", "alice").exit_code == 0
    done = _password_cli(data, "alice", "alice-password\n")
    assert done.exit_code == 0, done.output
    assert done.output == "Set the sign-in password of user alice.\n"
    assert _password_cli(data, "root", "root-password\n").output == (
        "Set the sign-in password of the account (root).\n"
    )
    short = _password_cli(data, "alice", "short\n")
    assert short.exit_code == 1
    assert short.output == "Error: The password is too short: it needs at least 8 characters.\n"
    missing = _password_cli(data, "bob", "bob-password\n")
    assert missing.exit_code == 1 and "bob" in missing.output

    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    with ctx.db.transaction(readonly=True) as session:
        stored = {row.name: row.hash for row in session.query(LoginPassword)}
    assert set(stored) == {"alice", "root"}
    assert all("password" not in h and h.startswith("scrypt$") for h in stored.values())
    _, session_info = sign_in(ctx, name="alice", password="alice-password")
    assert session_info.principal.endswith(":user/alice")
    try:
        sign_in(ctx, name="alice", password="root-password")
        raise AssertionError("signed in with another's password")
    except SignInRefused as refused:
        assert refused.message == "The user name or password is wrong."
    # Deleting the user deletes its password.
    assert run(data, "iam", "user", "delete", "alice").exit_code == 0
    with ctx.db.transaction(readonly=True) as session:
        assert session.get(LoginPassword, "alice") is None
    ctx.db.dispose()
