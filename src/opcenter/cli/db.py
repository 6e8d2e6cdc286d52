"""`opcenter db`: the store's schema, for upgrades of a deployment with several processes.

Every opcenter process brings the schema to its own version when it starts (processes starting
together take turns: store/db.py `setup_lock`). A deployment can instead run
`opcenter db upgrade` once, as a step of its own, before starting the new version's processes;
`opcenter db revision` tells where the store is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opcenter.cli._output import (
    data_dir_given,
    data_dir_option,
    group_data_dir_option,
    one_line_errors,
)

if TYPE_CHECKING:
    from opcenter.store.db import Database

__all__ = ["db"]


@click.group(short_help="Show or upgrade the store's schema.")
@group_data_dir_option
def db() -> None:
    """The store's schema revision (OPCENTER_DATABASE_URL, else the data directory's SQLite)."""


@contextmanager
def _store(data_dir: Path | None) -> Iterator[Database]:
    """The store, not migrated; a database that cannot be reached is one line of error."""
    from sqlalchemy.exc import SQLAlchemyError

    from opcenter.settings import load_settings
    from opcenter.store.db import Database

    settings = load_settings(data_dir=data_dir_given(data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Database(settings.db_url)
    try:
        yield store
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"the store failed: {reason}") from None
    finally:
        store.dispose()


@db.command(short_help="Print the store's schema revision and this version's.")
@data_dir_option
@one_line_errors
def revision(data_dir: Path | None) -> None:
    """Print the store's schema revision and the one this version of opcenter expects."""
    from opcenter.store.db import SCHEMA_HEAD

    with _store(data_dir) as store:
        current = store.schema_revision()
    click.echo(f"store: {current or 'empty'}; this version: {SCHEMA_HEAD}")


@db.command(short_help="Bring the store's schema to this version.")
@data_dir_option
@one_line_errors
def upgrade(data_dir: Path | None) -> None:
    """Bring the store's schema to this version of opcenter (idempotent; safe beside processes
    starting at the same time: they take turns)."""
    from opcenter.store.db import SCHEMA_HEAD

    with _store(data_dir) as store:
        before = store.schema_revision()
        store.migrate()
    if before == SCHEMA_HEAD:
        click.echo(f"The store is at revision {SCHEMA_HEAD} already.")
    else:
        click.echo(f"The store was upgraded from {before or 'empty'} to revision {SCHEMA_HEAD}.")
