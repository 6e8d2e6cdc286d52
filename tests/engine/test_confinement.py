"""What dispatch tells the sandbox about each attempt (`InstanceSpec.confinement`): the
workspace and environment, the tenant the workspace names for it, and the grants (its SQL
folder, the paths it shares); and the embedded SQL database's folder of its own, into which a
database of the former layout is moved (both backends)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from opcenter.engine import transitions
from opcenter.engine.dispatch import Prepared, prepare
from opcenter.engine.paths import embedded_sql, sql_folder
from opcenter.runners.base import Confinement, Grant
from opcenter.service import workspaces
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Instance, Workspace
from tests.engine.builders import make_flow, node, run_flow

NODES = [
    node("sh", "shell", "echo sh"),
    node("py", "python", "print('py')"),
    node("q", "sql", "select 1;"),
    node("v", "virtual"),
]


def _dispatch(ctx: ServiceContext, dag_ids: list[int]) -> dict[tuple[str, str], Prepared]:
    """Claim and mark running every instance of the Dags, as an engine step does, and prepare
    their specs; keyed by (environment, node name)."""
    with ctx.db.transaction() as session:
        rows = session.execute(
            sa.select(Instance.id, Instance.env, Instance.node_name).where(
                Instance.dag_id.in_(dag_ids)
            )
        ).all()
        ids = [r.id for r in rows]
        transitions.claim(session, ids, 1)
        prepared = prepare(session, transitions.mark_running(session, ids, 2), ctx.settings)
    return {(r.env, r.node_name): prepared[r.id] for r in rows}


def test_each_attempt_is_confined_to_its_tenant_sql_folder_and_shared_paths_given_settings(
    ctx: ServiceContext,
) -> None:
    flow = make_flow(ctx, NODES)
    ws = {"project_identifier": "ws"}
    workspaces.set_tenant(ctx, **ws, user="etl_dev", env="DEV")
    workspaces.set_tenant(ctx, **ws, user="etl_prod", env="PROD")
    workspaces.share_path(ctx, **ws, path="/srv/lake")
    workspaces.share_path(ctx, **ws, path="/srv/out/", write=True)
    dags = [run_flow(flow, env=env).dag_id for env in ("DEV", "PROD")]

    specs = {key: item.spec for key, item in _dispatch(ctx, dags).items()}

    data = ctx.settings.data_dir.resolve()
    shared = (Grant(Path("/srv/lake"), False), Grant(Path("/srv/out"), True))
    for env, tenant in (("DEV", "etl_dev"), ("PROD", "etl_prod")):
        folder = data / "sql" / f"ws_{env}"
        confined = Confinement("ws", env, tenant, (Grant(folder, writable=True), *shared))
        for name in ("sh", "py", "q"):
            assert specs[env, name].confinement == confined, (env, name)
        assert specs[env, "v"].confinement == Confinement("ws", env, tenant, shared)
        assert specs[env, "q"].sql_url == f"sqlite:///{folder}/ws_{env}.db"
        assert specs[env, "sh"].sql_url is None and specs[env, "py"].sql_url is None
        assert folder.is_dir()


def test_the_default_tenant_and_a_configured_sqlite_folder_are_used_given_no_settings(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    flow = make_flow(ctx, NODES)
    own = tmp_path / "warehouse" / "prod.db"
    with ctx.db.transaction() as session:
        session.execute(
            sa.update(Workspace).values(
                sql_url_prod=f"sqlite:///{own}", sql_url_dev="postgresql://h/x"
            )
        )
    dags = [run_flow(flow, env=env).dag_id for env in ("DEV", "PROD")]

    specs = {key: item.spec for key, item in _dispatch(ctx, dags).items()}

    prod = Confinement("ws", "PROD", None, (Grant(own.parent, writable=True),))
    assert [specs["PROD", n].confinement for n in ("sh", "py", "q")] == [prod] * 3
    assert specs["PROD", "q"].sql_url == f"sqlite:///{own}"
    dev = Confinement("ws", "DEV", None, ())  # a database server: no folder to grant
    assert [specs["DEV", n].confinement for n in ("sh", "py", "q", "v")] == [dev] * 4
    assert specs["DEV", "q"].sql_url == "postgresql://h/x"
    assert not sql_folder(ctx.settings.data_dir.resolve(), "ws", "PROD").exists()


def test_a_shared_path_overlapping_the_data_directory_is_not_granted_given_a_moved_data_dir(
    ctx: ServiceContext,
) -> None:
    # Shared when the data directory was elsewhere; the server now runs with it below /srv.
    flow = make_flow(ctx, [node("sh", "shell", "true")])
    data = ctx.settings.data_dir.resolve()
    text = f'[{{"path": "{data.parent}", "write": true}}, {{"path": "/srv/ok", "write": false}}]'
    with ctx.db.transaction() as session:
        session.execute(sa.update(Workspace).values(shared_paths=text))
    dag = run_flow(flow).dag_id

    spec = _dispatch(ctx, [dag])["PROD", "sh"].spec

    assert spec.confinement is not None
    assert [g.path for g in spec.confinement.grants] == [data / "sql" / "ws_PROD", Path("/srv/ok")]


def test_an_attempt_is_prepared_without_its_sql_folder_given_one_that_cannot_be_made(
    ctx: ServiceContext,
) -> None:
    flow = make_flow(ctx, [node("sh", "shell", "true"), node("q", "sql", "select 1;")])
    (ctx.settings.data_dir / "sql").write_bytes(b"")  # a file where the folders would go
    dag = run_flow(flow).dag_id

    prepared = _dispatch(ctx, [dag])

    assert prepared["PROD", "sh"].spec.confinement == Confinement("ws", "PROD", None, ())
    folder = ctx.settings.data_dir.resolve() / "sql" / "ws_PROD"
    assert prepared["PROD", "q"].spec.sql_url == f"sqlite:///{folder}/ws_PROD.db"


def test_embedded_sql_moves_a_database_of_the_former_layout_into_its_folder_given_one(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "sql").mkdir(parents=True)
    (data / "sql" / "ws_DEV.db").write_bytes(b"")  # another environment's: left where it is
    # The files a server killed during a write leaves behind: the row is in the WAL only.
    source = tmp_path / "ws_PROD.db"
    db = sqlite3.connect(source)
    try:
        db.execute("pragma journal_mode=wal")
        db.execute("pragma wal_autocheckpoint=0")
        db.execute("create table t (x int)")
        db.execute("insert into t values (41)")
        db.commit()
        for suffix in ("", "-wal", "-shm"):
            shutil.copyfile(f"{source}{suffix}", data / "sql" / f"ws_PROD.db{suffix}")
    finally:
        db.close()

    url, folder = embedded_sql(data, "ws", "PROD")

    assert folder == data / "sql" / "ws_PROD"
    assert url == f"sqlite:///{folder / 'ws_PROD.db'}"
    moved = ["ws_PROD.db", "ws_PROD.db-shm", "ws_PROD.db-wal"]
    assert sorted(p.name for p in folder.iterdir()) == moved
    assert sorted(p.name for p in (data / "sql").iterdir()) == ["ws_DEV.db", "ws_PROD"]
    with sqlite3.connect(folder / "ws_PROD.db") as moved_db:
        assert moved_db.execute("select x + 1 from t").fetchall() == [(42,)]


def test_embedded_sql_leaves_a_former_database_alone_given_one_in_the_new_folder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    folder = data / "sql" / "ws_DEV"
    folder.mkdir(parents=True)
    (folder / "ws_DEV.db").write_bytes(b"new")
    (data / "sql" / "ws_DEV.db").write_bytes(b"old")

    embedded_sql(data, "ws", "DEV")

    assert (folder / "ws_DEV.db").read_bytes() == b"new"
    assert (data / "sql" / "ws_DEV.db").read_bytes() == b"old"
