"""`opcenter gc` on a real data directory: a run, aged in the store, then swept."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from opcenter.alerts import outbox
from opcenter.cli import cli
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext, now_ms
from opcenter.settings import load_settings
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.tables import Dag, Instance
from tests.engine.builders import YESTERDAY, make_flow, node


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_gc_reports_then_removes_the_files_of_a_run_finished_long_ago(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    make_flow(ctx, [node("a", "shell", "echo hello"), node("b", after=["a"])])
    run = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                 "--json", "--data-dir", str(data_dir))  # fmt: skip
    assert [d["status"] for d in json.loads(run)["Dags"]] == ["SUCCESS"]
    # Given the run finished 40 days ago
    long_ago = now_ms() - 40 * 86_400_000
    with ctx.db.transaction() as session:
        session.execute(sa.update(Instance).values(finish_time=long_ago))
        session.execute(sa.update(Dag).values(finish_time=long_ago))
    ctx.db.dispose()
    logs = data_dir / "logs"
    assert len(list(logs.rglob("*.log"))) == 1  # the virtual node b has no log file

    dry = invoke("gc", "--dry-run", "--data-dir", str(data_dir))
    assert dry.startswith(
        "Would remove 1 log file(s) and 1 work directory(ies) of 1 instance(s) finished more "
        "than 30 day(s) ago: "
    )
    assert len(list(logs.rglob("*.log"))) == 1
    assert invoke("gc", "--data-dir", str(data_dir)).startswith("Removed 1 log file(s) and 1 work")
    assert list(logs.rglob("*.log")) == []
    assert invoke("gc", "--older-than", "39", "--data-dir", str(data_dir)) == (
        "Removed 0 log file(s) and 0 work directory(ies) of 0 instance(s) finished more than "
        "39 day(s) ago: 0 bytes freed.\n"
    )


def test_gc_removes_an_alert_raised_long_ago_once_its_delivery_was_given_up(
    tmp_path: Path,
) -> None:
    # Given an alert raised 40 days ago whose one delivery was given up
    data_dir = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    workspace_id = workspaces.create_project(
        ctx, project_identifier="ws", project_name="ws"
    ).project_id
    with ctx.db.transaction() as session:
        alert_id = record_alert(
            session.connection(),
            workspace_id=workspace_id,
            remind_id=1,
            remind_name="failures",
            trigger="ERROR",
            key=dedupe_key(1, "ERROR", "instance/1"),
            receivers=[("MAIL", "nobody")],
            created_at=now_ms() - 40 * 86_400_000,
        )
    assert alert_id is not None
    [row] = outbox.due(ctx.db, now_ms())
    held = outbox.claim(ctx.db, row, now_ms(), 60_000)
    assert held is not None
    assert outbox.failed(ctx.db, held, now_ms(), "no address", max_attempts=1) == "FAILED"
    ctx.db.dispose()
    shown = invoke("alert", "show", str(alert_id), "--data-dir", str(data_dir))
    assert "failures" in shown

    # When gc runs, after a dry run
    dry = invoke("gc", "--dry-run", "--data-dir", str(data_dir))
    assert dry.endswith(
        " 1 alert message(s) raised more than 30 day(s) ago would be removed, with their "
        "deliveries.\n"
    )
    done = invoke("gc", "--data-dir", str(data_dir))
    assert done.endswith(
        " 1 alert message(s) raised more than 30 day(s) ago were removed, with their "
        "deliveries.\n"
    )
    # Then the alert is gone
    missing = CliRunner().invoke(cli, ["alert", "show", str(alert_id), "--data-dir", str(data_dir)])
    assert missing.exit_code == 1
    assert f"The alert {alert_id} does not exist." in missing.stderr
