"""The run preview (service/preview.py): every node's TaskType and resolved parameters for each
business date equal what RunManualDagNodes then stores, and a bad call fails the same way, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from opcenter.domain.model import TaskType
from opcenter.engine.dispatch import decode_resolved
from opcenter.errors import InvalidParameter, NotFound
from opcenter.service.context import ServiceContext
from opcenter.service.preview import preview_run
from opcenter.service.runs import find_dags, start_manual_run
from opcenter.store.tables import Dag, Instance
from tests.engine.builders import Flow, biz, make_flow, node, run_flow


@pytest.fixture
def flow(ctx: ServiceContext) -> Flow:
    return make_flow(
        ctx,
        [
            node("start"),
            node("a", "shell", "echo $1", params="$bizdate ${yyyymmdd-1}", after=["start"]),
            node(
                "b",
                "python",
                "print(1)",
                params="dt=$bizdate hour=$[yyyymmddhh24miss-1/24] me=$nodeid r=${region}",
                after=["start"],
            ),
            node("end", after=["a", "b"]),
        ],
        parameters="region=eu",
    )


def call(flow: Flow, **kw: object) -> dict[str, object]:
    return {"project_env": "PROD", "project_name": "ws", "flow_name": "flow", **kw}


def stored(ctx: ServiceContext, dag_ids: tuple[int, ...]) -> dict[tuple[int, int], Instance]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(Instance).where(Instance.dag_id.in_(dag_ids))).all()
        session.expunge_all()
    return {(r.dag_id, r.node_id): r for r in rows}


def test_preview_equals_what_the_run_stores_for_every_date_and_node(
    ctx: ServiceContext, flow: Flow
) -> None:
    # Given a 3-day range with workflow and node parameters, one node excluded, one not chosen
    kw = call(
        flow,
        start_biz_date=biz(days_ago=2),
        end_biz_date=biz(),
        dag_parameters=json.dumps({"region": "us"}),
        node_parameters=json.dumps({str(flow.id("a")): "$bizdate ${yyyymmdd-7}"}),
        include_node_ids=flow.ids("start", "a", "b"),
        exclude_node_ids=flow.ids("b"),
    )
    # When the preview is asked, then the run made
    preview = preview_run(ctx, **kw)
    created = run_flow(flow, **{k: v for k, v in kw.items() if k not in call(flow)})
    rows = stored(ctx, created.dag_ids)
    # Then every date and node of the preview is what the run stored
    assert [d.biz_date for d in preview.dates] == list(created.biz_dates)
    assert len(preview.dates) == 3
    for date, dag_id in zip(preview.dates, created.dag_ids, strict=True):
        assert len(date.nodes) == 4
        for shown in date.nodes:
            row = rows[(dag_id, shown.node_id)]
            resolved = decode_resolved(row.resolved_params)
            assert shown.task_type.value == row.task_type
            assert shown.param_values == row.param_values
            assert shown.named == resolved.named
            assert list(shown.positional) == resolved.positional
    first = {n.name: n for n in preview.dates[0].nodes}
    assert first["b"].named["r"] == "us" and first["b"].named["me"] == str(flow.id("b"))
    assert [first[n].task_type for n in ("start", "a", "b", "end")] == [
        TaskType.MANUAL,
        TaskType.MANUAL,
        TaskType.SKIP,
        TaskType.SKIP_UNCHOOSE,
    ]


def test_preview_leaves_the_ids_a_run_allocates_as_written(ctx: ServiceContext, flow: Flow) -> None:
    kw = call(flow, biz_date=biz(), node_parameters=json.dumps({str(flow.id("a")): "$taskid"}))
    shown = {n.name: n for n in preview_run(ctx, **kw).dates[0].nodes}
    assert shown["a"].positional == ("$taskid",)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"flow_name": "nope"}, NotFound, "The workflow FlowName='nope' does not exist"),
        ({"biz_date": "2999-01-01 00:00:00"}, InvalidParameter, "is not in the past"),
        ({"exclude_node_ids": "999999"}, InvalidParameter, "ExcludeNodeIds: node id 999999"),
        ({"dag_parameters": '{"d": "${yyyymmdd-x}"}'}, InvalidParameter, "${yyyymmdd-x}"),
    ],
)
def test_preview_fails_as_the_run_does_and_writes_nothing_given_a_bad_call(
    ctx: ServiceContext, flow: Flow, change: dict, error: type, message: str
) -> None:
    kw = call(flow, **{"biz_date": biz(), **change})
    with pytest.raises(error) as previewed:
        preview_run(ctx, **kw)
    with pytest.raises(error) as ran:
        start_manual_run(ctx, **kw)
    assert message in previewed.value.message
    assert previewed.value.message == ran.value.message
    with ctx.db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Dag)) == 0


def test_preview_refuses_unsafe_values_of_a_caller_who_may_not_edit_code(
    ctx: ServiceContext, flow: Flow
) -> None:
    kw = call(flow, biz_date=biz(), dag_parameters=json.dumps({"region": "a;b"}))
    assert preview_run(ctx, may_edit_code=True, **kw).dates
    with pytest.raises(InvalidParameter) as err:
        preview_run(ctx, may_edit_code=False, **kw)
    assert 'DagParameters parameter "region"' in err.value.message


def test_find_dags_filters_by_operator(ctx: ServiceContext, flow: Flow) -> None:
    from opcenter.service.context import Caller

    mine = run_flow(flow, caller=Caller(name="alice"))
    run_flow(flow, caller=Caller(name="bob"))
    found = find_dags(ctx, project_env="PROD", project_identifier="ws", create_user="alice")
    assert [d.dag_id for d in found.items] == [mine.dag_id]
    assert find_dags(ctx, project_env="PROD", project_identifier="ws").total_count == 2


def test_preview_resolves_only_the_first_dates_asked_but_checks_the_whole_range(
    ctx: ServiceContext, flow: Flow
) -> None:
    kw = call(flow, start_biz_date=biz(days_ago=9), end_biz_date=biz())
    shown = preview_run(ctx, max_dates=3, **kw)
    assert (len(shown.dates), shown.total_dates) == (3, 10)
    with pytest.raises(InvalidParameter):
        preview_run(ctx, max_dates=3, **{**kw, "end_biz_date": "2999-01-01 00:00:00"})
