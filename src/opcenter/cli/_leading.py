"""Keeping a process's engine leading the store whenever it can: shared by `opcenter serve`
(API, page and engine) and `opcenter scheduler` (the engine alone).

One engine drives a store (engine/leader.py `Leadership`: a `flock` on SQLite, a session
advisory lock on PostgreSQL, released by the OS or the database server as soon as the holding
process dies, SIGKILL included). A process that cannot lead stands by: a thread tries to take
the lead every `STANDBY_RETRY_SECONDS` and, once it has it, the engine starts with its recovery
(engine/recovery.py: interrupted attempts recorded, automatic reruns once). The leader checks
`held()` at the same pace and stands by again, with a fresh engine, when its lead is lost.

Take-over time after the leader is killed: the lock is free at once (the kernel closes the dead
process's socket, the server ends its session), so a standby leads within one retry interval
plus its engine's start — about 1 to 2 s.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click

from opcenter.cli._output import collect_garbage
from opcenter.engine.scheduler import Engine, EngineBusy
from opcenter.logcontext import configure_logging
from opcenter.service.context import ServiceContext
from opcenter.settings import Settings

__all__ = ["STANDBY_RETRY_SECONDS", "EngineLead"]

STANDBY_RETRY_SECONDS = 1.0  # how often a standby process tries to take the lead

logger = logging.getLogger("opcenter.leading")


def open_long_running(settings: Settings) -> tuple[ServiceContext, threading.Event]:
    """What a long-running process (serve, scheduler) does first: the garbage collector back
    on, logging set up, the store opened (migrated), and SIGINT/SIGTERM turned into the
    returned stop event."""
    collect_garbage()  # a server lives long: the collector runs as usual
    configure_logging(settings.log_format)  # OPCENTER_LOG_FORMAT: text or json
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx = ServiceContext.open(settings)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    return ctx, stop


class EngineLead:
    """Keeps this process's engine leading the store whenever it can. `who` names the process
    in its messages ("This server", "This scheduler"); `standing_by` is printed when another
    engine leads at start. `state` is "leader" or "standby" (what `/readyz` reports)."""

    def __init__(
        self, ctx: ServiceContext, stop: threading.Event, *, who: str, standing_by: str
    ) -> None:
        self.ctx, self.stop = ctx, stop
        self.who, self.standing_by = who, standing_by
        self.engine = Engine(ctx)
        self.leading = False
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        return "leader" if self.leading else "standby"

    def start(self) -> None:
        """Lead now if possible (a store error here fails the start); then keep watching."""
        settings = self.ctx.settings
        self.leading = self._try_lead()
        if self.leading:
            where = (
                "attempts run by Celery workers"
                if settings.executor == "celery"
                else f"{settings.workers} slot(s)"
            )
            click.echo(f"opcenter engine running on {settings.data_dir} with {where}.")
        else:
            click.echo(self.standing_by)
        self._thread = threading.Thread(target=self._watch, name="opcenter-leader", daemon=True)
        self._thread.start()

    def shut_down(self) -> None:
        """Stop watching and stop the engine (its leadership is released)."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join()  # a take-over in progress finishes first, so it is stopped below
        self.engine.stop()

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
            logger.warning("%s lost the lead of the store: standing by.", self.who)
            self.engine.stop()
            self.engine, self.leading = Engine(self.ctx), False
        self.leading = self._try_lead()
        if self.leading:
            logger.info("%s now leads the store: its engine runs the Dags.", self.who)
