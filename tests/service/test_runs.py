"""RunManualDagNodes / CreateManualDag through the service layer: what a run creates, and every
validation rule (docs/running.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus, TaskType
from opcenter.errors import InvalidParameter, MissingParameter, NotFound, OpcenterError
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.instances import get_manual_dag_instances
from opcenter.service.runs import (
    create_manual_dag,
    get_dag,
    list_dags,
    run_manual_dag_nodes,
)
from opcenter.store.tables import Dag, Instance, InstanceEdge
from tests.engine.builders import Flow, biz, by_name, make_flow, node, run_flow


def make_diamond(ctx: ServiceContext) -> Flow:
    return make_flow(
        ctx,
        [
            node("start"),
            node(
                "left",
                "shell",
                "echo ${dt} ${region}",
                params="dt=$bizdate region=cn",
                after=["start"],
            ),
            node("right", "python", "print(1)", after=["start"]),
            node("end", after=["left", "right"]),
        ],
        parameters="region=eu",
    )


@pytest.fixture
def diamond(ctx: ServiceContext) -> Flow:
    return make_diamond(ctx)


@pytest.fixture
def sqlite_diamond(sqlite_ctx: ServiceContext) -> Flow:
    return make_diamond(sqlite_ctx)


def count(ctx: ServiceContext, table: type) -> int:
    with ctx.db.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_run_returns_the_first_dag_id_given_a_biz_date(ctx: ServiceContext, diamond: Flow) -> None:
    dag_id = run_manual_dag_nodes(
        ctx, project_env="PROD", project_name="ws", flow_name="flow", biz_date=biz()
    )
    dag = get_dag(ctx, dag_id=dag_id, project_env="PROD")
    assert (dag.status, dag.type, dag.name, dag.seq) == (DagStatus.CREATED, "MANUAL", "flow", 0)
    assert dag.gmtdate - dag.bizdate == 86_400_000
    rows = by_name(ctx, dag_id)
    assert sorted(rows) == ["end", "left", "right", "start"]
    assert {i.status for i in rows.values()} == {InstanceStatus.NOT_RUN}
    assert {i.task_type for i in rows.values()} == {TaskType.MANUAL}
    assert all(i.cyc_time - i.bizdate == 86_400_000 for i in rows.values())


def test_run_creates_one_dag_per_date_in_order_given_a_range(
    ctx: ServiceContext, diamond: Flow
) -> None:
    created = run_flow(diamond, start_biz_date=biz(days_ago=2), end_biz_date=biz())
    dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
    assert [d.dag_id for d in dags] == list(created.dag_ids)
    assert created.dag_id == dags[0].dag_id
    assert [d.biz_date for d in dags] == list(created.biz_dates)
    assert [d.biz_date.toordinal() for d in dags] == [
        dags[0].biz_date.toordinal() + i for i in range(3)
    ]
    assert {d.op_seq for d in dags} == {created.op_seq}
    assert count(ctx, Instance) == 12


def test_run_writes_the_edges_of_the_workflow(ctx: ServiceContext, diamond: Flow) -> None:
    created = run_flow(diamond)
    rows = by_name(ctx, created.dag_id)
    with ctx.db.transaction() as session:
        edges = set(session.execute(sa.select(InstanceEdge.parent_id, InstanceEdge.child_id)).all())
    ids = {name: i.instance_id for name, i in rows.items()}
    assert edges == {
        (ids["start"], ids["left"]),
        (ids["start"], ids["right"]),
        (ids["left"], ids["end"]),
        (ids["right"], ids["end"]),
    }


def test_run_stores_param_values_with_workflow_over_node_over_deployed(
    ctx: ServiceContext, diamond: Flow
) -> None:
    created = run_flow(
        diamond,
        node_parameters=json.dumps({str(diamond.id("left")): "dt=${yyyymmdd-1} extra=$taskid"}),
        dag_parameters=json.dumps({"region": "us"}),
    )
    left = by_name(ctx, created.dag_id)["left"]
    day = created.biz_dates[0]
    before = day.fromordinal(day.toordinal() - 1).strftime("%Y%m%d")
    assert left.param_values == f"dt={before} region=us extra={left.instance_id}"
    right = by_name(ctx, created.dag_id)["right"]
    assert right.param_values == "region=us"


def test_run_marks_dry_runs_given_include_and_exclude(ctx: ServiceContext, diamond: Flow) -> None:
    created = run_flow(
        diamond,
        include_node_ids=diamond.ids("start", "left", "end"),
        exclude_node_ids=diamond.ids("end"),
    )
    types = {n: i.task_type for n, i in by_name(ctx, created.dag_id).items()}
    assert types == {
        "start": TaskType.MANUAL,
        "left": TaskType.MANUAL,
        "right": TaskType.SKIP_UNCHOOSE,
        "end": TaskType.SKIP,
    }


def test_run_records_the_caller_as_create_user(ctx: ServiceContext, diamond: Flow) -> None:
    created = run_flow(diamond, caller=Caller(name="alice"))
    assert get_dag(ctx, dag_id=created.dag_id, project_env="PROD").create_user == "alice"
    assert {i.create_user for i in by_name(ctx, created.dag_id).values()} == {"alice"}


def test_create_manual_dag_creates_one_dag(ctx: ServiceContext, diamond: Flow) -> None:
    dag_id = create_manual_dag(
        ctx, project_env="PROD", project_name="ws", flow_name="flow", biz_date=biz()
    )
    assert len(get_manual_dag_instances(ctx, dag_id=str(dag_id), project_env="PROD")) == 4


def test_create_manual_dag_fails_given_no_biz_date(ctx: ServiceContext, diamond: Flow) -> None:
    with pytest.raises(MissingParameter) as err:
        create_manual_dag(ctx, project_env="PROD", project_name="ws", flow_name="flow", biz_date="")
    assert err.value.parameter == "BizDate"


BAD_CALLS = [
    ({"project_env": ""}, MissingParameter, 'The input parameter "ProjectEnv"'),
    ({"flow_name": ""}, MissingParameter, 'The input parameter "FlowName"'),
    ({"project_name": None}, MissingParameter, 'The input parameter "ProjectName"'),
    ({"biz_date": None}, MissingParameter, 'The input parameter "BizDate"'),
    ({"project_env": "TEST"}, InvalidParameter, "ProjectEnv='TEST' is not one of DEV, PROD."),
    ({"flow_name": "nope"}, NotFound, "The workflow FlowName='nope' does not exist in 'ws'."),
    ({"project_name": "other"}, NotFound, "The workspace ProjectName='other' does not exist."),
    ({"biz_date": "2020-01-01"}, InvalidParameter, "BizDate='2020-01-01' is not a date"),
    ({"biz_date": "2999-01-01 00:00:00"}, InvalidParameter, "is not in the past"),
    ({"node_parameters": "{bad"}, InvalidParameter, "NodeParameters='{bad' is not valid JSON"),
    ({"dag_parameters": "[]"}, InvalidParameter, "DagParameters='[]' must be a JSON object."),
    ({"include_node_ids": "999999"}, InvalidParameter, "IncludeNodeIds: node id 999999 is not"),
    ({"exclude_node_ids": "999999"}, InvalidParameter, "ExcludeNodeIds: node id 999999 is not"),
    ({"include_node_ids": "a,b"}, InvalidParameter, "IncludeNodeIds='a,b': 'a' is not a node id"),
    ({"node_parameters": '{"999999": "a=1"}'}, InvalidParameter, "NodeParameters: node id"),
    ({"dag_parameters": '{"d": "${yyyymmdd-x}"}'}, InvalidParameter, "${yyyymmdd-x}"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD_CALLS)
def test_run_fails_and_writes_nothing_given_a_bad_call(
    sqlite_ctx: ServiceContext, sqlite_diamond: Flow, change: dict, error: type, message: str
) -> None:
    ctx = sqlite_ctx
    call = {
        "project_env": "PROD",
        "project_name": "ws",
        "flow_name": "flow",
        "biz_date": biz(),
        **change,
    }
    with pytest.raises(error) as err:
        run_manual_dag_nodes(ctx, **call)
    assert message in err.value.message
    assert count(ctx, Dag) == 0 and count(ctx, Instance) == 0


def test_run_fails_naming_the_piece_given_a_bad_node_parameter(
    ctx: ServiceContext, diamond: Flow
) -> None:
    bad = json.dumps({str(diamond.id("left")): "ok=1 dt=${yyyymmdd+-}"})
    with pytest.raises(InvalidParameter) as err:
        run_flow(diamond, node_parameters=bad)
    assert '"dt=${yyyymmdd+-}"' in err.value.message
    assert count(ctx, Dag) == 0


def test_run_fails_given_a_flow_not_deployed_in_prod(ctx: ServiceContext) -> None:
    flow = make_flow(ctx, [node("a"), node("b", after=["a"])], deploy=False)
    with pytest.raises(InvalidParameter) as err:
        run_flow(flow)
    assert err.value.message == (
        "FlowName='flow' is not deployed in PROD: file(s) a, b have no version there "
        "(deploy them first)."
    )
    assert run_flow(flow, env="DEV").dag_id > 0  # submitted: DEV runs it


def test_run_fails_given_dev_on_a_basic_workspace(ctx: ServiceContext) -> None:
    flow = make_flow(ctx, [node("a")], mode="BASIC")
    with pytest.raises(InvalidParameter, match="basic mode, which has PROD only"):
        run_flow(flow, env="DEV")
    assert run_flow(flow).dag_id > 0


def test_run_fails_given_project_id_and_name_of_different_workspaces(
    ctx: ServiceContext, diamond: Flow
) -> None:
    other = make_flow(ctx, [node("x")], workspace="other", name="flow")
    with pytest.raises(InvalidParameter, match="name different workspaces"):
        run_flow(diamond, project_id=other.project_id)


def test_get_dag_fails_given_an_unknown_id_or_another_env(
    ctx: ServiceContext, diamond: Flow
) -> None:
    created = run_flow(diamond)
    with pytest.raises(NotFound) as err:
        get_dag(ctx, dag_id=created.dag_id + 100, project_env="PROD")
    assert err.value.code == "Invalid.Dag.NotExists"
    with pytest.raises(NotFound):
        get_dag(ctx, dag_id=created.dag_id, project_env="DEV")


def test_manual_dag_instances_fail_given_another_workspace_name(
    ctx: ServiceContext, diamond: Flow
) -> None:
    created = run_flow(diamond)
    with pytest.raises(NotFound):
        get_manual_dag_instances(
            ctx, dag_id=created.dag_id, project_env="PROD", project_name="other"
        )
    with pytest.raises(OpcenterError, match="DagId='x' is not an integer"):
        get_manual_dag_instances(ctx, dag_id="x", project_env="PROD")


def test_ids_are_never_reused_across_runs(ctx: ServiceContext, diamond: Flow) -> None:
    first = run_flow(diamond)
    second = run_flow(diamond)
    assert second.dag_id == first.dag_id + 1
    a = {i.instance_id for i in by_name(ctx, first.dag_id).values()}
    b = {i.instance_id for i in by_name(ctx, second.dag_id).values()}
    assert min(b) > max(a)


def test_a_year_of_a_20_node_flow_creates_365_dags_of_20_instances(
    sqlite_ctx: ServiceContext,
) -> None:
    # How fast is measured in bench/bench_engine.py (bench_create_365), not here
    nodes = [node("n0")] + [
        node(f"n{i}", params="d=$bizdate", after=[f"n{i - 1}"]) for i in range(1, 20)
    ]
    flow = make_flow(sqlite_ctx, nodes)
    created = run_flow(flow, start_biz_date=biz(days_ago=364), end_biz_date=biz())
    assert len(created.dag_ids) == len(set(created.dag_ids)) == 365
    assert count(sqlite_ctx, Instance) == 7300


# --- who may pass what: the safe set of run parameters (docs/parameters.md) -------------------

INJECTION = 'x";echo${IFS}INJECTED;id;echo"'


def test_a_caller_who_may_not_edit_code_is_refused_an_unsafe_value_and_nothing_is_written(
    ctx: ServiceContext, diamond: Flow
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        run_flow(diamond, dag_parameters=json.dumps({"region": INJECTION}), may_edit_code=False)
    assert caught.value.message.startswith(
        f'DagParameters parameter "region": the value {INJECTION!r} is not allowed.'
    )
    left = str(diamond.id("left"))
    with pytest.raises(InvalidParameter) as caught:
        run_flow(diamond, node_parameters=json.dumps({left: "dt=a|b"}), may_edit_code=False)
    assert caught.value.message.startswith(
        f'NodeParameters["{left}"] parameter "dt": the value \'a|b\' is not allowed.'
    )
    assert (count(ctx, Dag), count(ctx, Instance)) == (0, 0)


def test_a_caller_who_may_not_edit_code_may_pass_safe_values_and_expressions(
    ctx: ServiceContext, diamond: Flow
) -> None:
    created = run_flow(
        diamond,
        dag_parameters=json.dumps({"region": "eu-west_1.a:b/c@d+e,f"}),
        node_parameters=json.dumps({str(diamond.id("left")): "dt=$[yyyymmdd-1] n=${yyyymmdd}"}),
        may_edit_code=False,
    )
    left = by_name(ctx, created.dag_id)["left"]
    assert "region=eu-west_1.a:b/c@d+e,f" in left.param_values.split()


def test_a_caller_who_may_edit_code_may_pass_any_value(ctx: ServiceContext, diamond: Flow) -> None:
    created = run_flow(diamond, dag_parameters=json.dumps({"region": INJECTION}))
    left = by_name(ctx, created.dag_id)["left"]
    assert f"region={INJECTION}" in left.param_values


def test_find_dags_filters_by_workspace_workflow_dates_and_status_and_pages(
    ctx: ServiceContext, diamond: Flow
) -> None:
    import datetime as dt

    from opcenter.service.runs import find_dags

    first = run_flow(
        diamond, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-03 00:00:00"
    )
    second = run_flow(diamond, biz_date="2020-01-02 00:00:00")
    other = make_flow(ctx, [node("x")], workspace="ws2")
    run_flow(other, biz_date="2020-01-02 00:00:00")
    with ctx.db.transaction() as session:  # as if the first Dag had failed
        session.execute(sa.update(Dag).where(Dag.id == first.dag_ids[0]).values(status="FAILURE"))

    def found(**kw: object) -> list[tuple[int, dt.date]]:
        page = find_dags(ctx, project_env="PROD", **{"project_identifier": "ws", **kw})  # type: ignore[arg-type]
        return [(d.op_seq, d.biz_date) for d in page.items]

    day = dt.date.fromisoformat
    newest_run_first = [
        (second.op_seq, day("2020-01-02")),
        (first.op_seq, day("2020-01-01")),
        (first.op_seq, day("2020-01-02")),
        (first.op_seq, day("2020-01-03")),
    ]
    assert found() == newest_run_first
    assert found(biz_date=day("2020-01-02")) == [
        (second.op_seq, day("2020-01-02")),
        (first.op_seq, day("2020-01-02")),
    ]
    assert found(begin_biz_date=day("2020-01-03")) == [(first.op_seq, day("2020-01-03"))]
    assert found(end_biz_date=day("2020-01-01")) == [(first.op_seq, day("2020-01-01"))]
    assert found(status="FAILURE") == [(first.op_seq, day("2020-01-01"))]
    assert found(workflow="nope") == []
    assert len(found(workflow="flow")) == 4
    assert found(op_seq=second.op_seq) == [(second.op_seq, day("2020-01-02"))]
    page = find_dags(ctx, project_env="PROD", project_identifier="ws", page_number=2, page_size=3)
    assert (len(page.items), page.total_count) == (1, 4)
    assert find_dags(ctx, project_env="DEV", project_identifier="ws").total_count == 0
    with pytest.raises(InvalidParameter):
        find_dags(ctx, project_env="PROD", project_identifier="ws", status="DONE")
    with pytest.raises(MissingParameter):
        find_dags(ctx, project_env="PROD")
    with pytest.raises(NotFound):
        find_dags(ctx, project_env="PROD", project_identifier="nope")
