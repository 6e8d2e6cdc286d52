"""A live opcenter for the operation tests: a store on SQLite or PostgreSQL, the engine with real
worker processes, and the OpenAPI server on 127.0.0.1 — plus helpers that drive it with the SDK.

Each test module declares its own server:

    @pytest.fixture(scope="module")
    def live(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[Live]:
        yield from live_opcenter(tmp_path_factory, module_db)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

from opcenter.api.rpc import Authorize, allow_all
from opcenter.api.server import ServerThread, build_server
from opcenter.engine.scheduler import Engine
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.runners.local import LocalExecutor
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from tests.api.conftest import make_key_resolver
from tests.api.sdk import tea_client

T = TypeVar("T")

WORKER_SLOTS = 4
POLL_SECONDS = 0.05
WAIT_SECONDS = 30.0
FINISHED = ("SUCCESS", "FAILURE")

SHELL, PYTHON, SQL, VIRTUAL = 6, 1322, 10, 99


@dataclass
class Live:
    """A running opcenter: `endpoint`/`port` for the clients, `ctx` for direct checks."""

    ctx: ServiceContext
    engine: Engine
    server: ServerThread
    data_dir: Path

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **options: Any) -> Client:
        return tea_client(self, **options)  # type: ignore[arg-type]


def start_live(data_dir: Path, db: Database, *, authorize: Authorize = allow_all) -> Live:
    settings = load_settings(environ={}, dotenv=None, data_dir=data_dir, timezone="UTC")
    data_dir.mkdir(parents=True, exist_ok=True)
    ctx = ServiceContext(db=db, settings=settings)
    engine = Engine(ctx, LocalExecutor(WORKER_SLOTS))
    engine.start()
    app = build_server(ctx, key_resolver=make_key_resolver(), authorize=authorize)
    server = ServerThread(app).start()
    return Live(ctx=ctx, engine=engine, server=server, data_dir=data_dir)


def stop_live(live: Live) -> None:
    live.server.stop()
    live.engine.stop()
    live.ctx.db.dispose()


def live_opcenter(
    tmp_path_factory: pytest.TempPathFactory, db: Database, *, authorize: Authorize = allow_all
) -> Iterator[Live]:
    """The body of a module's `live` fixture: opcenter serving the module on `db` (the
    `module_db` fixture: SQLite, then PostgreSQL), stopped after it."""
    running = start_live(tmp_path_factory.mktemp("opcenter") / "data", db, authorize=authorize)
    yield running
    stop_live(running)


# --- the SDK, shortened ---------------------------------------------------------------------


def sdk_error(action: Callable[[], object]) -> ClientException:
    """The ClientException the SDK raises for `action()` (fails the test when none is)."""
    with pytest.raises(ClientException) as caught:
        action()
    return caught.value


def assert_sdk_error(error: ClientException, *, code: str, status: int, message: str) -> None:
    """The error as the SDK shows it: `code`, HTTP status, and the server's exact Message."""
    # (this module is not assertion-rewritten: the messages say what differed)
    seen = (error.code, error.status_code, error.data["Message"])
    assert seen == (code, status, message), f"got {seen!r}"
    wanted = f"code: {status}, {message} request id: {error.request_id}"
    assert error.message == wanted, f"got {error.message!r}"


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Poll `probe()` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def instances_of(client: Client, workspace: str, dag_id: int, env: str = "PROD") -> dict[str, Any]:
    """GetManualDagInstances of one Dag, by node name."""
    body = client.get_manual_dag_instances(
        dw.GetManualDagInstancesRequest(project_env=env, project_name=workspace, dag_id=str(dag_id))
    ).body
    return {i.node_name: i for i in body.instances}


def wait_statuses(
    client: Client, workspace: str, dag_id: int, wanted: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Wait until each named instance of the Dag has one of its wanted statuses."""

    def probe() -> dict[str, Any] | None:
        now = instances_of(client, workspace, dag_id)
        return now if all(now[n].status in s for n, s in wanted.items()) else None

    return wait_for(probe, f"Dag {dag_id} to reach {wanted}")


def instance_log(client: Client, instance_id: int) -> str:
    body = client.get_instance_log(
        dw.GetInstanceLogRequest(instance_id=instance_id, project_env="PROD")
    ).body
    return str(body.data)


# --- building a workflow through the SDK ------------------------------------------------------


@dataclass
class FileSpec:
    name: str
    file_type: int
    content: str = ""
    para_value: str = ""
    inputs: list[str] = field(default_factory=list)  # upstream file names; none: the root


@dataclass
class Flow:
    """A deployed workflow: its workspace identifier, ids, and node id per file name."""

    workspace: str
    project_id: int
    business_id: int
    name: str
    file_ids: dict[str, int]
    node_ids: dict[str, int]


def client_with_workflow(live: Live, workspace: str, workflow: str) -> Client:
    """A root client of `live`, with the workspace and a manual workflow in it created."""
    sdk = live.client()
    create_workspace(sdk, workspace)
    sdk.create_business(
        dw.CreateBusinessRequest(project_identifier=workspace, business_name=workflow)
    )
    return sdk


def create_workspace(client: Client, identifier: str, *, mode: int = 3) -> int:
    body = client.create_project(
        dw.CreateProjectRequest(
            project_identifier=identifier, project_name=f"{identifier} space", project_mode=mode
        )
    ).body
    return int(body.data)


def create_flow(
    client: Client, workspace: str, name: str, files: list[FileSpec], *, deploy: bool = True
) -> Flow:
    """CreateBusiness (MANUAL_BIZ), CreateFile each file, SubmitFile and DeployFile them all."""
    project = client.get_project(dw.GetProjectRequest(project_identifier=workspace)).body.data
    business_id = client.create_business(
        dw.CreateBusinessRequest(
            project_identifier=workspace, business_name=name, use_type="MANUAL_BIZ"
        )
    ).body.business_id
    file_ids: dict[str, int] = {}
    for spec in files:
        inputs = [f"{workspace}.{i}" for i in spec.inputs] or [f"{workspace}_root"]
        file_ids[spec.name] = client.create_file(
            dw.CreateFileRequest(
                project_identifier=workspace,
                file_folder_path=f"Business Flow/{name}/nodes",
                file_name=spec.name,
                file_type=spec.file_type,
                content=spec.content,
                para_value=spec.para_value,
                input_list=",".join(inputs),
            )
        ).body.data
    node_ids: dict[str, int] = {}
    for spec in files:
        request = dw.SubmitFileRequest(project_identifier=workspace, file_id=file_ids[spec.name])
        client.submit_file(request)
        if deploy:
            client.deploy_file(
                dw.DeployFileRequest(project_identifier=workspace, file_id=file_ids[spec.name])
            )
        got = client.get_file(
            dw.GetFileRequest(project_identifier=workspace, file_id=file_ids[spec.name])
        )
        node_ids[spec.name] = got.body.data.file.node_id
    return Flow(workspace, project.project_id, business_id, name, file_ids, node_ids)


def dag_parameters(values: dict[str, str]) -> str:
    return json.dumps(values)


def signed_client(endpoint: str, key_id: str, secret: str) -> Client:
    """An official SDK client signing with this AccessKey, aimed at `endpoint` over http."""
    config = open_api_models.Config(
        access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http"
    )
    return Client(config)


@contextmanager
def signed_server(
    tmp_path_factory: pytest.TempPathFactory, db: Database, name: str, account_id: str
) -> Iterator[tuple[ServiceContext, ServerThread, Client, tuple[str, str]]]:
    """The API server as `opcenter serve` builds it — AccessKeys from the store, the store's
    authorizer, no engine — on `db`; with its context, the account's root key, and a client
    signing with that key. Stopped (and the store's pool disposed) on exit."""
    settings = load_settings(
        environ={},
        dotenv=None,
        data_dir=tmp_path_factory.mktemp(name) / "data",
        timezone="UTC",
        account_id=account_id,
    )
    settings.data_dir.mkdir(parents=True)
    ctx = ServiceContext(db=db, settings=settings)
    key_id, secret = iam.ensure_root(ctx)
    assert secret is not None
    app = build_server(
        ctx,
        key_resolver=StoreKeyResolver(ctx.db, ctx.settings),
        authorize=Authorizer(ctx.db, ctx.settings),
    )
    server = ServerThread(app).start()
    try:
        yield ctx, server, signed_client(server.endpoint, key_id, secret), (key_id, secret)
    finally:
        server.stop()
        ctx.db.dispose()
