"""A workspace's isolation settings: the tenant per environment and the shared paths, set,
cleared, read back, and refused when bad (both backends)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.errors import InvalidParameter
from opcenter.service.context import ServiceContext
from opcenter.service.views import ProjectView
from opcenter.service.workspaces import (
    MAX_SHARED_PATHS,
    IsolationSettings,
    SharedPath,
    TenantSetting,
    get_isolation,
    set_tenant,
    share_path,
    unshare_path,
)
from opcenter.settings import load_settings
from opcenter.store.db import Database

UNKNOWN = "opc_no_such_user"


def _local_user() -> str:
    """A user of this machine that is not root."""
    return next(
        u.pw_name
        for u in pwd.getpwall()
        if u.pw_uid != 0 and re.fullmatch(r"[a-z_][a-z0-9_-]*", u.pw_name)
    )


def test_set_tenant_sets_every_environment_then_one_then_clears_given_users(
    ctx: ServiceContext, project: ProjectView
) -> None:
    ws = {"project_identifier": project.project_identifier}
    local = _local_user()

    both = set_tenant(ctx, **ws, user=UNKNOWN)
    one = set_tenant(ctx, **ws, user=local, env="dev")
    cleared = set_tenant(ctx, **ws, user=None, env="PROD")

    assert both.tenants == (
        TenantSetting("DEV", UNKNOWN, known_locally=False),
        TenantSetting("PROD", UNKNOWN, known_locally=False),
    )
    assert one.tenants == (
        TenantSetting("DEV", local, known_locally=True),
        TenantSetting("PROD", UNKNOWN, known_locally=False),
    )
    expected = IsolationSettings(
        project_identifier="demo",
        tenants=(TenantSetting("DEV", local, True), TenantSetting("PROD", None, False)),
        shared_paths=(),
    )
    assert cleared == expected
    assert get_isolation(ctx, project_id=project.project_id) == expected


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("root", "Tenant 'root' is root: jobs never run as root."),
        ("Alice", "Tenant 'Alice' is not a POSIX user name"),
        ("1abc", "Tenant '1abc' is not a POSIX user name"),
        ("a b", "Tenant 'a b' is not a POSIX user name"),
        ("a$b", "Tenant 'a$b' is not a POSIX user name"),
        ("", "Tenant '' is not a POSIX user name"),
        ("a" * 33, "Tenant 'aaaa"),
    ],
)
def test_set_tenant_refuses_and_changes_nothing_given_a_bad_user(
    ctx: ServiceContext, project: ProjectView, user: str, message: str
) -> None:
    ws = {"project_id": project.project_id}
    set_tenant(ctx, **ws, user="etl_team")

    with pytest.raises(InvalidParameter) as caught:
        set_tenant(ctx, **ws, user=user, env="DEV")

    assert caught.value.message.startswith(message)
    assert [t.user for t in get_isolation(ctx, **ws).tenants] == ["etl_team", "etl_team"]


def test_set_tenant_accepts_a_posix_name_given_digits_dashes_and_a_final_dollar(
    ctx: ServiceContext, project: ProjectView
) -> None:
    name = "_etl-2$"
    settings = set_tenant(ctx, project_id=project.project_id, user=name, env="PROD")
    longest = set_tenant(ctx, project_id=project.project_id, user="a" * 32, env="DEV")

    assert settings.tenants[1] == TenantSetting("PROD", name, False)
    assert [t.user for t in longest.tenants] == ["a" * 32, name]


def test_set_tenant_sets_prod_only_and_refuses_dev_given_a_basic_workspace(
    ctx: ServiceContext, basic_project: ProjectView
) -> None:
    ws = {"project_id": basic_project.project_id}

    settings = set_tenant(ctx, **ws, user="etl")

    assert settings.tenants == (TenantSetting("PROD", "etl", False),)
    with pytest.raises(InvalidParameter, match="'lite' is BASIC: it has no DEV environment"):
        set_tenant(ctx, **ws, user="other", env="DEV")
    with pytest.raises(InvalidParameter, match="ProjectEnv='TEST' is not one of DEV, PROD"):
        set_tenant(ctx, **ws, user="other", env="TEST")


def test_share_path_stores_it_normalised_and_unshare_removes_it_given_paths(
    ctx: ServiceContext, project: ProjectView, tmp_path: Path
) -> None:
    ws = {"project_identifier": "demo"}
    existing = tmp_path / "lake"
    existing.mkdir()

    share_path(ctx, **ws, path=f"{existing}//./sub/../")
    share_path(ctx, **ws, path="/srv/exports/", write=True)
    again = share_path(ctx, **ws, path=str(existing), write=True)  # sharing again sets write

    assert again.shared_paths == (
        SharedPath("/srv/exports", write=True, exists_locally=False),
        SharedPath(str(existing), write=True, exists_locally=True),
    )
    left = unshare_path(ctx, **ws, path="/srv//exports/.")
    assert left.shared_paths == (SharedPath(str(existing), True, True),)
    assert get_isolation(ctx, **ws).shared_paths == left.shared_paths
    with pytest.raises(InvalidParameter) as caught:
        unshare_path(ctx, **ws, path="/srv/exports")
    assert caught.value.message == (
        f"Shared path '/srv/exports' is not among the paths workspace 'demo' shares ({existing})."
    )


def _bad_paths(data: Path, tmp_path: Path) -> list[tuple[str, str]]:
    link = tmp_path / "link-to-data"
    link.symlink_to(data)
    root_link = tmp_path / "link-to-root"
    root_link.symlink_to("/")
    return [
        ("relative/dir", "Shared path 'relative/dir' is not absolute: it must start with '/'."),
        ("", "Shared path '' must be 1 to 4096 characters, without NUL."),
        ("/tmp/a\0b", "Shared path '/tmp/a\\x00b' must be 1 to 4096 characters, without NUL."),
        ("/", "Shared path '/' would give jobs the whole file system."),
        ("/tmp/..", "Shared path '/tmp/..' would give jobs the whole file system."),
        (
            str(root_link),
            f"Shared path '{root_link}' leads to '/' (a symbolic link): it would give jobs "
            "the whole file system.",
        ),
        (
            f"{data}/sql",
            f"Shared path '{data}/sql' is inside the server's data directory {data}: jobs may "
            "not reach it.",
        ),
        (
            f"{data}/",
            f"Shared path '{data}/' is inside the server's data directory {data}: jobs may not "
            "reach it.",
        ),
        (
            str(data.parent),
            f"Shared path '{data.parent}' holds the server's data directory {data}: jobs may "
            "not reach it.",
        ),
        (
            f"{link}/logs",
            f"Shared path '{link}/logs' is inside the server's data directory {data}: jobs may "
            "not reach it.",
        ),
    ]


def test_share_path_refuses_and_changes_nothing_given_a_path_jobs_may_not_reach(
    ctx: ServiceContext, project: ProjectView, tmp_path: Path
) -> None:
    ws = {"project_id": project.project_id}
    share_path(ctx, **ws, path="/srv/keep")
    data = ctx.settings.data_dir.resolve()

    for path, message in _bad_paths(data, tmp_path):
        with pytest.raises(InvalidParameter) as caught:
            share_path(ctx, **ws, path=path, write=True)
        assert caught.value.message == message, path

    assert get_isolation(ctx, **ws).shared_paths == (SharedPath("/srv/keep", False, False),)


def test_share_path_refuses_given_more_paths_than_allowed(
    ctx: ServiceContext, project: ProjectView
) -> None:
    ws = {"project_id": project.project_id}
    for n in range(MAX_SHARED_PATHS):
        share_path(ctx, **ws, path=f"/srv/p{n}")
    share_path(ctx, **ws, path="/srv/p0", write=True)  # a known path is no new one

    with pytest.raises(InvalidParameter, match=f"shares at most {MAX_SHARED_PATHS} paths"):
        share_path(ctx, **ws, path="/srv/one-more")
    assert len(get_isolation(ctx, **ws).shared_paths) == MAX_SHARED_PATHS


@pytest.fixture
def apart_ctx(tmp_path: Path, sqlite_template: Path) -> Iterator[ServiceContext]:
    """SQLite, with the store in a folder of its own, apart from the data directory."""
    store = tmp_path / "store" / "opcenter.db"
    store.parent.mkdir()
    shutil.copyfile(sqlite_template, store)
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "srv" / "data")
    context = ServiceContext(db=Database(f"sqlite:///{store}"), settings=settings)
    yield context
    context.db.dispose()


def test_share_path_refuses_given_the_folder_of_a_sqlite_store_outside_the_data_directory(
    apart_ctx: ServiceContext, tmp_path: Path
) -> None:
    from opcenter.service.workspaces import create_project

    create_project(apart_ctx, project_identifier="demo", project_name="demo")
    store = (tmp_path / "store" / "opcenter.db").resolve()

    with pytest.raises(InvalidParameter) as caught:
        share_path(apart_ctx, project_identifier="demo", path=str(store.parent))

    assert caught.value.message == (
        f"Shared path '{store.parent}' holds the server's store {store}: jobs may not reach it."
    )
    shared = share_path(apart_ctx, project_identifier="demo", path=os.fspath(tmp_path / "srv2"))
    assert [p.path for p in shared.shared_paths] == [str(tmp_path / "srv2")]
