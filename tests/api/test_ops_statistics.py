"""GetInstanceStatusCount and GetInstanceStatusStatistic through the official SDK, against a live
server whose engine runs the instances: the business date in Alibaba's `yyyy-MM-dd` form and in
`yyyy-MM-dd 00:00:00`, and the statistic's DagType, SchedulerType and SchedulerPeriod."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    FileSpec,
    Flow,
    assert_sdk_error,
    create_flow,
    create_workspace,
    sdk_error,
    wait_statuses,
)

WS = "stat_ws"
DONE = "2024-04-01"  # a run of `quick` that succeeded, b excluded (a dry run)
HELD = "2024-04-02"  # a run of `slow` whose sleeper runs, its child suspended
QUIET = "2024-04-03"  # nothing ran
MISSING = 'The input parameter "{}" that is mandatory for processing this request is not supplied.'


@pytest.fixture(scope="module")
def flows(client: Client) -> dict[str, Flow]:
    create_workspace(client, WS)
    quick = create_flow(
        client,
        WS,
        "quick",
        [
            FileSpec("a", VIRTUAL),
            FileSpec("b", SHELL, "echo b", inputs=["a"]),
            FileSpec("c", SHELL, "echo c", inputs=["b"]),
        ],
    )
    slow = create_flow(
        client,
        WS,
        "slow",
        [FileSpec("sleeper", SHELL, "sleep 600"), FileSpec("after", VIRTUAL, inputs=["sleeper"])],
    )
    return {"quick": quick, "slow": slow}


def _run(client: Client, flow: Flow, day: str, **fields: Any) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD",
        project_name=WS,
        flow_name=flow.name,
        biz_date=f"{day} 00:00:00",
        **fields,
    )
    return client.run_manual_dag_nodes(request).body.dag_id


@pytest.fixture(scope="module")
def ran(client: Client, flows: dict[str, Flow]) -> Iterator[None]:
    """DONE: a, b (dry run), c all SUCCESS. HELD: sleeper RUNNING, after NOT_RUN and suspended."""
    quick, slow = flows["quick"], flows["slow"]
    done = _run(client, quick, DONE, exclude_node_ids=str(quick.node_ids["b"]))
    wait_statuses(client, WS, done, {n: ("SUCCESS",) for n in "abc"})
    held = _run(client, slow, HELD)
    found = wait_statuses(client, WS, held, {"sleeper": ("RUNNING",)})
    suspend = dw.SuspendInstanceRequest(instance_id=found["after"].instance_id, project_env="PROD")
    assert client.suspend_instance(suspend).body.data is True
    yield
    stop = dw.StopInstanceRequest(instance_id=found["sleeper"].instance_id, project_env="PROD")
    client.stop_instance(stop)
    wait_statuses(client, WS, held, {"sleeper": ("FAILURE",)})


def _project_id(flows: dict[str, Flow]) -> int:
    return flows["quick"].project_id


def _count(client: Client, flows: dict[str, Flow], biz_date: str) -> dict[str, int]:
    request = dw.GetInstanceStatusCountRequest(
        project_env="PROD", project_id=_project_id(flows), biz_date=biz_date
    )
    return client.get_instance_status_count(request).body.status_count.to_map()


def _statistic(client: Client, flows: dict[str, Flow], day: str, **filters: str) -> dict[str, int]:
    request = dw.GetInstanceStatusStatisticRequest(
        project_env="PROD", project_id=_project_id(flows), biz_date=day, **filters
    )
    body = client.get_instance_status_statistic(request).body
    assert body.request_id
    return {k: v for k, v in body.status_count.to_map().items() if v}  # the non-zero counts


@pytest.mark.usefixtures("ran")
def test_status_count_reads_the_business_date_in_both_forms(
    client: Client, flows: dict[str, Flow]
) -> None:
    short = _count(client, flows, DONE)
    assert short == _count(client, flows, f"{DONE} 00:00:00")
    assert short == {
        "NotRunCount": 0,
        "WaitTimeCount": 0,
        "WaitResCount": 0,
        "RunningCount": 0,
        "FailureCount": 0,
        "SuccessCount": 3,
        "TotalCount": 3,
    }
    assert _count(client, flows, QUIET)["TotalCount"] == 0


@pytest.mark.usefixtures("ran")
@pytest.mark.parametrize(
    ("day", "filters", "counts"),
    [
        (DONE, {}, {"SuccessCount": 3, "TotalCount": 3}),
        (DONE, {"dag_type": "MANUAL"}, {"SuccessCount": 3, "TotalCount": 3}),
        (DONE, {"dag_type": "DAILY"}, {}),
        (DONE, {"scheduler_type": "MANUAL"}, {"SuccessCount": 2, "TotalCount": 2}),
        (DONE, {"scheduler_type": "SKIP"}, {"SuccessCount": 1, "TotalCount": 1}),
        (DONE, {"scheduler_type": "NORMAL"}, {}),
        (DONE, {"scheduler_period": "DAY"}, {"SuccessCount": 3, "TotalCount": 3}),
        (DONE, {"scheduler_period": "HOUR"}, {}),
        (HELD, {}, {"RunningCount": 1, "NotRunCount": 1, "TotalCount": 2}),
        (HELD, {"scheduler_type": "PAUSE"}, {"NotRunCount": 1, "TotalCount": 1}),
        (HELD, {"scheduler_type": "MANUAL"}, {"RunningCount": 1, "TotalCount": 1}),
        (
            HELD,
            {"dag_type": "MANUAL", "scheduler_type": "PAUSE", "scheduler_period": "DAY"},
            {"NotRunCount": 1, "TotalCount": 1},
        ),
        (QUIET, {"dag_type": "MANUAL"}, {}),
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_status_statistic_counts_the_instances_its_filters_select(
    client: Client, flows: dict[str, Flow], day: str, filters: dict[str, str], counts: dict
) -> None:
    assert _statistic(client, flows, day, **filters) == counts


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"biz_date": None}, "MissingParameter", MISSING.format("BizDate")),
        ({"project_env": None}, "MissingParameter", MISSING.format("ProjectEnv")),
        (
            {"biz_date": "2024/04/01"},
            "InvalidParameter.Format",
            "BizDate='2024/04/01' is not a date of the form yyyy-MM-dd (or yyyy-MM-dd 00:00:00).",
        ),
        (
            {"biz_date": "2024-04-31"},
            "InvalidParameter.Format",
            "BizDate='2024-04-31' is not a calendar date.",
        ),
        (
            {"dag_type": "NIGHTLY"},
            "InvalidParameter",
            "DagType='NIGHTLY' is not one of DAILY, MANUAL, SMOKE_TEST, SUPPLY_DATA, "
            "BUSINESS_PROCESS_DAG.",
        ),
        (
            {"scheduler_type": "manual"},
            "InvalidParameter",
            "SchedulerType='manual' is not one of NORMAL, MANUAL, PAUSE, SKIP.",
        ),
        (
            {"scheduler_period": "YEAR"},
            "InvalidParameter",
            "SchedulerPeriod='YEAR' is not one of MINUTE, HOUR, DAY, WEEK, MONTH.",
        ),
        (
            {"project_id": 987654},
            "Invalid.Project.NotExists",
            "The workspace ProjectId=987654 does not exist.",
        ),
    ],
    ids=[
        "no-date",
        "no-env",
        "slashes",
        "no-such-day",
        "dag-type",
        "scheduler-type",
        "period",
        "no-workspace",
    ],
)
def test_status_statistic_fails_given_a_bad_request(
    client: Client, flows: dict[str, Flow], fields: dict[str, Any], code: str, message: str
) -> None:
    values: dict[str, Any] = {
        "project_env": "PROD",
        "project_id": _project_id(flows),
        "biz_date": DONE,
    }
    values.update(fields)
    request = dw.GetInstanceStatusStatisticRequest(
        **{k: v for k, v in values.items() if v is not None}
    )
    error = sdk_error(lambda: client.get_instance_status_statistic(request))
    status = 404 if code.endswith("NotExists") else 400
    assert_sdk_error(error, code=code, status=status, message=message)


def test_status_count_fails_given_a_date_of_neither_form(
    client: Client, flows: dict[str, Flow]
) -> None:
    request = dw.GetInstanceStatusCountRequest(
        project_env="PROD", project_id=_project_id(flows), biz_date="20240401"
    )
    error = sdk_error(lambda: client.get_instance_status_count(request))
    assert_sdk_error(
        error,
        code="InvalidParameter.Format",
        status=400,
        message="BizDate='20240401' is not a date of the form yyyy-MM-dd (or yyyy-MM-dd "
        "00:00:00).",
    )
