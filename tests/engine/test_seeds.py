"""A new run's creator hands this process's engine the rows of its Dags (engine/view.py
`Seed`), so starting a Dag reads no instances or edges: the seed must be exactly what the store
holds, and is used only while no operator has changed the Dag (its revision is still 0)."""

from __future__ import annotations

from opcenter.domain.model import DagStatus
from opcenter.engine import view as views
from opcenter.engine.scheduler import Engine
from opcenter.engine.view import DagView
from opcenter.service import instances as ops
from opcenter.service.context import ServiceContext
from tests.engine.builders import biz, by_name, make_flow, node, run_flow, wait_dag

PROD = "PROD"


def _picture(view: DagView) -> tuple[object, ...]:
    fields = "id status task_type file_type suspended attempt retry_at priority stopped_by waiting"
    instances = sorted(
        tuple(getattr(i, name) for name in fields.split()) for i in view.instances.values()
    )
    edges = sorted((p, c) for c, ps in view.parents.items() for p in ps)
    return instances, edges, sorted(view.ready), dict(view.counts)


def _flow(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    return make_flow(
        ctx,
        [
            node("a"),
            node("b", "shell", "true", after=["a"]),
            node("c", after=["a"]),
            node("d", "shell", "true", after=["b", "c"]),
        ],
    )


def test_a_new_runs_seeds_equal_what_the_store_holds(ctx: ServiceContext) -> None:
    flow = _flow(ctx)
    views.accept_seeds(ctx.db)
    try:
        created = run_flow(flow, start_biz_date=biz(days_ago=1), end_biz_date=biz())
        assert len(created.dag_ids) == 2
        for dag_id in created.dag_ids:
            seed = views.take_seed(ctx.db, dag_id)
            assert seed is not None
            with ctx.db.transaction() as session:
                stored = DagView.load(session, dag_id)
                seeded = DagView.load(session, dag_id, seed)
            assert stored is not None and seeded is not None
            assert seeded.status is DagStatus.CREATED
            assert _picture(seeded) == _picture(stored)
            assert views.take_seed(ctx.db, dag_id) is None  # taken once
    finally:
        views.drop_seeds(ctx.db)


def test_no_seeds_are_kept_without_an_engine_of_this_process(ctx: ServiceContext) -> None:
    created = run_flow(_flow(ctx))
    views.accept_seeds(ctx.db)
    try:
        assert views.take_seed(ctx.db, created.dag_id) is None
    finally:
        views.drop_seeds(ctx.db)


def test_a_seed_is_ignored_once_an_operator_changed_the_dag(ctx: ServiceContext) -> None:
    flow = _flow(ctx)
    views.accept_seeds(ctx.db)
    try:
        created = run_flow(flow)
        seed = views.take_seed(ctx.db, created.dag_id)
        assert seed is not None
        rows = by_name(ctx, created.dag_id)
        ops.suspend_instance(ctx, instance_id=rows["c"].instance_id, project_env=PROD)
        with ctx.db.transaction() as session:
            view = DagView.load(session, created.dag_id, seed)
            assert view is not None and view.revision > 0
            assert view.instances[rows["c"].instance_id].suspended
            started = DagView.load_started(
                session, created.dag_id, view.run_id, view.seq, view.revision, seed
            )
            assert started.instances[rows["c"].instance_id].suspended
    finally:
        views.drop_seeds(ctx.db)


def test_seeds_are_bounded(ctx: ServiceContext, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(views, "SEED_INSTANCES_MAX", 5)
    views.accept_seeds(ctx.db)
    try:
        views.offer_seeds(ctx.db, {1: views.Seed([(1,)] * 4, []), 2: views.Seed([(2,)] * 4, [])})
        assert views.take_seed(ctx.db, 1) is None  # the oldest went
        assert views.take_seed(ctx.db, 2) is not None
    finally:
        views.drop_seeds(ctx.db)


def test_a_seed_offered_after_the_dag_was_loaded_is_not_kept(ctx: ServiceContext) -> None:
    # Issue 16: the engine may load a new Dag from the store between its creator's commit and
    # the creator's offer; that seed would wait, never taken, until evicted.
    views.accept_seeds(ctx.db)
    try:
        seed = views.Seed([(7, "NOT_RUN", "MANUAL", 99, False, 0, None, 1, None)], [])
        assert views.take_seed(ctx.db, 7) is None  # the engine read Dag 7 from the store
        views.offer_seeds(ctx.db, {7: seed, 8: seed})  # then its creator offers it
        assert views.kept_seeds(ctx.db) == 1
        assert views.take_seed(ctx.db, 7) is None
        assert views.take_seed(ctx.db, 8) is seed
        assert views.kept_seeds(ctx.db) == 0
    finally:
        views.drop_seeds(ctx.db)


def test_no_seed_is_left_when_the_engine_starts_the_dag_before_the_offer(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a run created in a request transaction whose first after-commit action (before the
    # creator's offer) lets the engine start and finish the new Dag from the store
    flow = _flow(ctx)
    created: list[int] = []

    def engine_first() -> None:
        ctx.notify()
        assert wait_dag(ctx, created[0]) is DagStatus.SUCCESS

    with ctx.db.request_transaction():
        ctx.db.after_commit(engine_first)
        created.append(run_flow(flow).dag_id)
    # Then the seed offered afterwards is not kept: nothing will take it
    assert views.kept_seeds(ctx.db) == 0
    # And a run created the ordinary way is still seeded and started from its seed
    later = run_flow(flow)
    assert wait_dag(ctx, later.dag_id) is DagStatus.SUCCESS
    assert views.kept_seeds(ctx.db) == 0


def test_the_seeds_of_a_failed_runs_later_dates_are_dropped(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a run of three dates whose first date fails: the later two do not start
    flow = make_flow(ctx, [node("bad", "shell", "exit 1"), node("after", after=["bad"])])
    created = run_flow(flow, start_biz_date=biz(days_ago=2), end_biz_date=biz())
    assert len(created.dag_ids) == 3
    assert wait_dag(ctx, created.dag_ids[0]) is DagStatus.FAILURE
    # Then their seeds are not kept for them
    assert views.kept_seeds(ctx.db) == 0
