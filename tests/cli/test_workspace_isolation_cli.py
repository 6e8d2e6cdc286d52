"""`opcenter workspace set-tenant|share|unshare|isolation`, and the tenants shown by
`opcenter workspace get`."""

from __future__ import annotations

import json
import pwd
import re
from pathlib import Path

import pytest

from opcenter.cli._output import cli_words
from tests.cli.workspace_cli import demo_data_dir, run

UNKNOWN = "opc_no_such_user"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return demo_data_dir(tmp_path, monkeypatch)


def isolation(data_dir: Path) -> dict:
    return json.loads(run(data_dir, "workspace", "isolation", "demo", "--json").stdout)


def _local_user() -> str:
    return next(
        u.pw_name
        for u in pwd.getpwall()
        if u.pw_uid != 0 and re.fullmatch(r"[a-z_][a-z0-9_-]*", u.pw_name)
    )


def test_set_tenant_sets_both_then_one_env_and_clears_given_users(data_dir: Path) -> None:
    local = _local_user()

    both = run(data_dir, "workspace", "set-tenant", "demo", local, "--json")
    one = run(data_dir, "workspace", "set-tenant", "demo", UNKNOWN, "--env", "dev")
    cleared = run(data_dir, "workspace", "set-tenant", "demo", "--clear", "--env", "PROD")

    assert (both.exit_code, both.stderr) == (0, "")
    assert json.loads(both.stdout)["tenants"] == [
        {"env": "DEV", "user": local, "known_locally": True},
        {"env": "PROD", "user": local, "known_locally": True},
    ]
    assert one.exit_code == 0
    assert one.stderr == (
        f"Warning: user '{UNKNOWN}' does not exist on this machine: jobs cannot run as it here.\n"
    )
    assert cleared.exit_code == 0 and cleared.stderr == ""
    assert "(default job user)" in cleared.stdout and UNKNOWN in cleared.stdout
    assert isolation(data_dir)["tenants"] == [
        {"env": "DEV", "user": UNKNOWN, "known_locally": False},
        {"env": "PROD", "user": None, "known_locally": False},
    ]
    shown = run(data_dir, "workspace", "get", "demo")
    assert "tenants" in shown.stdout and "(default job user)" in shown.stdout
    got = json.loads(run(data_dir, "workspace", "get", "demo", "--json").stdout)
    assert got["tenants"] == {"DEV": UNKNOWN, "PROD": None}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("root",), "Error: Tenant 'root' is root: jobs never run as root."),
        (("Bob",), "Error: Tenant 'Bob' is not a POSIX user name"),
        ((), "Error: Give either USER or --clear."),
        (("etl", "--clear"), "Error: Give either USER or --clear."),
    ],
)
def test_set_tenant_refuses_given_a_bad_user_or_both_user_and_clear(
    data_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(data_dir, "workspace", "set-tenant", "demo", *args)

    assert result.exit_code != 0
    assert message in result.stderr
    assert [t["user"] for t in isolation(data_dir)["tenants"]] == [None, None]


def test_share_and_unshare_print_the_shared_paths_given_paths(
    data_dir: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()

    first = run(data_dir, "workspace", "share", "demo", f"{lake}/", "--write")
    second = run(data_dir, "workspace", "share", "demo", "/srv/missing/../exports", "--json")

    assert (first.exit_code, first.stderr) == (0, "")
    assert "read-write" in first.stdout  # the path itself is checked in --json below (a table
    # may wrap a long path)
    assert second.stderr == "Warning: /srv/exports does not exist on this machine.\n"
    assert json.loads(second.stdout)["shared_paths"] == [
        {"path": "/srv/exports", "write": False, "exists_locally": False},
        {"path": str(lake), "write": True, "exists_locally": True},
    ]
    gone = run(data_dir, "workspace", "unshare", "demo", "/srv/exports/")
    assert gone.exit_code == 0 and "/srv/exports" not in gone.stdout
    assert isolation(data_dir)["shared_paths"] == [
        {"path": str(lake), "write": True, "exists_locally": True}
    ]
    run(data_dir, "workspace", "unshare", "demo", str(lake))
    assert "shared paths: none" in run(data_dir, "workspace", "isolation", "demo").stdout


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("relative", "Error: Shared path 'relative' is not absolute: it must start with '/'."),
        ("/", "Error: Shared path '/' would give jobs the whole file system."),
        ("{data}/sql", "Error: Shared path '{data}/sql' is inside the server's data directory"),
        ("{data}/..", "Error: Shared path '{data}/..' holds the server's data directory"),
    ],
)
def test_share_prints_one_error_line_given_a_path_jobs_may_not_reach(
    data_dir: Path, path: str, message: str
) -> None:
    data = str(data_dir.resolve())
    result = run(data_dir, "workspace", "share", "demo", path.format(data=data))

    assert result.exit_code != 0
    # A long path (pytest's folders) is cut as the CLI cuts every long value.
    expected = "Error: " + cli_words(message.format(data=data).removeprefix("Error: "))
    assert result.stderr.startswith(expected)
    assert len(result.stderr.splitlines()) == 1
    assert isolation(data_dir)["shared_paths"] == []


def test_unshare_prints_one_error_line_given_a_path_not_shared(data_dir: Path) -> None:
    result = run(data_dir, "workspace", "unshare", "demo", "/srv/x")

    assert result.exit_code != 0
    assert result.stderr == (
        "Error: Shared path '/srv/x' is not among the paths workspace 'demo' shares (none).\n"
    )
