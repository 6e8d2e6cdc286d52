"""`opcenter serve`: the OpenAPI server and the engine in one process, until SIGINT or SIGTERM.

On first start of an empty data directory it creates the root account and its AccessKey pair
(OPCENTER_ROOT_ACCESS_KEY_ID / _SECRET when set, otherwise a generated pair printed once).

One engine drives a store (engine/leader.py). When another process already leads the store,
this one serves the API only (operations go into the store, where the leader sees them) and
stands by: it tries to take the lead about once a second and, when the leader is gone, its own
engine takes over (recovery first, engine/recovery.py). Started again after any stop (a crash
or SIGKILL included), it resumes every unfinished Dag; nothing that finished runs again.

A background thread also sweeps old logs and work directories (service/retention.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from opcenter.cli._output import collect_garbage, data_dir_given, data_dir_option
from opcenter.engine.scheduler import Engine, EngineBusy
from opcenter.errors import NotFound, OpcenterError
from opcenter.service.context import ServiceContext
from opcenter.service.retention import RetentionSweeper
from opcenter.settings import load_settings

__all__ = ["EXAMPLE_WORKSPACE", "STANDBY_RETRY_SECONDS", "serve"]

EXAMPLE_WORKSPACE = "demo"
STANDBY_RETRY_SECONDS = 1.0  # how often a standby server tries to take the lead

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
def serve(
    data_dir: Path | None,
    workers: int | None,
    host: str | None,
    port: int | None,
    example: Path | None,
) -> None:
    """Run the OpenAPI server and the engine (resuming unfinished runs) until stopped.

    When another engine leads the store, serve the API only and take over when it stops. On
    the first start the root AccessKey is created, once the port is bound, and its secret is
    printed this one time; `opcenter iam key create` makes another root key at any time."""
    from opcenter.api.server import ServerThread, build_server
    from opcenter.iam.authorizer import Authorizer
    from opcenter.iam.resolver import StoreKeyResolver
    from opcenter.service.iam import ensure_root

    collect_garbage()  # a server lives long: the collector runs as usual
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = load_settings(
        data_dir=data_dir_given(data_dir), workers=workers, host=host, port=port
    )
    ctx = ServiceContext.open(settings)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    app = build_server(
        ctx, key_resolver=StoreKeyResolver(ctx.db, settings), authorize=Authorizer(ctx.db, settings)
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
    leader = _Leader(ctx, stop)
    try:
        key_id, secret = ensure_root(ctx)
        if example is not None:
            _apply_example(ctx, example)
        leader.start()
        _print_isolation(leader.engine)
    except OpcenterError as exc:
        server.stop()
        leader.shut_down()
        raise click.ClickException(exc.message) from None
    _print_endpoint(server.endpoint, key_id, secret)
    _print_console(ctx, server.endpoint, settings.data_dir)
    sweeper = RetentionSweeper(ctx)
    sweeper.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        click.echo("Stopping.")
        server.stop()
        sweeper.stop()
        leader.shut_down()


class _Leader:
    """Keeps this server's engine leading the store whenever it can. When another engine leads,
    the server only serves the API, and a thread tries to take the lead about once a second; it
    also notices a lead lost (the store's connection dropped: the engine stops driving at once)
    and stands by again with a fresh engine."""

    def __init__(self, ctx: ServiceContext, stop: threading.Event) -> None:
        self.ctx, self.stop = ctx, stop
        self.engine = Engine(ctx)
        self.leading = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Lead now if possible (a store error here fails the start); then keep watching."""
        settings = self.ctx.settings
        self.leading = self._try_lead()
        if self.leading:
            click.echo(
                f"opcenter engine running on {settings.data_dir} with {settings.workers} slot(s)."
            )
        else:
            click.echo(
                "Another opcenter engine leads this store: serving the API only, and taking over "
                "if that engine stops."
            )
        self._thread = threading.Thread(target=self._watch, name="opcenter-leader", daemon=True)
        self._thread.start()

    def shut_down(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join()  # a take-over in progress finishes first, so it is stopped below
        self.engine.stop()
        self.ctx.db.dispose()

    def _try_lead(self) -> bool:
        try:
            self.engine.start()
        except EngineBusy:
            return False
        return True

    def _watch(self) -> None:
        while not self.stop.wait(STANDBY_RETRY_SECONDS):
            try:
                self._check()
            except Exception:  # a store hiccup: try again, as when the leader is still there
                logger.exception("taking the lead of the store failed; trying again")

    def _check(self) -> None:
        if self.leading:
            if self.engine.leadership.held():
                return
            logger.warning("This server lost the lead of the store: standing by.")
            self.engine.stop()
            self.engine, self.leading = Engine(self.ctx), False
        self.leading = self._try_lead()
        if self.leading:
            logger.info("This server now leads the store: its engine runs the Dags.")


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
