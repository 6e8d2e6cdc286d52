"""The engine's change poll (engine/changes.py): between two full looks back (LOOKBACK_MS, at
most FULL_EVERY_MS apart) a poll reads only the last RECENT_MS, and still reports a Dag whose
change became visible late (stamped long before its commit) at the next full look, and never
reports a Dag again whose revision it already reported."""

from __future__ import annotations

import sqlalchemy as sa

from opcenter.engine.changes import FULL_EVERY_MS, LOOKBACK_MS, RECENT_MS, ChangeTracker
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Dag
from tests.engine.builders import make_flow, node, run_flow


def _poll(ctx: ServiceContext, tracker: ChangeTracker, now: int) -> list[tuple[int, int]]:
    with ctx.db.transaction() as session:
        return [(c.dag_id, c.revision) for c in tracker.poll(session, now, {})]


def test_a_late_change_is_seen_by_the_next_full_look_and_nothing_twice(
    ctx: ServiceContext,
) -> None:
    assert RECENT_MS < LOOKBACK_MS
    dag_id = run_flow(make_flow(ctx, [node("a")])).dag_id  # no engine: it stays CREATED
    tracker = ChangeTracker()
    t = ctx.clock()
    assert _poll(ctx, tracker, t) == [(dag_id, 0)]  # the first poll looks back the whole window
    assert _poll(ctx, tracker, t + 10) == []  # reported once
    # A change committed now but stamped before the short window (a long transaction, or
    # another process's clock): revision 1, modified_at older than RECENT_MS.
    stamp = t - (LOOKBACK_MS + RECENT_MS) // 2
    with ctx.db.transaction() as session:
        session.execute(
            sa.update(Dag).where(Dag.id == dag_id).values(revision=1, modified_at=stamp)
        )
    assert _poll(ctx, tracker, t + 20) == []  # a short look does not reach it …
    assert _poll(ctx, tracker, t + FULL_EVERY_MS) == [(dag_id, 1)]  # … the next full look does
    assert _poll(ctx, tracker, t + FULL_EVERY_MS + 10) == []
    assert _poll(ctx, tracker, t + 2 * FULL_EVERY_MS) == []  # a full look: nothing twice
