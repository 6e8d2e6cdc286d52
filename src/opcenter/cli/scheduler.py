"""`opcenter scheduler`: the engine alone (no API, no page), until SIGINT or SIGTERM.

Several may run on one store (PostgreSQL; or one SQLite file on one machine): exactly one
leads and drives the Dags, the others stand by and take over within a few seconds of the
leader's death, recovering from the store first (cli/_leading.py, engine/recovery.py).
`/healthz`, `/readyz` and `/metrics` are served on the health port (api/health.py): `/readyz`
says "leader" or "standby". API processes (`opcenter serve --no-engine`) put operations into the
store, where the leading scheduler sees them. Every 10 seconds the memory the process freed goes
back to the system (process_memory.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from opcenter.cli._leading import EngineLead, open_long_running
from opcenter.cli._output import data_dir_given, data_dir_option
from opcenter.errors import OpcenterError
from opcenter.process_memory import Trimmer, cap_arenas
from opcenter.service.retention import RetentionSweeper
from opcenter.settings import load_settings

__all__ = ["DEFAULT_HEALTH_PORT", "STANDING_BY", "scheduler"]

DEFAULT_HEALTH_PORT = 8081
STANDING_BY = "Another opcenter engine leads this store: standing by, taking over if it stops."


@click.command(short_help="Run the engine alone (one leads, others stand by).")
@data_dir_option
@click.option("--workers", type=click.IntRange(min=1), help="Worker slots (default: CPUs).")
@click.option(
    "--health-host",
    default="127.0.0.1",
    show_default=True,
    help="Address of /healthz, /readyz, /metrics.",
)
@click.option(
    "--health-port",
    type=click.IntRange(min=0, max=65535),
    default=DEFAULT_HEALTH_PORT,
    show_default=True,
    help="Port of /healthz, /readyz and /metrics (0: any free port).",
)
def scheduler(
    data_dir: Path | None, workers: int | None, health_host: str, health_port: int
) -> None:
    """Run the engine without the API until stopped: lead the store and drive its Dags, or
    stand by while another scheduler (or server) leads, and take over when it stops."""
    from opcenter.api.health import health_app
    from opcenter.api.server import ServerThread

    cap_arenas()  # before any thread (process_memory.py)
    settings = load_settings(data_dir=data_dir_given(data_dir), workers=workers)
    ctx, stop = open_long_running(settings)
    lead = EngineLead(ctx, stop, who="This scheduler", standing_by=STANDING_BY)
    app = health_app(
        ctx.db, lambda: lead.state, metrics=settings.metrics, engine=lambda: lead.engine
    )
    health = ServerThread(app, host=health_host, port=health_port)
    try:
        health.start()
    except OSError as exc:
        ctx.db.dispose()
        raise click.ClickException(f"cannot listen on {health_host}:{health_port}: {exc}") from None
    click.echo(f"Health: http://{health.endpoint}/")
    try:
        lead.start()
    except OpcenterError as exc:
        health.stop()
        ctx.db.dispose()
        raise click.ClickException(exc.message) from None
    sweeper = RetentionSweeper(ctx)
    sweeper.start()
    from opcenter.alerts.sender import AlertSender  # sends while this scheduler leads

    base_url = f"http://{settings.host}:{settings.port}"  # OPCENTER_PUBLIC_URL takes precedence
    alerts = AlertSender(ctx.db, settings, base_url=base_url, active=lambda: lead.leading).start()
    try:
        trimmer = Trimmer()  # freed memory back to the system (process_memory.py)
        while not stop.wait(0.5):
            trimmer.tick()
    finally:
        click.echo("Stopping.")
        alerts.stop()
        sweeper.stop()
        lead.shut_down()
        health.stop()
        ctx.db.dispose()
