"""Noticing work created or changed by other writers, with one cheap query.

Every operator write (a new run, a stop, a rerun …) stamps its Dag's `modified_at` and, for a
change to an existing Dag, increments its `revision`. The engine asks for the Dags modified in
the last few seconds (an index range scan) and compares revisions with what it knows. In-process
callers wake the engine with `ServiceContext.notify` so it asks at once; writers in another
process (the CLI next to `opcenter serve`) are seen at the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import DagStatus
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag

__all__ = ["Change", "ChangeTracker"]

# How far back each poll looks: covers commits that became visible late (a writer's clock read
# happens before its commit) and small clock differences between processes.
LOOKBACK_MS = 10_000
# Between two such full looks (at most FULL_EVERY_MS apart) a poll looks back RECENT_MS only:
# under load the full window holds every Dag of the last 10 s (thousands of rows at a few
# hundred runs a second) and the engine polls at every step. A Dag committed more than
# RECENT_MS after its stamp is then seen by the next full look, at most FULL_EVERY_MS later,
# as a writer in another process is seen at the engine's next poll.
RECENT_MS = 1_000
FULL_EVERY_MS = 300
# Built once (cached compiled form), Core, run on the connection: the engine asks it at every
# poll (the ORM's select path costs more than the query).
_D = Dag.__table__
_MODIFIED_SINCE = Prepared(
    sa.select(_D.c.id, _D.c.run_id, _D.c.seq, _D.c.status, _D.c.revision).where(
        _D.c.modified_at >= sa.bindparam("since", type_=sa.BigInteger())
    )
)


@dataclass(frozen=True)
class Change:
    dag_id: int
    run_id: int
    seq: int
    status: DagStatus
    revision: int


class ChangeTracker:
    """Remembers the revision of each recently modified Dag it has reported."""

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}
        self._since = 0
        self._full_at = -FULL_EVERY_MS  # the first poll looks back the whole window

    def poll(self, session: Session, now: int, known: dict[int, int]) -> list[Change]:
        """Dags modified recently whose revision differs from `known` (the engine's loaded
        Dags) or from what this tracker reported before."""
        full = now - self._full_at >= FULL_EVERY_MS or now < self._full_at
        since = max(0, self._since - (LOOKBACK_MS if full else RECENT_MS))
        self._since = now
        rows = _MODIFIED_SINCE.rows(session.connection(), {"since": since})
        changes: list[Change] = []
        # A full look keeps what its window holds; a short one adds to what is kept (the Dags
        # of the full window it did not read stay reported).
        seen: dict[int, int] = {} if full else self._seen
        for dag_id, run_id, seq, status, revision in rows:
            last = known.get(dag_id, self._seen.get(dag_id))
            seen[dag_id] = revision
            if last is None or last != revision:
                changes.append(Change(dag_id, run_id, seq, DagStatus(status), revision))
        if full:
            self._seen, self._full_at = seen, now
        return changes

    def note(self, dag_id: int, revision: int) -> None:
        """The engine itself has seen this revision (it started or finished the Dag)."""
        self._seen[dag_id] = revision

    def begin(self, now: int) -> None:
        """Look back from `now` only (the engine loaded everything older itself)."""
        self._since = now

    def forget(self) -> None:
        """Report every Dag of the look-back window again at the next poll (after a resync).
        Not the whole history: the resync itself loads every RUNNING Dag and starts every
        startable one, and each finished Dag reported is reloaded (its status is settled
        again from its instances), which must stay a handful, not every Dag ever run."""
        self._seen.clear()
        self._full_at = -FULL_EVERY_MS  # the next poll looks back the whole window
