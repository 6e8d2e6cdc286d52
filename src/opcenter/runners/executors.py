"""Building the executor a process runs, from its settings: the one place that picks it."""

from __future__ import annotations

from opcenter.runners.base import Executor
from opcenter.settings import Settings
from opcenter.store.db import Database

__all__ = ["executor_from_settings"]


def executor_from_settings(settings: Settings, db: Database | None = None) -> Executor:
    """OPCENTER_EXECUTOR=local (default): `LocalExecutor.from_settings`; celery: a
    `CeleryExecutor` on OPCENTER_BROKER_URL, watching the worker rows of `db` (default: a new
    connection pool on the settings' store)."""
    if settings.executor == "celery":
        from opcenter.runners.remote.executor import CeleryExecutor

        assert settings.broker_url  # load_settings refuses celery without a broker
        return CeleryExecutor(db or Database(settings.db_url), settings.broker_url)
    from opcenter.runners.local import LocalExecutor

    return LocalExecutor.from_settings(settings)
