"""Reading instance logs: one attempt's log, a page at a time, never the whole file at once.

An attempt's log is a plain file (for an attempt run by a Celery worker: the `log_chunk`
rows the worker and the engine wrote into the store, runners/remote/rows.py) that can be
large (up to the per-attempt cap, `OPCENTER_LOG_CAP_BYTES`, at most 1 GiB, plus opcenter's
own lines). Every read here seeks to the page and reads at most `limit` bytes (default
`DEFAULT_LOG_PAGE_BYTES`, at most `MAX_LOG_PAGE_BYTES`), so a reader's memory does not grow
with the log.

`GetInstanceLog` answers with the whole log when it fits in one page; a longer log is answered
with its **end** (the last `GET_INSTANCE_LOG_BYTES`, from a line start), after one first line
saying how much was left out and how to read all of it: the end of a log is what says how an
attempt ended. Its `InstanceHistoryId` names an attempt as ListInstanceHistory gives it
(service/history.py); `read_instance_log` (the CLI's `--attempt`) takes attempt numbers.

An attempt the engine finished without a process (a dry run, a virtual node) has no log file:
its one line is made here from the store (the attempt's row: task type, finish time), so any
API machine reads it, and the engine writes nothing for it. A log file or stored log of such an
attempt (written by an older opcenter) is read as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from opcenter.domain.model import FileType, InstanceStatus, TaskType
from opcenter.engine.dispatch import instant_line
from opcenter.engine.paths import log_path
from opcenter.errors import InvalidParameter, not_found
from opcenter.runners.logs import LOG_TAG, format_log_line, read_log_page
from opcenter.runners.remote.rows import read_chunks
from opcenter.service.context import ServiceContext
from opcenter.service.history import history_attempt
from opcenter.service.instances import _env, get_instance
from opcenter.store.tables import Instance, InstanceAttempt

__all__ = [
    "DEFAULT_LOG_PAGE_BYTES",
    "GET_INSTANCE_LOG_BYTES",
    "MAX_LOG_PAGE_BYTES",
    "LogPage",
    "get_instance_log",
    "read_instance_log",
]

DEFAULT_LOG_PAGE_BYTES = 1024 * 1024  # one page of a log: 1 MiB
MAX_LOG_PAGE_BYTES = 16 * 1024 * 1024  # the largest page one call may ask for: 16 MiB
GET_INSTANCE_LOG_BYTES = DEFAULT_LOG_PAGE_BYTES  # the most GetInstanceLog returns of a log


@dataclass(frozen=True)
class LogPage:
    """A page of one attempt's log: `text` holds the bytes `offset` to `next_offset` (decoded as
    UTF-8, undecodable bytes replaced); `size` is the log's size when it was read. To read on,
    ask again from `next_offset` (a running attempt's log keeps growing)."""

    instance_id: int
    attempt: int
    text: str
    offset: int
    next_offset: int
    size: int


def _check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise InvalidParameter(f"Offset={offset} must be 0 or more.")
    if not 1 <= limit <= MAX_LOG_PAGE_BYTES:
        raise InvalidParameter(f"Limit={limit} must be between 1 and {MAX_LOG_PAGE_BYTES} bytes.")


def read_instance_log(
    ctx: ServiceContext,
    *,
    instance_id: int,
    project_env: str,
    attempt: int | None = None,
    offset: int = 0,
    limit: int = DEFAULT_LOG_PAGE_BYTES,
    tail: bool = False,
) -> LogPage:
    """A page of the log of one attempt (default: the latest): at most `limit` bytes from byte
    `offset`, or with `tail` the last `limit` bytes starting at a line (the whole log when it is
    shorter). Readable while the instance runs; an attempt that has not started has an empty
    log. Raises NotFound for an unknown instance, InvalidParameter for an attempt it does not
    have, a negative offset or a limit outside 1..MAX_LOG_PAGE_BYTES."""
    _check_page(offset, limit)
    view = get_instance(ctx, instance_id=instance_id, project_env=project_env)
    dag_id, latest = view.dag_id, view.attempt
    number = latest if attempt is None else attempt
    if number < 0 or number > latest:
        raise InvalidParameter(
            f"InstanceId={instance_id} has no attempt {attempt}: its attempts are 1..{latest}."
        )
    path = log_path(ctx.settings.data_dir, dag_id, instance_id, number)

    def read(at: int, count: int) -> tuple[bytes, int]:
        key = (instance_id, number)
        found = _read_stored(ctx, key, at, count) or read_log_page(path, at, count)
        if found[1] == 0:  # nothing written: an attempt finished without a process?
            made = _instant_log(ctx, instance_id, number)
            if made:
                start = max(0, len(made) + at) if at < 0 else at
                return made[start : start + count], len(made)
        return found

    if not tail:
        data, size = read(offset, limit)
        return LogPage(instance_id, number, _decode(data), offset, offset + len(data), size)
    data, size = read(-limit, limit)
    start = size - len(data)
    cut = data.find(b"\n") + 1 if start > 0 else 0
    if 0 < cut < len(data):  # start at a line, unless the page holds no line break at all
        data, start = data[cut:], start + cut
    return LogPage(instance_id, number, _decode(data), start, start + len(data), size)


def _read_stored(
    ctx: ServiceContext, key: tuple[int, int], offset: int, limit: int
) -> tuple[bytes, int] | None:
    """The page from the log a Celery worker wrote into the store (`log_chunk`); None for an
    attempt that has none there (run by the local executor: its log is a file)."""
    with ctx.db.transaction(readonly=True) as session:
        return read_chunks(session, key, offset, limit)


_A = InstanceAttempt
_ATTEMPT_END = sa.select(_A.task_type, _A.status, _A.finish_time).where(
    _A.instance_id == sa.bindparam("id"), _A.attempt == sa.bindparam("attempt")
)


def _instant_log(ctx: ServiceContext, instance_id: int, number: int) -> bytes:
    """The log of attempt `number` when the engine finished it without a process (a dry run,
    a virtual node): the one line the engine wrote into a file before, stamped with the
    attempt's finish time (this machine's local time); b"" for any other attempt."""
    if number < 1:
        return b""
    with ctx.db.transaction(readonly=True) as session:
        inst = session.get(Instance, instance_id)
        row = session.execute(
            sa.select(
                InstanceAttempt.task_type, InstanceAttempt.status, InstanceAttempt.finish_time
            ).where(InstanceAttempt.instance_id == instance_id, InstanceAttempt.attempt == number)
        ).first()
    if inst is None:
        return b""
    if row is None:  # an attempt older than attempt rows: only the latest one is described
        if number != inst.attempt:
            return b""
        row = (inst.task_type, inst.status, inst.finish_time)
    task_type, status, finished = TaskType(row[0]), row[1], row[2]
    instant = task_type is not TaskType.MANUAL or inst.file_type == FileType.VIRTUAL
    if not instant or status != InstanceStatus.SUCCESS.value or finished is None:
        return b""
    stamp = datetime.fromtimestamp(finished / 1000).astimezone()
    return format_log_line(instant_line(task_type, inst.file_type), stamp).encode("utf-8")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def get_instance_log(
    ctx: ServiceContext,
    *,
    instance_id: int,
    project_env: str,
    instance_history_id: int | None = None,
) -> str:
    """GetInstanceLog: the latest attempt's log, or the attempt `InstanceHistoryId` names (an
    id ListInstanceHistory gave for this instance; another →
    `Invalid.InstanceHistory.NotExists`). A log longer than `GET_INSTANCE_LOG_BYTES` is
    answered with its end, after one line saying so."""
    attempt = None
    if instance_history_id is not None:
        env = _env(project_env)
        with ctx.db.transaction(readonly=True) as session:
            inst = session.get(Instance, instance_id)
            if inst is None or inst.env != env:
                raise not_found("InstanceId", instance_id, env)
            attempt = history_attempt(session, inst, instance_history_id)
    page = read_instance_log(
        ctx,
        instance_id=instance_id,
        project_env=project_env,
        attempt=attempt,
        limit=GET_INSTANCE_LOG_BYTES,
        tail=True,
    )
    if page.offset == 0:
        return page.text
    return (
        f"{LOG_TAG} This log has {page.size} bytes; only its last {page.size - page.offset}"
        f" bytes follow. Read all of it with: opcenter instance log {instance_id}"
        f" --attempt {page.attempt} --offset 0\n{page.text}"
    )
