"""`opcenter serve`: the OpenAPI server and the engine in one process, until SIGINT or SIGTERM.

On first start of an empty data directory it creates the root account and its AccessKey pair
(OPCENTER_ROOT_ACCESS_KEY_ID / _SECRET when set, otherwise a generated pair printed once).

Started again after any stop (a crash or SIGKILL included), it resumes every unfinished Dag:
instances that were running are marked FAILURE (auto-rerun applies), nothing that finished runs
again (engine/recovery.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from opcenter.errors import NotFound, OpcenterError
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings

__all__ = ["EXAMPLE_WORKSPACE", "serve"]

EXAMPLE_WORKSPACE = "demo"

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


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: OPCENTER_DATA_DIR, else ./.opcenter).",
)
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
    """Run the OpenAPI server and the engine (resuming unfinished runs) until stopped."""
    from opcenter.api.server import ServerThread, build_server
    from opcenter.engine.scheduler import Engine, EngineBusy
    from opcenter.iam.authorizer import Authorizer
    from opcenter.iam.resolver import StoreKeyResolver
    from opcenter.service.iam import ensure_root

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = load_settings(data_dir=data_dir, workers=workers, host=host, port=port)
    ctx = ServiceContext.open(settings)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    engine = Engine(ctx)
    try:
        key_id, secret = ensure_root(ctx)
        if example is not None:
            _apply_example(ctx, example)
        engine.start()
    except EngineBusy as exc:
        ctx.db.dispose()
        raise click.ClickException(str(exc)) from None
    except OpcenterError as exc:
        ctx.db.dispose()
        raise click.ClickException(exc.message) from None
    click.echo(f"opcenter engine running on {settings.data_dir} with {settings.workers} slot(s).")
    app = build_server(
        ctx, key_resolver=StoreKeyResolver(ctx.db, settings), authorize=Authorizer(ctx.db, settings)
    )
    server = ServerThread(app, host=settings.host, port=settings.port, log_level="warning")
    try:
        server.start()
    except OSError as exc:
        engine.stop()
        ctx.db.dispose()
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc}"
        ) from None
    _print_endpoint(server.endpoint, key_id, secret)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        click.echo("Stopping.")
        server.stop()
        engine.stop()
        ctx.db.dispose()


def _print_endpoint(endpoint: str, key_id: str, secret: str | None) -> None:
    click.echo(
        f"OpenAPI endpoint: http://{endpoint}/  (SDK: endpoint={endpoint!r}, protocol='http')"
    )
    if secret is not None:
        click.echo(f"Root AccessKey id: {key_id}")
        click.echo(f"Root AccessKey secret: {secret}  (shown only now: keep it)")
    else:
        click.echo(f"Root AccessKey id: {key_id} (secret as configured or shown at first start)")
