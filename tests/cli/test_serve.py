"""Two `opcenter serve` processes on one store: one drives the Dags, the other serves the API
and takes over when the first is killed. On PostgreSQL with two data directories (the lock is
the store's), on SQLite with one (the store is the data directory's file)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.leader import advisory_key, lock_file
from opcenter.engine.paths import log_path
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from tests.conftest import PG_URL
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

OPCENTER = Path(sys.executable).with_name("opcenter")
STANDING_BY = "Another opcenter engine leads this store"


class Server:
    """`opcenter serve` as a separate process; its output goes to `out`."""

    def __init__(self, url: str | None, data_dir: Path, out: Path) -> None:
        self.url, self.data_dir, self.out = url, data_dir, out
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, "OPCENTER_TIMEZONE": "UTC"}
        env.pop("OPCENTER_DATABASE_URL", None)
        if self.url is not None:
            env["OPCENTER_DATABASE_URL"] = self.url
        with open(self.out, "wb") as out:
            self.process = subprocess.Popen(
                [str(OPCENTER), "serve", "--data-dir", str(self.data_dir), "--workers", "2",
                 "--port", "0"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def said(self, text: str) -> bool:
        return text in self.out.read_text(errors="replace")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Server]]:
    """Two servers, not started, on one store: SQLite in one data directory, or one PostgreSQL
    schema (the URL names it) with a data directory each."""
    if request.param == "sqlite":
        url, dirs = None, [tmp_path / "data"] * 2
    else:
        schema = request.getfixturevalue("pg_schema")
        url, dirs = f"{PG_URL}?options=-csearch_path%3D{schema}", [tmp_path / "a", tmp_path / "b"]
    started = [Server(url, d, tmp_path / f"{n}.out") for n, d in zip("ab", dirs, strict=True)]
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def ctx(servers: list[Server], tmp_path: Path) -> Iterator[ServiceContext]:
    """The test's own view of the servers' store."""
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "client")
    url = servers[0].url or f"sqlite:///{servers[0].data_dir / 'opcenter.db'}"
    db = Database(url)
    db.migrate()
    yield ServiceContext(db=db, settings=settings)
    db.dispose()


def _gate(tmp_path: Path, name: str) -> tuple[str, Path, Path]:
    """Shell code that runs until the file `name` exists, recording its pid first."""
    gate, pid = tmp_path / "gates" / name, tmp_path / "gates" / f"{name}.pid"
    return f"echo $$ > {pid}; while [ ! -e {gate} ]; do sleep 0.05; done; echo done", gate, pid


def test_a_second_server_stands_by_then_takes_over_when_the_leader_is_killed(
    ctx: ServiceContext, servers: list[Server], tmp_path: Path
) -> None:
    first, second = servers
    code, gate, pid = _gate(tmp_path, "gate")
    flow = make_flow(
        ctx,
        [node("long", "shell", code, auto_rerun_times=1), node("b", after=["long"])],
        shared=[gate.parent],
    )
    # Given a server leading the store, with an instance RUNNING
    first.start()
    dag = run_flow(flow).dag_id
    wait_for(lambda: by_name(ctx, dag)["long"].status is InstanceStatus.RUNNING, timeout=30)
    # When a second server starts on the same store (another data directory)
    second.start()
    wait_for(lambda: second.said(STANDING_BY), timeout=30)
    # Then it does not touch the leader's running instance, which the leader finishes
    assert by_name(ctx, dag)["long"].status is InstanceStatus.RUNNING
    gate.touch()
    assert wait_dag(ctx, dag, timeout=30) is DagStatus.SUCCESS
    long = by_name(ctx, dag)["long"]
    assert (long.attempt, long.status) == (1, InstanceStatus.SUCCESS)
    assert log_path(first.data_dir, dag, long.instance_id, 1).exists()
    # When the leader is killed while an instance of a new run is RUNNING
    code, gate, pid = _gate(tmp_path, "gate2")
    nodes = [node("long", "shell", code, auto_rerun_times=1), node("b", after=["long"])]
    flow2 = make_flow(ctx, nodes, workspace="ws2", shared=[gate.parent])
    dag = run_flow(flow2).dag_id
    wait_for(lambda: by_name(ctx, dag)["long"].status is InstanceStatus.RUNNING, timeout=30)
    wait_for(pid.exists, timeout=10)
    first.kill()
    killed_at = time.monotonic()
    gate.touch()  # lets the orphaned attempt end, and the rerun pass at once
    # Then the second server takes over within a few seconds and finishes the Dag
    wait_for(lambda: by_name(ctx, dag)["long"].attempt == 2, timeout=30)
    assert time.monotonic() - killed_at < 15
    assert wait_dag(ctx, dag, timeout=30) is DagStatus.SUCCESS
    long = by_name(ctx, dag)["long"]
    assert log_path(second.data_dir, dag, long.instance_id, 2).exists()
    assert second.said("This server now leads the store")


def _take_the_lead_away(ctx: ServiceContext, server: Server) -> None:
    """What a lost lead looks like: the lock file removed (SQLite), the leading session
    terminated (PostgreSQL; only the backend holding this store's key)."""
    if server.url is None:
        lock_file(ctx.db, ctx.settings).unlink()
        return
    with ctx.db.engine.connect() as conn:
        database, schema = conn.execute(
            sa.text("SELECT current_database(), current_schema()")
        ).one()
        key = advisory_key(database, schema)
        ended = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"
            ),
            {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
        ).all()
    assert ended == [(True,)]


def test_a_server_that_lost_the_lead_stands_by_then_leads_again(
    ctx: ServiceContext, servers: list[Server]
) -> None:
    # Given a server leading the store
    server = servers[0].start()
    flow = make_flow(ctx, [node("a", "shell", "echo a")])
    assert wait_dag(ctx, run_flow(flow).dag_id, timeout=30) is DagStatus.SUCCESS
    # When it loses the lead
    _take_the_lead_away(ctx, server)
    # Then it notices, stands by, leads again, and runs the next Dag
    wait_for(lambda: server.said("now leads the store"), timeout=30)
    assert server.said("This server lost the lead of the store: standing by.")
    assert wait_dag(ctx, run_flow(flow, biz_date="2020-01-01 00:00:00").dag_id) is (
        DagStatus.SUCCESS
    )


def test_serve_creates_the_root_key_only_once_it_listens(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Given a port another process listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "OPCENTER_TIMEZONE": "UTC"}
        for name in ("OPCENTER_DATABASE_URL", "OPCENTER_ROOT_ACCESS_KEY_ID",
                     "OPCENTER_ROOT_ACCESS_KEY_SECRET"):  # fmt: skip
            env.pop(name, None)
        # When a server is started on it
        failed = subprocess.run(
            [str(OPCENTER), "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    # Then it says so and made no root key (whose secret nobody would have seen)
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "AccessKey" not in failed.stdout
    keys = subprocess.run(
        [str(OPCENTER), "iam", "key", "list", "--json", "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(keys.stdout) == []
    # And the next start that listens makes it, and shows its secret, once
    server = Server(None, data_dir, tmp_path / "serve.out").start()
    try:
        wait_for(lambda: server.said("Root AccessKey secret: "), timeout=60)
    finally:
        server.kill()
    keys = subprocess.run(
        [str(OPCENTER), "iam", "key", "list", "--json", "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert len(json.loads(keys.stdout)) == 1
