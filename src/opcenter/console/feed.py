"""One change feed per server process, fanned out to every open run page.

Browsers do not poll the store: each open run page subscribes (server-sent events) to the Dags
it shows, and one thread of the process asks the store, a few times a second and only while
someone watches, which instances of the watched Dags changed since its last look (one indexed
query on `instance(dag_id, modified_at)` for all of them), then hands each subscriber the
changes of its Dags. Every writer stamps `modified_at`, so changes made by another process (the
CLI, a scheduler elsewhere, another API process) are seen the same way as this one's.

A change is the whole current state of an instance (status, suspended, attempt, times), so
seeing one twice is harmless: each look reaches back `LOOKBACK_MS` to catch commits that became
visible after a later stamp, and only instances whose state differs from the last one sent go
out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opcenter.context import ServiceContext
from opcenter.service.dag_graph import STATE_COLUMNS
from opcenter.store.tables import Dag, Instance

__all__ = ["INSTANCE_COLUMNS", "ChangeFeed", "Subscription", "instance_state"]

logger = logging.getLogger(__name__)

LOOKBACK_MS = 3_000
INTERVAL_SECONDS = 0.25

# What a change is made of: the state columns the run page reads, and when it last changed.
INSTANCE_COLUMNS = (*STATE_COLUMNS, Instance.modified_at)


def instance_state(row: Any) -> dict[str, Any]:
    """The state of one instance as the page's scripts read it."""
    return {
        "id": row.id,
        "node": row.node_id,
        "status": row.status,
        "suspended": bool(row.suspended),
        "taskType": row.task_type,
        "attempt": row.attempt,
        "begin": row.begin_running_time,
        "finish": row.finish_time,
    }


@dataclass(eq=False)
class Subscription:
    """The changes of `dag_ids`, delivered on the subscriber's event loop."""

    dag_ids: frozenset[int]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    def deliver(self, event: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


class ChangeFeed:
    """Watches the store for the Dags someone subscribed to (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, *, interval: float = INTERVAL_SECONDS) -> None:
        self.ctx = ctx
        self.interval = interval
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # dag id -> instance id -> last state sent (forgotten with the Dag's last subscriber)
        self._sent: dict[int, dict[int, tuple[Any, ...]]] = {}
        self._dag_sent: dict[int, str] = {}
        self._since: dict[int, int] = {}  # dag id -> look from (epoch ms)

    def subscribe(self, dag_ids: Iterable[int]) -> Subscription:
        """Start receiving the changes of `dag_ids` (call from the subscriber's event loop)."""
        sub = Subscription(frozenset(dag_ids), asyncio.get_running_loop())
        now = self.ctx.clock()
        with self._lock:
            self._subs.add(sub)
            for dag_id in sub.dag_ids:
                self._since.setdefault(dag_id, now - LOOKBACK_MS)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)
                self._thread.start()
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)
            watched = {d for s in self._subs for d in s.dag_ids}
            for dag_id in list(self._since):
                if dag_id not in watched:
                    del self._since[dag_id]
                    self._sent.pop(dag_id, None)
                    self._dag_sent.pop(dag_id, None)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    # --- the one thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                watched = dict(self._since)
                subs = list(self._subs)
            if not subs:
                self._wake.clear()
                self._wake.wait(5)
                continue
            try:
                self._look(watched, subs)
            except Exception:  # a store hiccup must not end the feed
                logger.exception("The page's change feed could not read the store.")
            self._stop.wait(self.interval)

    def _look(self, watched: dict[int, int], subs: list[Subscription]) -> None:
        now = self.ctx.clock()
        since = min(watched.values())
        with self.ctx.db.transaction(readonly=True) as session:
            rows = session.execute(
                sa.select(*INSTANCE_COLUMNS).where(
                    Instance.dag_id.in_(list(watched)), Instance.modified_at >= since
                )
            ).all()
            dags = session.execute(
                sa.select(Dag.id, Dag.status).where(Dag.id.in_(list(watched)))
            ).all()
        changed: dict[int, list[dict[str, Any]]] = {}
        dag_status = {}
        with self._lock:  # what was sent is forgotten with a Dag's last subscriber (unsubscribe)
            for row in rows:
                if row.dag_id not in self._since:
                    continue
                state = (row.status, row.suspended, row.task_type, row.attempt, row.finish_time)
                sent = self._sent.setdefault(row.dag_id, {})
                if sent.get(row.id) != state:
                    sent[row.id] = state
                    changed.setdefault(row.dag_id, []).append(instance_state(row))
            for dag in dags:
                if dag.id in self._since and self._dag_sent.get(dag.id) != dag.status:
                    self._dag_sent[dag.id] = dag.status
                    dag_status[dag.id] = dag.status
            for dag_id in watched:
                if dag_id in self._since:
                    self._since[dag_id] = now - LOOKBACK_MS
        for sub in subs:
            event = {
                "instances": [i for d in sub.dag_ids for i in changed.get(d, ())],
                "dags": {str(d): s for d, s in dag_status.items() if d in sub.dag_ids},
            }
            if event["instances"] or event["dags"]:
                sub.deliver(event)
