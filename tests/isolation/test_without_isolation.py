"""Where jobs cannot be isolated (opcenter not root, and no Landlock: here `OPCENTER_SANDBOX=none`
stands for a kernel without it), `OPCENTER_ISOLATION` decides: `auto` refuses PROD jobs and runs
DEV jobs with a warning in their log, `refuse` refuses both, `warn` runs both; `opcenter serve`
says so at start in one line. These need a process that is not root (as root, tenants isolate
jobs): a root run runs them as a created user (test_as_unprivileged_user.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from opcenter.domain.model import InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.service.context import ServiceContext
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag
from tests.isolation.test_job_boundary import _log

pytestmark = pytest.mark.unprivileged

OPCENTER = Path(sys.executable).with_name("opcenter")
REFUSED = "cannot start: jobs cannot be isolated on this machine"
WARNED = "WARNING: this job runs unisolated"


def _run(ctx: ServiceContext, env: str) -> tuple[InstanceStatus, str, str]:
    """The job's status, log and ErrorMessage."""
    flow = make_flow(ctx, [node("job", "shell", "echo ran")], workspace=f"ws_{env.lower()}")
    dag = run_flow(flow, env=env).dag_id
    wait_dag(ctx, dag, timeout=30, env=env)
    inst = by_name(ctx, dag, env)["job"]
    return inst.status, _log(ctx, dag, "job", env), inst.error_message


@pytest.mark.parametrize(
    ("policy", "prod_runs", "dev_runs"),
    [("auto", False, True), ("refuse", False, False), ("warn", True, True)],
)
def test_the_isolation_policy_decides_given_no_sandbox(
    make_server_ctx: Callable[..., ServiceContext],
    start_server_engine: Callable[..., Engine],
    policy: str,
    prod_runs: bool,
    dev_runs: bool,
) -> None:
    ctx = make_server_ctx(sandbox="none", isolation=policy)
    start_server_engine(ctx)
    for env, runs in (("PROD", prod_runs), ("DEV", dev_runs)):
        status, log, why = _run(ctx, env)
        if runs:
            assert status is InstanceStatus.SUCCESS, log
            assert WARNED in log and "ran" in log
            assert why == ""
        else:
            assert status is InstanceStatus.FAILURE, log
            assert REFUSED in log and "ran\n" not in log
            assert f"OPCENTER_ISOLATION={policy} refuses {env} jobs" in log
            # ErrorMessage (GetInstance, ListInstances) says why, as the log's last line does
            assert why.startswith(REFUSED) and why.endswith(f"refuses {env} jobs then"), why


def _serve_line(tmp_path: Path, **env: str) -> str:
    """The isolation line `opcenter serve` prints at start (the server is stopped after)."""
    environ = {**os.environ, "OPCENTER_TIMEZONE": "UTC", **env}
    environ.pop("OPCENTER_DATABASE_URL", None)
    command = [str(OPCENTER), "serve", "--data-dir", str(tmp_path / "data"), "--port", "0"]
    with subprocess.Popen(
        command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("Isolation:"):
                    return line.strip()
            raise AssertionError("opcenter serve ended without an isolation line")
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_serve_says_in_one_line_that_jobs_cannot_be_isolated(tmp_path: Path) -> None:
    line = _serve_line(tmp_path, OPCENTER_SANDBOX="none")
    assert line == (
        "Isolation: UNAVAILABLE (OPCENTER_SANDBOX=none, and opcenter is not root): PROD jobs "
        "are refused, DEV jobs run unisolated (OPCENTER_ISOLATION=auto)."
    )


def test_serve_names_the_sandbox_given_landlock(tmp_path: Path) -> None:
    line = _serve_line(tmp_path)
    assert line.startswith("Isolation: Landlock ABI ")
    assert "tenant" not in line  # not root: no tenants
