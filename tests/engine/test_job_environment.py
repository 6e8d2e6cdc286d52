"""A job run by the engine gets the clean environment: its instance's identifiers, never the
server's secrets or the store's URL (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opcenter.domain.model import DagStatus
from opcenter.engine.scheduler import Engine
from opcenter.service.context import ServiceContext
from opcenter.service.logs import get_instance_log
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag

SECRETS = {
    "OPCENTER_ROOT_ACCESS_KEY_SECRET": "root-secret-value",
    "OPCENTER_SECRET_KEY": "session-key-value",
    "OPCENTER_DATABASE_URL": "postgresql://opcenter:store-password@db/opcenter",
}


def test_a_shell_node_sees_its_identifiers_and_no_server_secret_given_secrets_in_the_server(
    ctx: ServiceContext,
    start_engine: Callable[..., Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    flow = make_flow(ctx, [node("show", "shell", "env")])
    created = run_flow(flow)
    start_engine(ctx)

    assert wait_dag(ctx, created.dag_id, timeout=30) is DagStatus.SUCCESS
    inst = by_name(ctx, created.dag_id)["show"]
    log = get_instance_log(ctx, instance_id=inst.instance_id, project_env="PROD")

    variables = dict(line.split("=", 1) for line in log.splitlines() if "=" in line)
    assert not set(variables) & set(SECRETS)
    assert not any(value in log for value in SECRETS.values())
    assert ctx.db.engine.url.render_as_string(hide_password=False) not in log
    assert variables["OPCENTER_INSTANCE_ID"] == str(inst.instance_id)
    assert variables["OPCENTER_DAG_ID"] == str(created.dag_id)
    assert variables["LANG"] == "C.UTF-8"
    assert "PATH" in variables
