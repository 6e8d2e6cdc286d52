"""What the isolation tests share: a server-like context (the store where `opcenter serve` keeps
it), an engine on the server's own executor (`LocalExecutor.from_settings`, so every job runs in
the sandbox), and the OS users the tests need.

As root (CI), jobs run as tenant users inside Landlock; `test_as_unprivileged_user.py` runs this
whole folder again as an unprivileged user, where Landlock alone draws the line. Tests that need
root fail rather than skip under CI=true; tests that need an unprivileged process
(`@pytest.mark.unprivileged`) are left out of a root run, which runs them through that user.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.conftest import PG_URL, database_on

ROOT = os.geteuid() == 0
TENANTS = ("oc-tenant-a", "oc-tenant-b")
TESTER = "oc-tester"  # the unprivileged user the folder runs again as


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ROOT:
        return
    left_out = [item for item in items if item.get_closest_marker("unprivileged")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def ensure_user(name: str, *, home: bool = False) -> pwd.struct_passwd:
    """The OS user `name`, created (as a system user) when missing; needs root."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin"]
    command += ["--create-home"] if home else ["--no-create-home", "--home-dir", "/nonexistent"]
    subprocess.run([*command, name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.root` tests fail under CI=true (CI runs as root), skip elsewhere, when this
    process is not root."""
    if item.get_closest_marker("root") is None or ROOT:
        return
    if _in_ci():
        pytest.fail("this test needs root (CI runs as root)")
    pytest.skip("this test needs root")


@pytest.fixture
def tenants() -> tuple[pwd.struct_passwd, ...]:
    return tuple(ensure_user(name) for name in TENANTS)


@pytest.fixture(params=["sqlite", "postgresql"])
def make_server_ctx(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ServiceContext]]:
    """Makes a context as `opcenter serve` has it, with settings `overrides`: on SQLite the
    store is the data directory's `opcenter.db`; on PostgreSQL the settings carry the store's
    URL. One per test."""
    made: list[ServiceContext] = []

    def make(**overrides: object) -> ServiceContext:
        assert not made, "one server context per test"
        data = tmp_path / "data"
        if request.param == "sqlite":
            settings = load_settings(
                environ={}, dotenv=None, data_dir=data, timezone="UTC", **overrides
            )
            ctx = ServiceContext.open(settings)
        else:
            schema = request.getfixturevalue("pg_schema")
            settings = load_settings(
                environ={}, dotenv=None, data_dir=data, timezone="UTC", database_url=PG_URL,
                **overrides,
            )  # fmt: skip
            data.mkdir(parents=True, exist_ok=True)
            db = database_on("postgresql", tmp_path / "unused.db", schema)
            ctx = ServiceContext(db=db, settings=settings)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.db.dispose()


@pytest.fixture
def server_ctx(make_server_ctx: Callable[..., ServiceContext]) -> ServiceContext:
    return make_server_ctx()


@pytest.fixture
def start_server_engine(start_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    """Starts an engine on the executor a server builds from its settings (the sandbox
    included); stopped afterwards."""
    return lambda ctx: start_engine(ctx, executor=LocalExecutor.from_settings(ctx.settings))
