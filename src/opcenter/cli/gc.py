"""`opcenter gc`: delete the logs and work directories of instances that finished long ago,
and the alert messages raised long ago whose sending has ended.

The same sweep `opcenter serve` runs every hour (service/retention.py); the instances' rows are
kept. Safe beside a running server: unfinished instances and Dags, and alert messages with a
delivery still pending, are never touched.
"""

from __future__ import annotations

from pathlib import Path

import click

from opcenter.cli._output import data_dir_option, one_line_errors, service_context

__all__ = ["gc"]


@click.command(short_help="Delete the logs and work folders of old instances, and old alerts.")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    help="Age in days (default: OPCENTER_RETENTION_DAYS, 30; 0 there keeps everything).",
)
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@data_dir_option
@one_line_errors
def gc(days: int | None, dry_run: bool, data_dir: Path | None) -> None:
    """Delete old instances' logs and work directories (their rows are kept), and old alert
    messages with their deliveries.

    An instance is old when it and its Dag finished more than the retention age ago; an alert
    message when it was raised more than that age ago and none of its deliveries is pending."""
    from opcenter.service.retention import sweep

    with service_context(data_dir) as ctx:
        report = sweep(ctx, days=days, dry_run=dry_run)
    click.echo(report.summary())
