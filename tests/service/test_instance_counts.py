"""GetInstanceStatusCount and GetInstanceStatusStatistic through the service layer, on SQLite and
PostgreSQL: the business date in both forms, and every filter of the statistic."""

from __future__ import annotations

import pytest

from opcenter.errors import InvalidParameter, InvalidParameterFormat, MissingParameter
from opcenter.service.context import ServiceContext
from opcenter.service.instances import (
    get_instance_status_count,
    get_instance_status_statistic,
    suspend_instance,
)
from opcenter.service.run_views import InstanceStatusCount
from tests.engine.builders import Flow, biz, by_name, make_flow, node, run_flow

DAY = biz()  # `yyyy-MM-dd 00:00:00`, two days ago
SHORT_DAY = DAY.split(" ")[0]  # `yyyy-MM-dd`


@pytest.fixture
def flow(ctx: ServiceContext) -> Flow:
    """a → b → c, run once for DAY (no engine: every instance stays NOT_RUN) with b excluded
    (a dry run, SchedulerType SKIP) and c suspended (PAUSE); a is MANUAL."""
    made = make_flow(ctx, [node("a"), node("b", after=["a"]), node("c", after=["b"])])
    created = run_flow(made, biz_date=DAY, exclude_node_ids=made.ids("b"))
    suspend_instance(
        ctx, instance_id=by_name(ctx, created.dag_id)["c"].instance_id, project_env="PROD"
    )
    return made


def _not_run(n: int) -> InstanceStatusCount:
    return InstanceStatusCount(
        not_run_count=n,
        wait_time_count=0,
        wait_res_count=0,
        running_count=0,
        failure_count=0,
        success_count=0,
        total_count=n,
    )


def _statistic(flow: Flow, **filters: str) -> int:
    counted = get_instance_status_statistic(
        flow.ctx, project_env="PROD", project_id=flow.project_id, biz_date=SHORT_DAY, **filters
    )
    assert counted == _not_run(counted.total_count)
    return counted.total_count


@pytest.mark.parametrize("day", [DAY, SHORT_DAY], ids=["with-time", "date-only"])
def test_status_count_counts_a_business_date_given_either_form(
    ctx: ServiceContext, flow: Flow, day: str
) -> None:
    counted = get_instance_status_count(
        ctx, project_env="PROD", project_id=flow.project_id, biz_date=day
    )
    assert counted == _not_run(3)


def test_status_count_counts_nothing_given_another_date_or_environment(
    ctx: ServiceContext, flow: Flow
) -> None:
    other_day = get_instance_status_count(
        ctx, project_env="PROD", project_id=flow.project_id, biz_date=biz(days_ago=1)
    )
    dev = get_instance_status_count(
        ctx, project_env="DEV", project_id=flow.project_id, biz_date=SHORT_DAY
    )
    assert other_day == dev == _not_run(0)


def test_statistic_without_filters_counts_as_status_count(ctx: ServiceContext, flow: Flow) -> None:
    assert _statistic(flow) == 3


@pytest.mark.parametrize(
    ("filters", "total"),
    [
        ({"scheduler_type": "MANUAL"}, 1),  # a
        ({"scheduler_type": "SKIP"}, 1),  # b, excluded
        ({"scheduler_type": "PAUSE"}, 1),  # c, suspended
        ({"scheduler_type": "NORMAL"}, 0),  # nothing runs on a schedule
        ({"dag_type": "MANUAL"}, 3),
        ({"dag_type": "DAILY"}, 0),
        ({"dag_type": "SUPPLY_DATA"}, 0),
        ({"scheduler_period": "DAY"}, 3),
        ({"scheduler_period": "HOUR"}, 0),
        ({"dag_type": "MANUAL", "scheduler_type": "SKIP", "scheduler_period": "DAY"}, 1),
    ],
    ids=lambda v: v if isinstance(v, int) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_statistic_counts_the_instances_each_filter_selects(
    flow: Flow, filters: dict[str, str], total: int
) -> None:
    assert _statistic(flow, **filters) == total


def test_statistic_counts_unchoosen_nodes_as_dry_runs(ctx: ServiceContext, flow: Flow) -> None:
    # a second run for another date that chooses only a: b and c are SKIP_UNCHOOSE dry runs
    run_flow(flow, biz_date=biz(days_ago=1), include_node_ids=flow.ids("a"))
    counted = get_instance_status_statistic(
        ctx,
        project_env="PROD",
        project_id=flow.project_id,
        biz_date=biz(days_ago=1),
        scheduler_type="SKIP",
    )
    assert counted == _not_run(2)


@pytest.mark.parametrize(
    ("biz_date", "error", "message"),
    [
        (None, MissingParameter, 'The input parameter "BizDate"'),
        ("", MissingParameter, 'The input parameter "BizDate"'),
        (
            "2024/03/01",
            InvalidParameterFormat,
            "BizDate='2024/03/01' is not a date of the form yyyy-MM-dd (or yyyy-MM-dd 00:00:00).",
        ),
        ("2024-02-30", InvalidParameterFormat, "BizDate='2024-02-30' is not a calendar date."),
        (
            "2024-03-01 12:00:00",
            InvalidParameter,
            "BizDate='2024-03-01 12:00:00': the hour, minute and second of a business date "
            "must be 00.",
        ),
    ],
    ids=["absent", "empty", "slashes", "not-a-day", "not-midnight"],
)
def test_status_count_fails_given_a_bad_biz_date(
    ctx: ServiceContext, flow: Flow, biz_date: str | None, error: type, message: str
) -> None:
    for count in (get_instance_status_count, get_instance_status_statistic):
        with pytest.raises(error) as info:
            count(ctx, project_env="PROD", project_id=flow.project_id, biz_date=biz_date)
        assert info.value.message.startswith(message)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"dag_type": "manual"},
            "DagType='manual' is not one of DAILY, MANUAL, SMOKE_TEST, SUPPLY_DATA, "
            "BUSINESS_PROCESS_DAG.",
        ),
        (
            {"scheduler_type": "DRY"},
            "SchedulerType='DRY' is not one of NORMAL, MANUAL, PAUSE, SKIP.",
        ),
        (
            {"scheduler_period": "YEAR"},
            "SchedulerPeriod='YEAR' is not one of MINUTE, HOUR, DAY, WEEK, MONTH.",
        ),
    ],
    ids=["dag-type", "scheduler-type", "scheduler-period"],
)
def test_statistic_fails_given_an_unknown_filter_value(
    ctx: ServiceContext, flow: Flow, filters: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        get_instance_status_statistic(
            ctx, project_env="PROD", project_id=flow.project_id, biz_date=SHORT_DAY, **filters
        )
    assert (info.value.code, info.value.message) == ("InvalidParameter", message)
