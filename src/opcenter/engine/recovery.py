"""What an engine does with the store it finds on start, before anything else.

Only one engine runs per store (engine/lock.py), so an instance that the store says is RUNNING
when an engine starts was running in a process that is gone: its outcome is unknown. It is
marked FAILURE (or, when the node has automatic reruns left, scheduled for one), and its log
says that the server stopped while it ran. WAIT_RESOURCE instances never reached a process
(RUNNING is committed before the hand-over) and are simply queued again; finished instances
are never touched, so nothing that finished runs again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import InstanceStatus
from opcenter.engine.dags import refresh_dag
from opcenter.engine.dispatch import write_lines
from opcenter.engine.paths import log_path
from opcenter.engine.transitions import record_result
from opcenter.settings import Settings
from opcenter.store.tables import Instance

__all__ = ["SERVER_STOPPED_LINE", "recover"]

SERVER_STOPPED_LINE = "The opcenter server stopped while this instance was running: marked FAILURE."


def recover(session: Session, settings: Settings, now: int) -> list[int]:
    """Resolve the instances left RUNNING by a previous process; returns their ids."""
    rows = session.execute(
        sa.select(Instance.id, Instance.dag_id, Instance.attempt).where(
            Instance.status == InstanceStatus.RUNNING.value
        )
    ).all()
    dags: set[int] = set()
    for r in rows:
        lines = [SERVER_STOPPED_LINE]
        outcome = record_result(session, r.id, r.attempt, False, now)
        if outcome is not None and outcome[0] is InstanceStatus.WAIT_TIME:
            lines.append("An automatic rerun is scheduled (AutoRerunTimes).")
        write_lines(log_path(settings.data_dir, r.dag_id, r.id, r.attempt), lines)
        dags.add(r.dag_id)
    for dag_id in sorted(dags):
        refresh_dag(session, dag_id, now)
    return [r.id for r in rows]
