"""The engine's in-memory picture of one started Dag: its instances, edges and in-degrees.

Built from the store (`DagView.load`) when a Dag starts, when the engine starts, and whenever
another writer changed the Dag (its `revision` moved); kept up to date by the engine's own
confirmed transitions in between, so finishing an instance finds its ready successors without
a query.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import DagStatus, FileType, InstanceStatus, TaskType
from opcenter.domain.states import derive_dag_status
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag, Instance, InstanceEdge

__all__ = [
    "DagView",
    "InstanceView",
    "Seed",
    "accept_seeds",
    "drop_run_seeds",
    "drop_seeds",
    "is_instant",
    "kept_seeds",
    "load_edges",
    "offer_seeds",
    "take_seed",
    "wants_seeds",
]

S = InstanceStatus
_STATUS = {s.value: s for s in InstanceStatus}
_TASK_TYPE = {t.value: t for t in TaskType}
# Built once and run through the driver (store/prepared.py): every Dag the engine starts is
# loaded with these. On the Core tables: a statement of mapped attributes compiles through the
# ORM, which configures every mapper first.
_D = Dag.__table__
_I = Instance.__table__
_E = InstanceEdge.__table__
_DAG = Prepared(
    sa.select(_D.c.id, _D.c.run_id, _D.c.seq, _D.c.status, _D.c.revision, _D.c.start_time).where(
        _D.c.id == sa.bindparam("dag_id")
    )
)
_INSTANCES = Prepared(
    sa.select(
        _I.c.id,
        _I.c.status,
        _I.c.task_type,
        _I.c.file_type,
        _I.c.suspended,
        _I.c.attempt,
        _I.c.retry_at,
        _I.c.priority,
        _I.c.stopped_by,
    ).where(_I.c.dag_id == sa.bindparam("dag_id"))
)
_EDGES = Prepared(
    sa.select(_E.c.parent_id, _E.c.child_id).where(_E.c.dag_id == sa.bindparam("dag_id"))
)


@dataclass(slots=True)
class InstanceView:
    id: int
    dag_id: int
    status: InstanceStatus
    task_type: TaskType
    file_type: int
    suspended: bool
    attempt: int
    retry_at: int | None
    priority: int
    # Finishes inside the engine, without a process: dry runs and virtual nodes (`is_instant`).
    # A field, not a property: asked of every ready instance and every child a cascade meets.
    instant: bool
    waiting: int = 0  # parents not yet SUCCESS
    stopped_by: str | None = None  # an operator stopped the running attempt: kill it


def is_instant(task_type: TaskType, file_type: int) -> bool:
    """Whether an instance finishes inside the engine, without a process."""
    return task_type is not TaskType.MANUAL or file_type == FileType.VIRTUAL


@dataclass
class DagView:
    id: int
    run_id: int
    seq: int
    status: DagStatus
    revision: int
    instances: dict[int, InstanceView] = field(default_factory=dict)
    parents: dict[int, list[int]] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)
    ready: set[int] = field(default_factory=set)  # NOT_RUN, upstream all SUCCESS, not frozen
    # Instances per status, kept by `_fill_rows` and `set_status`: most steps settle the Dag's
    # status from these two numbers instead of a pass over every instance.
    counts: Counter[InstanceStatus] = field(default_factory=Counter)
    start_time: int | None = None  # the Dag's StartTime (ms), for its run duration metric

    @classmethod
    def load(cls, session: Session, dag_id: int, seed: Seed | None = None) -> DagView | None:
        """Read the Dag and its instances and edges; None when the Dag does not exist. With
        the `seed` its creator left (`take_seed`), a Dag still CREATED at revision 0 (no
        operator has changed it since it was created) takes its instances and edges from the
        seed instead of the store."""
        session.flush()  # an operation's pending ORM changes first (the reads below bypass it)
        conn = session.connection()
        rows = _DAG.rows(conn, {"dag_id": dag_id})
        if not rows:
            return None
        id_, run_id, seq, status, revision, start_time = rows[0]
        view = cls(id_, run_id, seq, DagStatus(status), revision)
        view.start_time = start_time
        if seed is not None and status == DagStatus.CREATED.value and revision == 0:
            view._fill_rows(seed.instances, seed.edges)
        else:
            view._fill(conn)
        return view

    @classmethod
    def load_started(
        cls,
        session: Session,
        dag_id: int,
        run_id: int,
        seq: int,
        revision: int,
        seed: Seed | None = None,
    ) -> DagView:
        """The view of a Dag this transaction has just started (RUNNING, from CREATED), whose
        row the caller read with the start (`dags.start_next`): only its instances and edges
        are read, one query fewer for every date of a range; none with the `seed` its creator
        left when the revision is still 0 (see `load`)."""
        session.flush()
        view = cls(dag_id, run_id, seq, DagStatus.RUNNING, revision)
        if seed is not None and revision == 0:
            view._fill_rows(seed.instances, seed.edges)
        else:
            view._fill(session.connection())
        return view

    def _fill(self, conn: sa.Connection) -> None:
        """Read the instances and edges into this (new) view."""
        dag_id = self.id
        self._fill_rows(
            _INSTANCES.rows(conn, {"dag_id": dag_id}), _EDGES.rows(conn, {"dag_id": dag_id})
        )

    def _fill_rows(
        self, instance_rows: Iterable[Sequence[Any]], edge_rows: Iterable[Sequence[int]]
    ) -> None:
        """Fill this (new) view from rows of `_INSTANCES` and `_EDGES`."""
        dag_id = self.id
        instances, parents, children = self.instances, self.parents, self.children
        # Plain tuples and dict look-ups for the enums: a Dag of thousands of instances is
        # loaded when it starts, and per-row attribute access and Enum() calls dominated.
        manual, virtual = TaskType.MANUAL, FileType.VIRTUAL  # `is_instant`, written out
        for iid, status, task, ftype, suspended, attempt, retry, prio, stopped in instance_rows:
            task_type = _TASK_TYPE[task]
            instances[iid] = InstanceView(
                iid,
                dag_id,
                _STATUS[status],
                task_type,
                ftype,
                bool(suspended),
                attempt,
                retry,
                prio,
                task_type is not manual or ftype == virtual,
                0,
                stopped,
            )
            parents[iid] = []
            children[iid] = []
        success = S.SUCCESS
        # In-degrees counted in the pass over the edges, ready ones in one set comprehension.
        for parent, child in edge_rows:
            parents[child].append(parent)
            children[parent].append(child)
            if instances[parent].status is not success:
                instances[child].waiting += 1
        self.counts = Counter(i.status for i in instances.values())
        not_run = S.NOT_RUN
        self.ready = {
            i.id
            for i in instances.values()
            if i.status is not_run and not i.waiting and not i.suspended
        }

    def set_status(self, instance_id: int, status: InstanceStatus) -> None:
        """Record a confirmed transition; a new SUCCESS releases the children."""
        # The ready test written out twice: a cascade of virtual nodes calls this per instance.
        inst = self.instances[instance_id]
        before = inst.status
        inst.status = status
        counts, ready = self.counts, self.ready
        counts[before] -= 1
        counts[status] += 1
        not_run = S.NOT_RUN
        if status is not_run and not inst.waiting and not inst.suspended:
            ready.add(instance_id)
        else:
            ready.discard(instance_id)
        success = S.SUCCESS
        if (status is success) == (before is success):
            return
        delta = -1 if status is success else 1
        instances = self.instances
        for child_id in self.children[instance_id]:
            child = instances[child_id]
            waiting = child.waiting = child.waiting + delta
            if child.status is not_run and not waiting and not child.suspended:
                ready.add(child_id)
            else:
                ready.discard(child_id)

    def derive_status(self) -> DagStatus:
        """`domain.states.derive_dag_status`, answered from the counts when they suffice."""
        if self.status is DagStatus.CREATED:
            return self.status
        if self.counts[S.SUCCESS] == len(self.instances):
            return DagStatus.SUCCESS
        if not self.counts[S.FAILURE]:
            return DagStatus.RUNNING
        facts = {i.id: (i.status, i.suspended) for i in self.instances.values()}
        return derive_dag_status(self.status, facts, self.parents)

    def of_status(self, status: InstanceStatus) -> Iterable[InstanceView]:
        return (i for i in self.instances.values() if i.status is status)


def load_edges(session: Session, dag_id: int) -> list[tuple[int, int]]:
    session.flush()
    return [(p, c) for p, c in _EDGES.rows(session.connection(), {"dag_id": dag_id})]


# -- seeds: a new Dag's rows, handed by its creator to the engine of the same process ---------


@dataclass(frozen=True, slots=True)
class Seed:
    """The instances (rows as `_INSTANCES` reads them) and edges (parent, child) of a Dag as
    its creator wrote them, committed; `run_id`: its run's."""

    instances: list[tuple[Any, ...]]
    edges: list[tuple[int, int]]
    run_id: int = 0


# Per store (its `Database` object), while an engine of this process drives it: dag id → Seed.
# Only what the creator committed goes in (`offer_seeds` after the commit); the engine takes a
# seed only for a Dag it starts from CREATED at revision 0 (every operator change bumps the
# revision, and the engine itself never touches a CREATED Dag's instances), so a seed is what
# the store holds. Bounded: seeds no engine took are dropped oldest first.
#
# The creator offers after its commit, so the engine may see the new Dag in the store (its
# change poll) and load it before the offer arrives: such a seed would never be taken, and
# kept until evicted (issue 16: a few percent of the runs under load, up to SEED_INSTANCES_MAX
# instances' rows held for nothing). So `take_seed` remembers the Dags it found no seed for
# (the last SEED_MISSES_MAX of them: the offer comes right after the commit, in the creator's
# thread) and `offer_seeds` refuses the seed of one of those. And when a Dag fails, the later
# dates of its run do not start (until an operator reruns it): their seeds go (`drop_run_seeds`).
SEED_INSTANCES_MAX = 20_000
SEED_MISSES_MAX = 1_024


@dataclass
class _Kept:
    seeds: dict[int, Seed] = field(default_factory=dict)  # oldest first
    instances: int = 0  # in `seeds`
    missed: dict[int, None] = field(default_factory=dict)  # loaded without a seed, oldest first


_seeds: weakref.WeakKeyDictionary[object, _Kept] = weakref.WeakKeyDictionary()
_seed_lock = threading.Lock()


def accept_seeds(db: object) -> None:
    """An engine of this process now drives `db`: creators may hand it their new Dags."""
    with _seed_lock:
        _seeds.setdefault(db, _Kept())


def drop_seeds(db: object) -> None:
    """The engine stopped: forget the seeds of `db` and accept no more."""
    with _seed_lock:
        _seeds.pop(db, None)


def wants_seeds(db: object) -> bool:
    """Whether an engine of this process drives `db` (else building seeds is wasted)."""
    return db in _seeds


def kept_seeds(db: object) -> int:
    """How many seeds of `db` wait to be taken (what a leak of them would make grow)."""
    kept = _seeds.get(db)
    return 0 if kept is None else len(kept.seeds)


def offer_seeds(db: object, seeds: dict[int, Seed]) -> None:
    """Hand the engine of `db` the rows of Dags just created and committed; the seed of a Dag
    the engine has loaded from the store already is not kept."""
    with _seed_lock:
        kept = _seeds.get(db)
        if kept is None:
            return
        held, missed = kept.seeds, kept.missed
        for dag_id, seed in seeds.items():
            if dag_id in missed:  # the engine was quicker than the offer: it read the store
                del missed[dag_id]
                continue
            old = held.pop(dag_id, None)
            if old is not None:
                kept.instances -= len(old.instances)
            held[dag_id] = seed
            kept.instances += len(seed.instances)
        while kept.instances > SEED_INSTANCES_MAX and held:
            kept.instances -= len(held.pop(next(iter(held))).instances)


def drop_run_seeds(db: object, run_id: int) -> None:
    """A Dag of the run failed: its later dates will not start, forget their seeds."""
    kept = _seeds.get(db)
    if kept is None or not kept.seeds:
        return
    with _seed_lock:
        held = kept.seeds
        for dag_id in [d for d, seed in held.items() if seed.run_id == run_id]:
            kept.instances -= len(held.pop(dag_id).instances)


def take_seed(db: object, dag_id: int) -> Seed | None:
    """The seed of a Dag about to be loaded, removed from the store of seeds; None if none (and
    a seed offered for it later is refused: the engine has read the Dag from the store)."""
    kept = _seeds.get(db)
    if kept is None:
        return None
    with _seed_lock:
        seed = kept.seeds.pop(dag_id, None)
        if seed is not None:
            kept.instances -= len(seed.instances)
            return seed
        missed = kept.missed
        missed[dag_id] = None
        if len(missed) > SEED_MISSES_MAX:
            del missed[next(iter(missed))]
        return None
