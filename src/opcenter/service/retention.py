"""Retention: the logs and work directories of instances that finished long ago are deleted.

What is swept: the attempt log files (`<data_dir>/logs/dag_<DagId>/<InstanceId>.<attempt>.log`)
and attempt working directories (`<data_dir>/work/<InstanceId>/<attempt>`) of an instance that
is finished (SUCCESS or FAILURE) in a Dag that is finished too, both for longer than
`OPCENTER_RETENTION_DAYS` (default 30; 0 keeps everything forever). The instances' rows (states,
times, parameters) are kept: only the files go, and a log read afterwards is empty (but for
a virtual or dry-run attempt, whose one line service/logs.py makes from its row).

Never swept: an instance that is not finished, or whose Dag is not (a failed Dag can be made to
run again), and any attempt newer than the one the store recorded when the sweep looked (a
rerun that starts during a sweep keeps its files). The sweep starts from the files on disk, so
its cost follows what is still kept, not the size of the store's history.

Alert messages (`alert_messages`, the AlertIds ListAlertMessages lists) raised more than
`OPCENTER_RETENTION_DAYS` ago are deleted with their deliveries (`alert_deliveries`) once every
delivery is SENT or FAILED; a message with a delivery still PENDING (waiting for its time or
another attempt) is kept until it is sent or given up. They go in batches of a few hundred, each
its own short transaction, so the engine's steps are not held up behind one long delete.

`opcenter gc` sweeps once (`--dry-run` only reports); `opcenter serve` sweeps in a background
thread shortly after it starts and then every hour.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import PENDING
from opcenter.store.tables import (
    AlertDelivery,
    AlertEvent,
    AlertMessage,
    Dag,
    Instance,
    LogChunk,
    WorkerAttempt,
)

__all__ = [
    "DAY_MS",
    "FIRST_SWEEP_SECONDS",
    "SWEEP_INTERVAL_SECONDS",
    "RetentionSweeper",
    "SweepReport",
    "sweep",
]

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
SWEEP_INTERVAL_SECONDS = 3600.0  # how often `opcenter serve` sweeps
FIRST_SWEEP_SECONDS = 60.0  # the first sweep after `opcenter serve` starts
_IDS_PER_QUERY = 500  # instance ids per `IN (...)`: well under every driver's parameter limit
_FINISHED_INSTANCE = (InstanceStatus.SUCCESS.value, InstanceStatus.FAILURE.value)
_FINISHED_DAG = (DagStatus.SUCCESS.value, DagStatus.FAILURE.value)


@dataclass
class SweepReport:
    """What one sweep removed (or, with `dry_run`, would remove)."""

    dry_run: bool = False
    days: int = 0
    instances: set[int] = field(default_factory=set)
    logs: int = 0
    workdirs: int = 0
    freed_bytes: int = 0
    errors: int = 0
    stored_logs: int = 0  # attempts whose log Celery workers wrote into the store
    alerts: int = 0  # alert messages (with their deliveries) raised before the cutoff

    def summary(self) -> str:
        """One line for a person."""
        if self.days == 0:
            return "Retention is off (OPCENTER_RETENTION_DAYS=0): nothing removed."
        verb, freed = ("Would remove", "would free") if self.dry_run else ("Removed", "freed")
        line = (
            f"{verb} {self.logs} log file(s) and {self.workdirs} work directory(ies) of "
            f"{len(self.instances)} instance(s) finished more than {self.days} day(s) ago: "
            f"{_size(self.freed_bytes)} {freed}."
        )
        if self.stored_logs:
            line += f" {self.stored_logs} attempt log(s) kept in the store were removed too."
        if self.alerts:
            gone = "would be removed" if self.dry_run else "were removed"
            line += (
                f" {self.alerts} alert message(s) raised more than {self.days} day(s) ago "
                f"{gone}, with their deliveries."
            )
        if self.errors:
            line += f" {self.errors} could not be removed (see the server log)."
        return line


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


@dataclass(frozen=True)
class _Item:
    instance_id: int
    attempt: int
    path: Path
    is_log: bool


def sweep(
    ctx: ServiceContext,
    *,
    now: int | None = None,
    days: int | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """Delete (or with `dry_run`, count) the files of instances finished more than `days` days
    before `now` (ms; default the context's clock), `days` defaulting to the retention setting.
    Never raises for a file that cannot be removed: it is counted in `errors` and logged."""
    days = ctx.settings.retention_days if days is None else days
    report = SweepReport(dry_run=dry_run, days=days)
    if days <= 0:
        return report
    cutoff = (ctx.clock() if now is None else now) - days * DAY_MS
    data_dir = Path(ctx.settings.data_dir)
    items = [*_logs(data_dir / "logs"), *_workdirs(data_dir / "work")]
    kept_attempts = _expired(ctx, {i.instance_id for i in items}, cutoff)
    for item in items:
        latest = kept_attempts.get(item.instance_id)
        if latest is None or item.attempt > latest:
            continue
        _remove(item, report)
    if not dry_run:
        _prune_empty(data_dir / "logs", data_dir / "work")
        report.stored_logs = _sweep_store(ctx, cutoff)
    report.alerts = _sweep_alerts(ctx, cutoff, dry_run=dry_run)
    return report


def _old_alerts(cutoff: int) -> sa.Select[tuple[int]]:
    """The ids of the alert messages raised at or before `cutoff` none of whose deliveries is
    PENDING (SENT and FAILED are final: such a message never gets a PENDING one again)."""
    pending = sa.select(AlertDelivery.id).where(
        AlertDelivery.message_id == AlertMessage.id, AlertDelivery.status == PENDING
    )
    return (
        sa.select(AlertMessage.id)
        .where(AlertMessage.created_at <= cutoff, ~pending.exists())
        .order_by(AlertMessage.id)
    )


def _sweep_alerts(ctx: ServiceContext, cutoff: int, *, dry_run: bool) -> int:
    """Delete (or with `dry_run`, count) the old alert messages of `_old_alerts` and their
    deliveries, `_IDS_PER_QUERY` messages per transaction. Returns how many messages."""
    if dry_run:
        with ctx.db.transaction(readonly=True) as session:
            counted = sa.select(sa.func.count()).select_from(_old_alerts(cutoff).subquery())
            return int(session.execute(counted).scalar_one())
    removed = 0
    while True:
        with ctx.db.transaction() as session:
            ids = list(session.scalars(_old_alerts(cutoff).limit(_IDS_PER_QUERY)))
            if ids:
                session.execute(sa.delete(AlertDelivery).where(AlertDelivery.message_id.in_(ids)))
                session.execute(sa.delete(AlertMessage).where(AlertMessage.id.in_(ids)))
        removed += len(ids)
        if len(ids) < _IDS_PER_QUERY:
            break
    _sweep_alert_events(ctx, cutoff)
    return removed


def _sweep_alert_events(ctx: ServiceContext, cutoff: int) -> None:
    """Delete the rules' events (`alert_events`: what each rule saw, counted into its budget per
    run and its dedupe) recorded at or before `cutoff`, `_IDS_PER_QUERY` per transaction. A run
    older than the retention period that fails again (a rerun of an old Dag) starts its count
    afresh."""
    while True:
        with ctx.db.transaction() as session:
            old = sa.select(AlertEvent.key).where(AlertEvent.created_at <= cutoff)
            keys = list(session.scalars(old.limit(_IDS_PER_QUERY)))
            if keys:
                session.execute(sa.delete(AlertEvent).where(AlertEvent.key.in_(keys)))
        if len(keys) < _IDS_PER_QUERY:
            return


def _sweep_store(ctx: ServiceContext, cutoff: int) -> int:
    """Delete the stored logs (`log_chunk`) and worker rows (`worker_attempt`) of instances
    finished before `cutoff` in a Dag finished before it: what Celery workers left in the
    store, under the same rule as the files. Returns how many attempts' rows went."""
    old = (
        sa.select(Instance.id)
        .join(Dag, Dag.id == Instance.dag_id)
        .where(
            Instance.status.in_(_FINISHED_INSTANCE),
            Instance.finish_time <= cutoff,
            Dag.status.in_(_FINISHED_DAG),
            Dag.finish_time <= cutoff,
        )
    )
    with ctx.db.transaction() as session:
        session.execute(sa.delete(LogChunk).where(LogChunk.instance_id.in_(old)))
        gone = session.execute(sa.delete(WorkerAttempt).where(WorkerAttempt.instance_id.in_(old)))
    return int(gone.rowcount or 0)


def _logs(root: Path) -> Iterator[_Item]:
    for folder in _children(root):
        if not folder.name.startswith("dag_"):
            continue
        for path in _children(folder):
            instance, _, rest = path.name.partition(".")
            attempt = rest.removesuffix(".log")
            if instance.isdigit() and attempt.isdigit() and rest.endswith(".log"):
                yield _Item(int(instance), int(attempt), path, True)


def _workdirs(root: Path) -> Iterator[_Item]:
    for folder in _children(root):
        if not folder.name.isdigit():
            continue
        for path in _children(folder):
            if path.name.isdigit():
                yield _Item(int(folder.name), int(path.name), path, False)


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _expired(ctx: ServiceContext, ids: Iterable[int], cutoff: int) -> dict[int, int]:
    """Of `ids`, the instances finished before `cutoff` in a Dag finished before it too,
    with their latest attempt number."""
    wanted = sorted(ids)
    found: dict[int, int] = {}
    with ctx.db.transaction(readonly=True) as session:
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            rows = session.execute(
                sa.select(Instance.id, Instance.attempt)
                .join(Dag, Dag.id == Instance.dag_id)
                .where(
                    Instance.id.in_(wanted[start : start + _IDS_PER_QUERY]),
                    Instance.status.in_(_FINISHED_INSTANCE),
                    Instance.finish_time <= cutoff,
                    Dag.status.in_(_FINISHED_DAG),
                    Dag.finish_time <= cutoff,
                )
            ).all()
            found.update({row.id: row.attempt for row in rows})
    return found


def _remove(item: _Item, report: SweepReport) -> None:
    try:
        size = item.path.stat().st_size if item.is_log else _tree_size(item.path)
        if not report.dry_run:
            if item.is_log:
                item.path.unlink()
            else:
                shutil.rmtree(item.path)
    except FileNotFoundError:
        return  # removed meanwhile (another sweep)
    except OSError as exc:
        report.errors += 1
        logger.warning("retention: cannot remove %s: %s", item.path, exc)
        return
    report.instances.add(item.instance_id)
    report.freed_bytes += size
    if item.is_log:
        report.logs += 1
    else:
        report.workdirs += 1


def _tree_size(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _prune_empty(*roots: Path) -> None:
    """Remove the per-Dag and per-instance folders the sweep left empty (a folder a new attempt
    is writing into at this moment is not empty, or is made again by its writer)."""
    for root in roots:
        for folder in _children(root):
            try:
                folder.rmdir()
            except OSError:
                continue  # not empty, or not ours to remove


class RetentionSweeper:
    """A daemon thread that sweeps `FIRST_SWEEP_SECONDS` after `start()` and then every
    `SWEEP_INTERVAL_SECONDS`; a failed sweep is logged and the next one happens as planned."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        interval_seconds: float = SWEEP_INTERVAL_SECONDS,
        first_delay_seconds: float = FIRST_SWEEP_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.interval_seconds = interval_seconds
        self.first_delay_seconds = first_delay_seconds
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.ctx.settings.retention_days <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="opcenter-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        wait = self.first_delay_seconds
        while not self._stop.wait(wait):
            wait = self.interval_seconds
            try:
                report = sweep(self.ctx)
            except Exception:
                logger.exception("retention sweep failed; the next one runs as planned")
                continue
            self.sweeps += 1
            if report.instances or report.errors or report.alerts:
                logger.info("retention: %s", report.summary())
