"""What every service function receives: the store, the settings, the clock, and the engine hook."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opcenter.settings import Settings
from opcenter.store.db import Database

__all__ = ["Caller", "ServiceContext", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Caller:
    """Who is calling: recorded as owner / CreateUser; permissions come with the IAM layer."""

    name: str = "root"
    account_id: str = ""
    is_root: bool = True


@dataclass
class ServiceContext:
    """Handed explicitly to every service function.

    `notify` is called after a transaction created or released work, so an in-process engine
    can act at once (no polling); it defaults to a no-op for processes without an engine.
    """

    db: Database
    settings: Settings
    clock: Callable[[], int] = now_ms
    notify: Callable[[], None] = field(default=lambda: None)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> ServiceContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
        if migrate:
            db.migrate()
        return cls(db=db, settings=settings)
