"""A job of workspace A cannot reach opcenter's own state or workspace B's; its own work still
works. Real Shell, Python and SQL jobs, run by the engine on the server's executor, on both
stores: as root each runs as a tenant user inside Landlock, as another user inside Landlock.

Workspace B runs first and leaves what A then tries to reach: a log, a file in its work
directory, a row in its SQL database. A's jobs try to read and write the store, list the data
directory, read B's log, work file and database, signal the server and read its environment.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.paths import log_path, sql_url, workdir
from opcenter.engine.scheduler import Engine
from opcenter.service import instances as ops
from opcenter.service.context import Caller, ServiceContext
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

B_LOG_LINE = "B-SECRET-LOG-LINE"
B_ROW = "B-SECRET-ROW"


def _data(ctx: ServiceContext) -> Path:
    return Path(ctx.settings.data_dir).resolve()


def _sql_file(ctx: ServiceContext, identifier: str, env: str = "PROD") -> Path:
    url = sql_url(_data(ctx), identifier, env, None, None)
    return Path(url.removeprefix("sqlite:///"))


class Targets:
    """What workspace B left, and opcenter's own files: the paths A's jobs try."""

    def __init__(self, ctx: ServiceContext, b_dag: int) -> None:
        data = _data(ctx)
        b = by_name(ctx, b_dag)
        writer = b["writer"]
        self.data = data
        self.store = data / "opcenter.db"  # SQLite; on PostgreSQL, its absence is still hidden
        self.b_log = log_path(data, b_dag, writer.instance_id, 1)
        self.b_work = workdir(data, writer.instance_id, 1) / "b_file.txt"
        self.b_sql = _sql_file(ctx, "wsb")
        self.server_pid = os.getpid()  # the engine runs in this process

    def shell_probes(self) -> str:
        probes = {
            "store-read": f"cat {self.store}",
            "store-write": f"echo x >> {self.store}",
            "data-list": f"ls {self.data}",
            "b-log": f"cat {self.b_log}",
            "b-work": f"cat {self.b_work}",
            "b-sql": f"cat {self.b_sql}",
            "signal-server": f"kill -0 {self.server_pid}",
            "server-environ": f"cat /proc/{self.server_pid}/environ",
        }
        lines = [
            'probe() { if sh -c "$2" >/dev/null 2>&1; then echo "REACHED $1"; '
            'else echo "DENIED $1"; fi; }'
        ]
        lines += [f"probe {name} '{command}'" for name, command in probes.items()]
        return "\n".join(lines) + "\n"

    def python_probes(self) -> str:
        return f"""
import os, sqlite3
def probe(name, action):
    try:
        action()
    except Exception:
        print("DENIED", name)
    else:
        print("REACHED", name)
def read(path):
    return lambda: open(path, "rb").read()
probe("store-read", read({str(self.store)!r}))
probe("store-write", lambda: open({str(self.store)!r}, "ab").write(b"x"))
probe("data-list", lambda: os.listdir({str(self.data)!r}))
probe("b-log", read({str(self.b_log)!r}))
probe("b-work", read({str(self.b_work)!r}))
def query(path):
    return lambda: sqlite3.connect(path).execute("select * from secret").fetchall()
probe("b-sql", query({str(self.b_sql)!r}))
probe("signal-server", lambda: os.kill({self.server_pid}, 0))
probe("server-environ", read("/proc/{self.server_pid}/environ"))
"""


PROBES = (
    "store-read",
    "store-write",
    "data-list",
    "b-log",
    "b-work",
    "b-sql",
    "signal-server",
    "server-environ",
)


def _run_b(ctx: ServiceContext, *, create_workspace: bool = True) -> int:
    flow = make_flow(
        ctx,
        [
            node("writer", "shell", f"echo {B_LOG_LINE}; echo b-work > b_file.txt"),
            node(
                "table",
                "sql",
                f"create table secret(x text); insert into secret values ('{B_ROW}');",
            ),
        ],
        workspace="wsb",
        create_workspace=create_workspace,
    )
    dag = run_flow(flow).dag_id
    status = wait_dag(ctx, dag, timeout=60)
    assert status is DagStatus.SUCCESS, [_log(ctx, dag, n) for n in ("writer", "table")]
    return dag


def _log(ctx: ServiceContext, dag: int, name: str, env: str = "PROD") -> str:
    inst = by_name(ctx, dag, env)[name]
    return log_path(_data(ctx), dag, inst.instance_id, inst.attempt).read_text()


def _assert_denied_everywhere(log: str) -> None:
    for name in PROBES:
        assert f"DENIED {name}" in log, log
    assert "REACHED" not in log, log


def test_a_job_of_one_workspace_reaches_only_its_own_given_jobs_of_every_kind(
    server_ctx: ServiceContext, start_server_engine: Callable[..., Engine]
) -> None:
    ctx = server_ctx
    start_server_engine(ctx)
    b_dag = _run_b(ctx)
    targets = Targets(ctx, b_dag)
    assert B_LOG_LINE in targets.b_log.read_text()  # what A tries to read is really there
    assert targets.b_work.exists() and targets.b_sql.exists()
    a_sql = _sql_file(ctx, "wsa")
    own_shell = (
        "echo mine > own.txt && cat own.txt && echo OWN-WORK-OK\n"
        'echo t > "$TMPDIR/t" && echo OWN-TMP-OK\n'
        f"{sys.executable} -c \"import sqlite3; c = sqlite3.connect('{a_sql}'); "
        "c.execute('create table if not exists mine(x)'); c.commit()\" && echo OWN-SQL-OK\n"
    )
    own_python = (
        "import os, sqlite3, tempfile\n"
        "open('own.txt', 'w').write('mine'); print('OWN-WORK-OK')\n"
        "tempfile.NamedTemporaryFile(); print('OWN-TMP-OK')\n"
        f"c = sqlite3.connect('{a_sql}')\n"
        "c.execute('create table if not exists p(x)'); c.commit()\n"
        "print('OWN-SQL-OK')\n"
    )
    nodes = [
        node("shell", "shell", targets.shell_probes() + own_shell),
        node("python", "python", targets.python_probes() + own_python),
        node(
            "sql_own",
            "sql",
            "create table own(x int); insert into own values (7); select x from own;",
        ),
        node("sql_store", "sql", f"attach database '{targets.store}' as s; select 1;"),
        node("sql_b", "sql", f"attach database '{targets.b_sql}' as b; select x from b.secret;"),
    ]
    a_dag = run_flow(make_flow(ctx, nodes, workspace="wsa")).dag_id
    wait_dag(ctx, a_dag, timeout=90)

    inst = by_name(ctx, a_dag)
    for name in ("shell", "python"):
        log = _log(ctx, a_dag, name)
        assert inst[name].status is InstanceStatus.SUCCESS, log
        assert "Isolated (" in log
        _assert_denied_everywhere(log)
        for own in ("OWN-WORK-OK", "OWN-TMP-OK", "OWN-SQL-OK"):
            assert own in log, log
    own = _log(ctx, a_dag, "sql_own")
    assert inst["sql_own"].status is InstanceStatus.SUCCESS, own
    assert "7" in own.split("select x from own", 1)[1]
    for name in ("sql_store", "sql_b"):
        log = _log(ctx, a_dag, name)
        assert inst[name].status is InstanceStatus.FAILURE, log
        assert "unable to open database" in log, log
        assert B_ROW not in log
    # What A tried to write is untouched, and B's row is still B's alone
    assert B_LOG_LINE in targets.b_log.read_text()
    if targets.store.exists():
        assert not targets.store.read_bytes().endswith(b"x\n")


def test_an_isolated_job_is_stopped_with_its_whole_process_group(
    server_ctx: ServiceContext, start_server_engine: Callable[..., Engine]
) -> None:
    ctx = server_ctx
    start_server_engine(ctx)
    flow = make_flow(ctx, [node("long", "shell", "sleep 60 & echo CHILD $!; wait")])
    dag = run_flow(flow).dag_id
    long = by_name(ctx, dag)["long"]

    def child() -> int | None:
        if by_name(ctx, dag)["long"].status is not InstanceStatus.RUNNING:
            return None
        found = re.search(r"CHILD (\d+)", _log(ctx, dag, "long"))
        return int(found.group(1)) if found else None

    pid = wait_for(child, timeout=30)
    assert ops.stop_instance(
        ctx, instance_id=long.instance_id, project_env="PROD", caller=Caller(name="bob")
    )
    assert wait_dag(ctx, dag, timeout=30) is DagStatus.FAILURE
    assert _log(ctx, dag, "long").rstrip().endswith("Stopped by bob.")
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False
