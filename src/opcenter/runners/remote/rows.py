"""The rows a scheduler and its Celery workers share in the store.

`worker_attempt`, one row per attempt handed to a worker, moves through

    queued ──claim (CAS, one worker)──► running ──► finished ──► reported
       └──── stop before a claim ────────────────────┘   ▲
                 running, no heartbeat for STALE_SECONDS ─┘ (interrupted, by the scheduler)

Every move is a compare-and-set on the state (and, for a claim, on the row still being queued),
so a redelivered message, a worker that comes back after it was given up on, or two schedulers
across a handover can never make an attempt run twice or end twice. `reported` means a
scheduler has handed the result to its engine; a new leader turns it back into `finished` for
attempts its store still has RUNNING (engine/recovery.py), so no result is lost in a handover.

`log_chunk` holds the attempt's log in pieces, appended in order by one writer at a time (the
engine writes the header before the hand-over, the worker the output while it runs, the engine
its closing lines after the result); `worker_process` lists the running workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.store.tables import LogChunk, WorkerAttempt, WorkerProcess

__all__ = [
    "FINISHED",
    "QUEUED",
    "REPORTED",
    "RUNNING",
    "append_chunk",
    "claim",
    "finish",
    "heartbeat",
    "interrupt",
    "queue",
    "request_stop",
    "watch",
]

QUEUED, RUNNING, FINISHED, REPORTED = "queued", "running", "finished", "reported"
INTERRUPTED = "INTERRUPTED"  # the outcome the scheduler records for a worker that went silent

W = WorkerAttempt.__table__
C = LogChunk.__table__
P = WorkerProcess.__table__
Key = tuple[int, int]


def _key(key: Key) -> Any:
    return sa.and_(W.c.instance_id == key[0], W.c.attempt == key[1])


def queue(session: Session, key: Key, queue_name: str, spec: str, now: int) -> bool:
    """Record an attempt as queued for `queue_name` (before its message is sent); False when a
    row already exists (a handover re-sends the message of a queued row instead)."""
    found = session.execute(sa.select(W.c.state).where(_key(key))).first()
    if found is not None:
        return False
    session.execute(
        sa.insert(W).values(
            instance_id=key[0],
            attempt=key[1],
            queue=queue_name,
            state=QUEUED,
            worker="",
            host="",
            stop_requested=False,
            message="",
            spec=spec,
            created_at=now,
            modified_at=now,
        )
    )
    return True


def claim(session: Session, key: Key, worker: str, host: str, now: int) -> bool:
    """queued → running for `worker`: True for exactly one caller, ever."""
    result = session.execute(
        sa.update(W)
        .where(_key(key), W.c.state == QUEUED, W.c.stop_requested.is_(False))
        .values(state=RUNNING, worker=worker, host=host, heartbeat_at=now, modified_at=now)
    )
    return result.rowcount == 1


def record_pgid(session: Session, key: Key, worker: str, pgid: int) -> None:
    session.execute(
        sa.update(W).where(_key(key), W.c.state == RUNNING, W.c.worker == worker).values(pgid=pgid)
    )


def finish(
    session: Session,
    key: Key,
    worker: str,
    outcome: str,
    exit_code: int | None,
    message: str,
    now: int,
) -> bool:
    """running → finished by the worker that claimed it; False when the attempt is no longer
    this worker's (the scheduler gave up on it: its result is not wanted any more)."""
    result = session.execute(
        sa.update(W)
        .where(_key(key), W.c.state == RUNNING, W.c.worker == worker)
        .values(
            state=FINISHED, outcome=outcome, exit_code=exit_code, message=message, modified_at=now
        )
    )
    return result.rowcount == 1


def heartbeat(
    session: Session, worker: str, host: str, queues: str, concurrency: int, started: int, now: int
) -> dict[Key, bool]:
    """Stamp this worker and every attempt it runs; returns its running attempts (those the
    store still says it runs), each with whether a stop was requested."""
    session.execute(
        sa.update(W).where(W.c.worker == worker, W.c.state == RUNNING).values(heartbeat_at=now)
    )
    stamped = session.execute(
        sa.update(P).where(P.c.name == worker).values(heartbeat_at=now, host=host)
    )
    if stamped.rowcount == 0:
        session.execute(
            sa.insert(P).values(
                name=worker,
                host=host,
                queues=queues,
                concurrency=concurrency,
                started_at=started,
                heartbeat_at=now,
            )
        )
    rows = session.execute(
        sa.select(W.c.instance_id, W.c.attempt, W.c.stop_requested).where(
            W.c.worker == worker, W.c.state == RUNNING
        )
    ).all()
    return {(r.instance_id, r.attempt): bool(r.stop_requested) for r in rows}


def leave(session: Session, worker: str) -> None:
    """The worker stops: it is no longer listed."""
    session.execute(sa.delete(P).where(P.c.name == worker))


def request_stop(session: Session, key: Key, now: int) -> str | None:
    """Ask for an attempt to stop. A queued one ends at once (finished, STOPPED: no worker may
    claim it any more); a running one gets `stop_requested`, which its worker acts on. Returns
    the state it was in (None: unknown or already finished)."""
    dropped = session.execute(
        sa.update(W)
        .where(_key(key), W.c.state == QUEUED)
        .values(
            state=FINISHED,
            stop_requested=True,
            outcome="STOPPED",
            message="stopped before it started",
            modified_at=now,
        )
    )
    if dropped.rowcount == 1:
        return QUEUED
    asked = session.execute(
        sa.update(W)
        .where(_key(key), W.c.state == RUNNING)
        .values(stop_requested=True, modified_at=now)
    )
    return RUNNING if asked.rowcount == 1 else None


_WATCH = sa.select(
    W.c.instance_id,
    W.c.attempt,
    W.c.state,
    W.c.worker,
    W.c.host,
    W.c.heartbeat_at,
    W.c.outcome,
    W.c.exit_code,
    W.c.message,
).where(W.c.state.in_((RUNNING, FINISHED)))


def watch(session: Session) -> Sequence[Any]:
    """Every running attempt and every result not yet reported: one indexed query (on
    `state`); the rows are as many as the workers' slots plus the results of the last moment."""
    return session.execute(_WATCH).all()


def interrupt(
    session: Session, key: Key, heartbeat_seen: int | None, message: str, now: int
) -> bool:
    """running → finished INTERRUPTED, only if the heartbeat is still the one last seen (the
    worker has not come back meanwhile)."""
    stale = (
        W.c.heartbeat_at.is_(None) if heartbeat_seen is None else W.c.heartbeat_at == heartbeat_seen
    )
    result = session.execute(
        sa.update(W)
        .where(_key(key), W.c.state == RUNNING, stale)
        .values(state=FINISHED, outcome=INTERRUPTED, message=message, modified_at=now)
    )
    return result.rowcount == 1


def mark_reported(session: Session, keys: Iterable[Key]) -> None:
    for key in keys:
        session.execute(sa.update(W).where(_key(key), W.c.state == FINISHED).values(state=REPORTED))


def adoptable(session: Session, keys: Iterable[Key]) -> dict[Key, str]:
    """The states of the worker rows of `keys` (attempts the store has RUNNING); `reported` ones
    are turned back into `finished`, so their result reaches the new engine."""
    out: dict[Key, str] = {}
    for key in keys:
        state = session.scalar(sa.select(W.c.state).where(_key(key)))
        if state == REPORTED:
            session.execute(sa.update(W).where(_key(key)).values(state=FINISHED))
            state = FINISHED
        if state is not None:
            out[key] = state
    return out


def queued_message(session: Session, key: Key) -> tuple[str, str] | None:
    """The queue and the message (JSON spec) of a queued attempt, to send it again."""
    row = session.execute(
        sa.select(W.c.queue, W.c.spec).where(_key(key), W.c.state == QUEUED)
    ).first()
    return None if row is None else (row.queue, row.spec)


def live_slots(session: Session, since: int) -> int:
    """The slots of the workers that heartbeat since `since` (ms)."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(P.c.concurrency), 0)).where(
            P.c.heartbeat_at >= since
        )
    )
    return int(total or 0)


# -- logs -------------------------------------------------------------------------------------


def append_chunk(session: Session, key: Key, data: bytes, now: int) -> None:
    """Append `data` to the attempt's log (one writer at a time per attempt, see above)."""
    if not data:
        return
    seq = session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(C.c.seq), 0)).where(
            C.c.instance_id == key[0], C.c.attempt == key[1]
        )
    )
    session.execute(
        sa.insert(C).values(
            instance_id=key[0], attempt=key[1], seq=int(seq or 0) + 1, data=data, at=now
        )
    )


def chunk_sizes(session: Session, key: Key) -> list[tuple[int, int]]:
    """(seq, length) of every chunk of the attempt's log, in order; [] when it has none."""
    rows = session.execute(
        sa.select(C.c.seq, sa.func.length(C.c.data))
        .where(C.c.instance_id == key[0], C.c.attempt == key[1])
        .order_by(C.c.seq)
    ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def chunk_data(session: Session, key: Key, first: int, last: int) -> list[bytes]:
    rows = session.execute(
        sa.select(C.c.data)
        .where(
            C.c.instance_id == key[0],
            C.c.attempt == key[1],
            C.c.seq >= first,
            C.c.seq <= last,
        )
        .order_by(C.c.seq)
    ).all()
    return [bytes(r[0]) for r in rows]


def read_chunks(session: Session, key: Key, offset: int, limit: int) -> tuple[bytes, int] | None:
    """Bytes `offset`..`offset+limit` of the log held in chunks (a negative offset counts from
    the end) and the log's size; None when the attempt has no chunk."""
    sizes = chunk_sizes(session, key)
    if not sizes:
        return None
    size = sum(n for _, n in sizes)
    start = max(0, size + offset) if offset < 0 else min(offset, size)
    end = min(size, start + limit)
    at, first, last, skip = 0, None, None, 0
    for seq, n in sizes:
        if at + n > start and at < end:
            if first is None:
                first, skip = seq, start - at
            last = seq
        at += n
    if first is None or last is None:
        return b"", size
    data = b"".join(chunk_data(session, key, first, last))
    return data[skip : skip + (end - start)], size
