"""`opcenter worker`: a Celery worker running attempts with the same runners as `serve`.

It serves the queues given (default `default`; a node's resource group is its queue) with
`--concurrency` slots, claims each attempt in the store before running it, heartbeats, writes the
attempt's log into the store, and stops warmly on SIGTERM/SIGINT (running attempts end first).
Needs OPCENTER_BROKER_URL and the shared store (OPCENTER_DATABASE_URL).
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import click

from opcenter.cli._output import data_dir_given, data_dir_option
from opcenter.errors import OpcenterError
from opcenter.settings import load_settings

__all__ = ["worker"]


@click.command(short_help="Run a Celery worker that runs instance attempts.")
@data_dir_option
@click.option(
    "--queues",
    default="default",
    show_default=True,
    help="Queues (resource groups) to serve, comma-separated.",
)
@click.option("--concurrency", type=click.IntRange(min=1), help="Slots (default: CPUs).")
@click.option("--name", help="This worker's name (default: worker-<pid>).")
def worker(data_dir: Path | None, queues: str, concurrency: int | None, name: str | None) -> None:
    """Run a Celery worker on OPCENTER_BROKER_URL that runs the attempts sent to its queues,
    with the same runners and sandbox as the local executor, until SIGTERM or SIGINT."""
    from opcenter.runners.remote.worker import serve_worker
    from opcenter.store.db import Database

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings(data_dir=data_dir_given(data_dir))
    except OpcenterError as exc:
        raise click.ClickException(exc.message) from None
    if not settings.broker_url:
        raise click.ClickException("OPCENTER_BROKER_URL is not set (amqp:// or redis://).")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise click.ClickException("--queues names no queue.")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        db.migrate()
    except OpcenterError as exc:
        raise click.ClickException(exc.message) from None
    slots = concurrency or os.cpu_count() or 1
    label = name or f"worker-{os.getpid()}"
    click.echo(
        f"opcenter worker {label} on {socket.gethostname()}: "
        f"queues {','.join(names)}, {slots} slot(s)."
    )
    try:
        serve_worker(settings, db, queues=names, concurrency=slots, name=label)
    finally:
        db.dispose()
