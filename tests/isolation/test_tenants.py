"""Tenants: as root, a workspace's jobs run as the OS user it names (per environment), the files
they make are that user's, and two workspaces with two tenants are kept apart by file
permissions even without Landlock (`OPCENTER_SANDBOX=none`)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from opcenter.domain.model import InstanceStatus
from opcenter.engine.paths import workdir
from opcenter.engine.scheduler import Engine
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag
from tests.isolation.test_job_boundary import PROBES, Targets, _log, _run_b, _sql_file

pytestmark = pytest.mark.root


def _made_by(ctx: ServiceContext, workspace: str, tenant: str | None) -> tuple[int, str]:
    """Runs a job in `workspace` (whose tenant is `tenant`) that makes a file and a SQL table;
    returns the file's owner and the job's log."""
    flow = make_flow(
        ctx,
        [
            node("make", "shell", "echo data > made.txt; id -un"),
            node("table", "sql", "create table t(x int);", after=["make"]),
        ],
        workspace=workspace,
    )
    if tenant is not None:
        workspaces.set_tenant(ctx, project_identifier=workspace, user=tenant)
    dag = run_flow(flow).dag_id
    wait_dag(ctx, dag, timeout=60)
    inst = by_name(ctx, dag)
    log = _log(ctx, dag, "make")
    assert inst["make"].status is InstanceStatus.SUCCESS, log
    assert inst["table"].status is InstanceStatus.SUCCESS, _log(ctx, dag, "table")
    made = workdir(Path(ctx.settings.data_dir).resolve(), inst["make"].instance_id, 1)
    return (made / "made.txt").stat().st_uid, log


def test_files_a_job_makes_belong_to_its_workspace_tenant_given_two_workspaces_with_two_tenants(
    server_ctx: ServiceContext,
    start_server_engine: Callable[..., Engine],
    tenants: tuple[pwd.struct_passwd, ...],
) -> None:
    ctx = server_ctx
    start_server_engine(ctx)
    for workspace, tenant in zip(("wsa", "wsb"), tenants, strict=True):
        owner, log = _made_by(ctx, workspace, tenant.pw_name)
        assert owner == tenant.pw_uid
        assert f"as {tenant.pw_name} (uid {tenant.pw_uid})" in log
        assert f"\n{tenant.pw_name}\n" in log  # `id -un` in the job
        assert _sql_file(ctx, workspace).stat().st_uid == tenant.pw_uid
    # A workspace that names no tenant runs as the default job user, never as root
    owner, log = _made_by(ctx, "wsc", None)
    assert owner == pwd.getpwnam(ctx.settings.job_user).pw_uid != 0
    assert "as opcenter-job" in log


def test_tenants_alone_keep_two_workspaces_apart_given_no_landlock(
    make_server_ctx: Callable[..., ServiceContext],
    start_server_engine: Callable[..., Engine],
    tenants: tuple[pwd.struct_passwd, ...],
) -> None:
    ctx = make_server_ctx(sandbox="none")
    start_server_engine(ctx)
    workspaces.create_project(
        ctx, project_identifier="wsb", project_name="wsb", project_mode="STANDARD"
    )
    workspaces.set_tenant(ctx, project_identifier="wsb", user=tenants[1].pw_name)
    b_dag = _run_b(ctx, create_workspace=False)
    targets = Targets(ctx, b_dag)
    flow = make_flow(ctx, [node("probe", "shell", targets.shell_probes())], workspace="wsa")
    workspaces.set_tenant(ctx, project_identifier="wsa", user=tenants[0].pw_name)
    dag = run_flow(flow).dag_id
    wait_dag(ctx, dag, timeout=60)
    log = _log(ctx, dag, "probe")
    assert "Isolated (no Landlock: file permissions only), as oc-tenant-a" in log
    for name in PROBES:
        assert f"DENIED {name}" in log, log
    assert "REACHED" not in log
    assert os.stat(targets.data).st_mode & 0o777 == 0o711
