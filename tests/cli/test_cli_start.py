"""A read-only command imports only what it needs (its start-up time is mostly imports; the
figures are in bench/bench_cli.py): never the HTTP server, the engine's scheduler or Alembic,
and no rich for `--json`. Checked in a real `opcenter` process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.engine.builders import make_flow, node

# Run the console script's entry point, then write the names of the imported modules.
PROBE = """
import sys
out, sys.argv = sys.argv[1], ["opcenter", *sys.argv[2:]]
from opcenter.cli import main
try:
    main(exit_at_once=False)
except SystemExit:
    pass
names = sorted(sys.modules)
tables = sys.modules.get("opcenter.store.tables")
if tables is not None and any(m.configured for m in tables.Base.registry.mappers):
    names.append(CONFIGURED)
with open(out, "w") as f:
    f.write("\\n".join(names))
"""
CONFIGURED = "(orm-mappers-configured)"  # the line the probe adds when the ORM was used
PROBE = PROBE.replace("CONFIGURED", repr(CONFIGURED))
NEVER = ("opcenter.api", "opcenter.engine.scheduler", "uvicorn", "starlette", "alembic")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("start") / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    make_flow(ctx, [node("a", "virtual")])
    ctx.db.dispose()
    return data


def _imported(data_dir: Path, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPCENTER_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args, "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(out.read_text().split())


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


@pytest.mark.parametrize(
    "args",
    [
        ["node", "list", "-w", "ws"],
        ["workspace", "list"],
        ["dag", "list", "-w", "ws"],
        ["instance", "list", "-w", "ws"],
        ["iam", "key", "list"],
    ],
)
def test_a_read_only_command_imports_no_server_engine_or_migrations(
    data_dir: Path, tmp_path: Path, args: list[str]
) -> None:
    modules = _imported(data_dir, tmp_path, *args)
    assert [p for p in NEVER if _loaded(modules, p)] == []
    assert _loaded(modules, "rich") == (args[0] != "iam")  # a rich table (iam aligns columns)
    assert not _loaded(_imported(data_dir, tmp_path, *args, "--json"), "rich")


def test_node_list_imports_neither_iam_nor_the_deployment_code(
    data_dir: Path, tmp_path: Path
) -> None:
    modules = _imported(data_dir, tmp_path, "node", "list", "-w", "ws", "--json")
    for name in ("opcenter.service.iam", "opcenter.service.deployments", "opcenter.cli.iam",
                 "opcenter.iam.audit", "cryptography"):  # fmt: skip
        assert not _loaded(modules, name), name


def test_params_eval_opens_no_store(tmp_path: Path) -> None:
    modules = _imported(tmp_path, tmp_path, "params", "eval", "--bizdate", "2020-11-10", "$bizdate")
    assert not _loaded(modules, "sqlalchemy")
    assert not _loaded(modules, "rich")


def test_importlib_metadata_loads_only_when_used(data_dir: Path, tmp_path: Path) -> None:
    # SQLAlchemy imports it (for plugin entry points); a command never uses it.
    modules = _imported(data_dir, tmp_path, "node", "list", "-w", "ws", "--json")
    assert _loaded(modules, "sqlalchemy")
    assert "importlib.metadata._meta" not in modules
    assert "email.message" not in modules


DEFERRED = """
import sys, types
from opcenter.cli import _deferred
_deferred.defer("importlib.metadata")
import importlib.metadata
from importlib import metadata
assert metadata is importlib.metadata is sys.modules["importlib.metadata"]
assert "importlib.metadata._meta" not in sys.modules
print(metadata.version("sqlalchemy"))
assert type(metadata) is types.ModuleType and "importlib.metadata._meta" in sys.modules
from importlib.metadata import entry_points
print(entry_points is metadata.entry_points)
"""


def test_a_deferred_module_is_the_real_one_once_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DEFERRED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    import sqlalchemy

    assert done.stdout.split() == [sqlalchemy.__version__, "True"]


def test_run_wait_imports_no_metrics_library_nor_postgresql_dialect(
    data_dir: Path, tmp_path: Path
) -> None:
    # `opcenter run --wait` drives its own engine: the engine observes its metrics only in a
    # process that serves /metrics, so this one never imports prometheus-client (~15 ms)
    modules = _imported(data_dir, tmp_path, "run", "flow", "-w", "ws", "--bizdate",
                        "2020-11-10", "--wait", "--json")  # fmt: skip
    assert _loaded(modules, "opcenter.engine.scheduler")  # it did run the engine
    assert not _loaded(modules, "prometheus_client")
    assert not _loaded(modules, "opcenter.metrics")
    assert not _loaded(modules, "sqlalchemy.dialects.postgresql")


def test_run_wait_of_virtual_nodes_loads_no_process_runner(data_dir: Path, tmp_path: Path) -> None:
    # Virtual and dry-run instances finish inside the engine: the executor loads the code that
    # starts and supervises a process (runners/attempt.py, the runners) for its first attempt
    modules = _imported(data_dir, tmp_path, "run", "flow", "-w", "ws", "--bizdate",
                        "2020-11-11", "--wait", "--json")  # fmt: skip
    assert _loaded(modules, "opcenter.runners.local")  # the executor was built
    runners = ("attempt", "registry", "shell", "python", "sql")
    assert [r for r in runners if _loaded(modules, f"opcenter.runners.{r}")] == []


def test_run_wait_never_configures_the_orm_mappers(data_dir: Path, tmp_path: Path) -> None:
    # Every statement of a run (plan, create, the engine's start, steps and the progress table)
    # is Core on the tables: the first ORM statement would configure all mappers (~13 ms)
    modules = _imported(data_dir, tmp_path, "run", "flow", "-w", "ws", "--bizdate",
                        "2020-11-12", "--wait")  # fmt: skip
    assert _loaded(modules, "opcenter.engine.scheduler")
    assert CONFIGURED not in modules
    assert CONFIGURED in _imported(data_dir, tmp_path, "workspace", "list")  # the probe works
