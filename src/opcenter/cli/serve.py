"""`opcenter serve`: the OpenAPI server and the engine in one process, until SIGINT or SIGTERM.

On first start of an empty data directory it creates the root account and its AccessKey pair
(OPCENTER_ROOT_ACCESS_KEY_ID / _SECRET when set, otherwise a generated pair printed once).

One engine drives a store (engine/leader.py). When another process already leads the store,
this one serves the API only (operations go into the store, where the leader sees them) and
stands by: it tries to take the lead about once a second and, when the leader is gone, its own
engine takes over (recovery first, engine/recovery.py; cli/_leading.py). Started again after
any stop (a crash or SIGKILL included), it resumes every unfinished Dag; nothing that finished
runs again. With `--no-engine` it only serves (the API and the page): `opcenter scheduler`
processes drive the Dags, and any number of such servers may run on one PostgreSQL store.

`/healthz`, `/readyz` and `/metrics` are served on the same port (api/health.py).

A background thread also sweeps old logs and work directories (service/retention.py), and,
beside the engine, another sends the alerts it records (alerts/sender.py). Every 10 seconds the
memory the process freed goes back to the system (process_memory.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from opcenter.cli._leading import EngineLead, open_long_running
from opcenter.cli._output import data_dir_given, data_dir_option
from opcenter.engine.scheduler import Engine
from opcenter.errors import NotFound, OpcenterError
from opcenter.process_memory import Trimmer, cap_arenas
from opcenter.service.context import ServiceContext
from opcenter.service.retention import RetentionSweeper
from opcenter.settings import load_settings

__all__ = ["EXAMPLE_WORKSPACE", "NO_ENGINE", "STANDING_BY", "serve"]

EXAMPLE_WORKSPACE = "demo"
STANDING_BY = (
    "Another opcenter engine leads this store: serving the API only, and taking over if that "
    "engine stops."
)
NO_ENGINE = (
    "No engine in this process (--no-engine): serving the API and the page only; "
    "`opcenter scheduler` drives the Dags."
)

logger = logging.getLogger("opcenter.serve")


def _apply_example(ctx: ServiceContext, path: Path) -> None:
    """Apply and deploy the example definition into the workspace `demo` (idempotent)."""
    from opcenter.service.definitions import apply_definition
    from opcenter.service.workspaces import create_project, get_project

    try:
        get_project(ctx, project_identifier=EXAMPLE_WORKSPACE)
    except NotFound:
        create_project(ctx, project_identifier=EXAMPLE_WORKSPACE, project_name=EXAMPLE_WORKSPACE)
    apply_definition(ctx, path_or_document=path, workspace=EXAMPLE_WORKSPACE, deploy=True)
    click.echo(f"Applied {path} to workspace {EXAMPLE_WORKSPACE!r} (deployed).")


@click.command(short_help="Run the OpenAPI server and the engine.")
@data_dir_option
@click.option("--workers", type=click.IntRange(min=1), help="Worker slots (default: CPUs).")
@click.option("--host", help="Address to listen on (HTTP API).")
@click.option(
    "--port", type=click.IntRange(min=0, max=65535), help="Port to listen on (0: any free port)."
)
@click.option(
    "--example",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A workflow definition to apply and deploy on start (workspace 'demo').",
)
@click.option(
    "--no-engine",
    is_flag=True,
    help="Serve the API and the page only; `opcenter scheduler` runs the engine.",
)
def serve(
    data_dir: Path | None,
    workers: int | None,
    host: str | None,
    port: int | None,
    example: Path | None,
    no_engine: bool,
) -> None:
    """Run the OpenAPI server and the engine (resuming unfinished runs) until stopped.

    When another engine leads the store, serve the API only and take over when it stops; with
    `--no-engine`, never run an engine (several such servers may share one store). On
    the first start the root AccessKey is created, once the port is bound, and its secret is
    printed this one time; `opcenter iam key create` makes another root key at any time."""
    from opcenter.api.server import ServerThread, build_server

    cap_arenas()  # before any thread (process_memory.py)
    from opcenter.iam.authorizer import Authorizer
    from opcenter.iam.resolver import StoreKeyResolver
    from opcenter.service.iam import ensure_root

    settings = load_settings(
        data_dir=data_dir_given(data_dir), workers=workers, host=host, port=port
    )
    ctx, stop = open_long_running(settings)
    leader = (
        None if no_engine else EngineLead(ctx, stop, who="This server", standing_by=STANDING_BY)
    )
    app = build_server(
        ctx,
        key_resolver=StoreKeyResolver(ctx.db, settings),
        authorize=Authorizer(ctx.db, settings),
        engine_state=lambda: "off" if leader is None else leader.state,
        engine=lambda: None if leader is None else leader.engine,
    )
    server = ServerThread(app, host=settings.host, port=settings.port, log_level="warning")
    # The port first: a server that cannot listen creates nothing, so a root key's secret is
    # never made where it could not be shown (nor used).
    try:
        server.start()
    except OSError as exc:
        ctx.db.dispose()
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc}"
        ) from None
    try:
        key_id, secret = ensure_root(ctx)
        if example is not None:
            _apply_example(ctx, example)
        if leader is None:
            click.echo(NO_ENGINE)
        else:
            leader.start()
            _print_isolation(leader.engine)
    except OpcenterError as exc:
        server.stop()
        _shut_down(ctx, leader)
        raise click.ClickException(exc.message) from None
    _print_endpoint(server.endpoint, key_id, secret)
    _print_console(ctx, server.endpoint, settings.data_dir)
    sweeper = RetentionSweeper(ctx)
    sweeper.start()
    alerts = _alert_sender(ctx, leader, f"http://{server.endpoint}")
    try:
        trimmer = Trimmer()  # freed memory back to the system (process_memory.py)
        while not stop.wait(0.5):
            trimmer.tick()
    finally:
        click.echo("Stopping.")
        server.stop()
        sweeper.stop()
        if alerts is not None:
            alerts.stop()
        _shut_down(ctx, leader)


def _alert_sender(ctx: ServiceContext, leader: EngineLead | None, base_url: str) -> Any:
    """The alert sender of the engine's process (alerts/sender.py): sends while it leads."""
    if leader is None:
        return None
    from opcenter.alerts.sender import AlertSender

    lead = leader
    return AlertSender(ctx.db, ctx.settings, base_url=base_url, active=lambda: lead.leading).start()


def _shut_down(ctx: ServiceContext, leader: EngineLead | None) -> None:
    if leader is not None:
        leader.shut_down()
    ctx.db.dispose()


def _print_isolation(engine: Engine) -> None:
    """One line: how jobs are isolated on this machine, or that they cannot be."""
    sandbox = getattr(engine.executor, "sandbox", None)
    if sandbox is not None:
        click.echo(sandbox.describe())


def _print_endpoint(endpoint: str, key_id: str, secret: str | None) -> None:
    click.echo(
        f"OpenAPI endpoint: http://{endpoint}/  (SDK: endpoint={endpoint!r}, protocol='http')"
    )
    if secret is not None:
        click.echo(f"Root AccessKey id: {key_id}")
        click.echo(f"Root AccessKey secret: {secret}  (shown only now: keep it)")
    else:
        click.echo(
            f"Root AccessKey id: {key_id} (secret as configured or shown at first start; "
            "`opcenter iam key create` makes a new one)"
        )


def _print_console(ctx: ServiceContext, endpoint: str, data_dir: Path) -> None:
    from opcenter.store.tables import LoginPassword

    click.echo(f"Operation Center page: http://{endpoint}/console/")
    with ctx.db.transaction(readonly=True) as session:
        has_password = session.get(LoginPassword, "root") is not None
    if not has_password:
        click.echo(
            "  No sign-in password is set for the account yet: "
            f"`opcenter iam user password root --data-dir {data_dir}` sets one."
        )
