"""The running operations one by one: answers of every read, the other clients (V2 signature,
aliyun-python-sdk-core), and every error the running layer gives, as the SDK raises it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from aliyunsdkcore.acs_exception.exceptions import ServerException as AcsServerException
from aliyunsdkdataworks_public.request.v20200518.GetManualDagInstancesRequest import (
    GetManualDagInstancesRequest,
)
from aliyunsdkdataworks_public.request.v20200518.RunManualDagNodesRequest import (
    RunManualDagNodesRequest,
)

from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    FileSpec,
    Flow,
    Live,
    assert_sdk_error,
    create_flow,
    create_workspace,
    instances_of,
    sdk_error,
    wait_for,
    wait_statuses,
)
from tests.api.sdk import acs_client, aimed

WS = "run_ws"
FLOW = "greet"
BIZ_DATE = "2024-03-01 00:00:00"
YESTERDAY = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()  # server TZ: UTC
MISSING = 'The input parameter "{}" that is mandatory for processing this request is not supplied.'


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    create_workspace(client, WS)
    created = create_flow(
        client,
        WS,
        FLOW,
        [
            FileSpec("begin", VIRTUAL),
            FileSpec("hello", SHELL, 'echo "hello ${who} $1"', "$bizdate who=world", ["begin"]),
            FileSpec("end", VIRTUAL, inputs=["hello"]),
        ],
    )
    create_flow(client, WS, "undeployed", [FileSpec("draft", SHELL, "echo")], deploy=False)
    return created


def _request(**fields: Any) -> dw.RunManualDagNodesRequest:
    values: dict[str, Any] = {
        "project_env": "PROD",
        "project_name": WS,
        "flow_name": FLOW,
        "biz_date": BIZ_DATE,
    }
    values.update(fields)
    return dw.RunManualDagNodesRequest(**{k: v for k, v in values.items() if v is not None})


def _run_to_success(client: Client, **fields: Any) -> int:
    dag_id = client.run_manual_dag_nodes(_request(**fields)).body.dag_id
    wait_statuses(client, WS, dag_id, {n: ("SUCCESS",) for n in ("begin", "hello", "end")})
    return dag_id


@pytest.fixture(scope="module")
def finished_dag(client: Client, flow: Flow) -> int:
    """A Dag of the flow that has run to success."""
    return _run_to_success(client)


# --- answers ----------------------------------------------------------------------------------


def test_get_dag_and_list_dags_describe_the_run(
    client: Client, flow: Flow, finished_dag: int
) -> None:
    body = client.get_dag(dw.GetDagRequest(dag_id=finished_dag, project_env="PROD")).body
    data = body.data
    assert (body.success, body.http_status_code) == (True, 200)
    assert (data.dag_id, data.name, data.type, data.status) == (
        finished_dag,
        FLOW,
        "MANUAL",
        "SUCCESS",
    )
    assert (data.bizdate, data.gmtdate, data.project_id, data.create_user) == (
        1709251200000,
        1709337600000,
        flow.project_id,
        "root",
    )
    assert data.start_time <= data.finish_time
    listed = client.list_dags(dw.ListDagsRequest(op_seq=data.op_seq, project_env="PROD")).body
    assert [d.to_map() for d in listed.data.dags] == [data.to_map()]


def test_manual_dag_instances_list_every_instance_with_its_times(
    client: Client, flow: Flow, finished_dag: int
) -> None:
    request = {"project_env": "PROD", "project_name": WS, "dag_id": str(finished_dag)}
    got = client.get_manual_dag_instances(dw.GetManualDagInstancesRequest(**request)).body
    listed = client.list_manual_dag_instances(dw.ListManualDagInstancesRequest(**request)).body
    assert [i.to_map() for i in got.instances] == [i.to_map() for i in listed.instances]
    hello = {i.node_name: i for i in got.instances}["hello"]
    assert (hello.node_id, hello.dag_id, hello.status, hello.task_type, hello.dag_type) == (
        flow.node_ids["hello"],
        finished_dag,
        "SUCCESS",
        "MANUAL",
        "MANUAL",
    )
    assert hello.param_values == "20240301 who=world"
    assert (
        hello.create_time
        <= hello.begin_wait_time_time
        <= hello.begin_wait_res_time
        <= hello.begin_running_time
        <= hello.finish_time
    )


def test_get_instance_and_its_log_describe_one_instance(
    client: Client, flow: Flow, finished_dag: int
) -> None:
    hello = instances_of(client, WS, finished_dag)["hello"]
    body = client.get_instance(
        dw.GetInstanceRequest(instance_id=hello.instance_id, project_env="PROD")
    ).body
    data = body.data
    assert (body.success, data.instance_id, data.node_name, data.status) == (
        True,
        hello.instance_id,
        "hello",
        "SUCCESS",
    )
    assert (data.bizdate, data.cyc_time, data.business_id, data.owner) == (
        1709251200000,
        1709337600000,
        flow.business_id,
        "root",
    )
    # TaskRerunTime is empty: the node has no automatic rerun
    assert (data.repeatability, data.task_rerun_time, data.dag_type) == (True, None, "MANUAL")
    log = client.get_instance_log(
        dw.GetInstanceLogRequest(instance_id=hello.instance_id, project_env="PROD")
    ).body
    assert (log.success, log.http_status_code) == (True, 200)
    assert "hello world 20240301" in log.data


def test_get_instance_log_of_a_dry_run_and_a_virtual_instance_is_made_from_the_store(
    client: Client, live: Live, flow: Flow
) -> None:
    dag_id = client.run_manual_dag_nodes(
        _request(exclude_node_ids=str(flow.node_ids["hello"]))
    ).body.dag_id
    wait_statuses(client, WS, dag_id, {n: ("SUCCESS",) for n in ("begin", "hello", "end")})
    texts = {
        "hello": "Dry run (SKIP): the node's code was not run; the instance succeeded as soon "
        "as its upstream did.",
        "begin": "Virtual node: nothing to run; the instance succeeded as soon as its upstream "
        "did.",
    }
    for name, text in texts.items():
        inst = instances_of(client, WS, dag_id)[name]
        stamp = dt.datetime.fromtimestamp(inst.finish_time / 1000).astimezone()
        log = client.get_instance_log(
            dw.GetInstanceLogRequest(instance_id=inst.instance_id, project_env="PROD")
        ).body
        assert (log.success, log.data) == (True, f"{stamp:%Y-%m-%d %H:%M:%S} [opcenter] {text}\n")
    assert not list((live.data_dir / "logs" / f"dag_{dag_id}").glob("*.log"))  # no file at all


def test_create_manual_dag_runs_the_flow_for_one_date(client: Client, flow: Flow) -> None:
    body = client.create_manual_dag(
        dw.CreateManualDagRequest(
            project_env="PROD",
            project_name=WS,
            flow_name=FLOW,
            biz_date="2024-03-02 00:00:00",
            dag_parameters=json.dumps({"who": "dag"}),
        )
    ).body
    done = wait_statuses(client, WS, body.dag_id, {"end": ("SUCCESS",)})
    assert done["hello"].param_values == "20240302 who=dag"


def test_list_instances_filters_and_pages(client: Client, flow: Flow, finished_dag: int) -> None:
    body = client.list_instances(
        dw.ListInstancesRequest(
            project_env="PROD",
            project_id=flow.project_id,
            dag_id=finished_dag,
            page_number=1,
            page_size=2,
        )
    ).body
    assert (body.success, body.data.total_count, body.data.page_size) == (True, 3, 2)
    ids = [i.instance_id for i in body.data.instances]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    shells = client.list_instances(
        dw.ListInstancesRequest(
            project_env="PROD",
            project_id=flow.project_id,
            dag_id=finished_dag,
            program_type="DIDE_SHELL",
        )
    ).body.data
    assert [i.node_name for i in shells.instances] == ["hello"]


def test_get_instance_status_count_counts_a_business_date(
    client: Client, flow: Flow, finished_dag: int
) -> None:
    body = client.get_instance_status_count(
        dw.GetInstanceStatusCountRequest(
            project_env="PROD", project_id=flow.project_id, biz_date="2024-03-01 00:00:00"
        )
    ).body
    counts = body.status_count.to_map()
    assert counts["TotalCount"] == counts["SuccessCount"] >= 3
    assert {k: v for k, v in counts.items() if k not in ("TotalCount", "SuccessCount")} == {
        "NotRunCount": 0,
        "WaitTimeCount": 0,
        "WaitResCount": 0,
        "RunningCount": 0,
        "FailureCount": 0,
    }


# --- the other clients ------------------------------------------------------------------------


def test_v2_signed_sdk_runs_the_flow_and_reads_its_instances(live: Live, flow: Flow) -> None:
    client = live.client(signature_algorithm="v2")
    dag_id = client.run_manual_dag_nodes(_request(biz_date="2024-03-03 00:00:00")).body.dag_id
    done = wait_statuses(client, WS, dag_id, {"end": ("SUCCESS",)})
    assert done["hello"].param_values == "20240303 who=world"


def test_aliyun_python_sdk_core_runs_the_flow_and_reads_its_instances(
    live: Live, flow: Flow
) -> None:
    acs = acs_client(live)  # type: ignore[arg-type]
    run = aimed(RunManualDagNodesRequest())
    run.set_ProjectEnv("PROD")
    run.set_ProjectName(WS)
    run.set_FlowName(FLOW)
    run.set_BizDate("2024-03-04 00:00:00")
    run.set_DagParameters(json.dumps({"who": "core"}))
    dag_id = json.loads(acs.do_action_with_exception(run))["DagId"]

    def instances() -> dict[str, Any] | None:
        read = aimed(GetManualDagInstancesRequest())
        read.set_ProjectEnv("PROD")
        read.set_ProjectName(WS)
        read.set_DagId(str(dag_id))
        found = json.loads(acs.do_action_with_exception(read))["Instances"]
        by_name = {i["NodeName"]: i for i in found}
        return by_name if by_name["end"]["Status"] == "SUCCESS" else None

    done = wait_for(instances, "the aliyunsdkcore run")
    assert isinstance(done["hello"]["InstanceId"], int)
    assert done["hello"]["ParamValues"] == "20240304 who=core"


def test_aliyun_python_sdk_core_sees_the_error_code_given_an_unknown_flow(
    live: Live, flow: Flow
) -> None:
    run = aimed(RunManualDagNodesRequest())
    run.set_ProjectEnv("PROD")
    run.set_ProjectName(WS)
    run.set_FlowName("ghost")
    run.set_BizDate(BIZ_DATE)
    with pytest.raises(AcsServerException) as caught:
        acs_client(live).do_action_with_exception(run)  # type: ignore[arg-type]
    assert (caught.value.get_error_code(), caught.value.get_http_status()) == (
        "Invalid.Flow.NotExists",
        404,
    )
    assert (
        caught.value.get_error_msg() == "The workflow FlowName='ghost' does not exist in 'run_ws'."
    )


# --- errors -----------------------------------------------------------------------------------

RUN_ERRORS = [
    pytest.param(
        {"project_env": None}, "MissingParameter", 400, MISSING.format("ProjectEnv"), id="no-env"
    ),
    pytest.param(
        {"flow_name": None}, "MissingParameter", 400, MISSING.format("FlowName"), id="no-flow"
    ),
    pytest.param(
        {"project_name": None},
        "MissingParameter",
        400,
        MISSING.format("ProjectName"),
        id="no-project",
    ),
    pytest.param(
        {"biz_date": None}, "MissingParameter", 400, MISSING.format("BizDate"), id="no-date"
    ),
    pytest.param(
        {"project_env": "TEST"},
        "InvalidParameter",
        400,
        "ProjectEnv='TEST' is not one of DEV, PROD.",
        id="bad-env",
    ),
    pytest.param(
        {"biz_date": "2024/03/01"},
        "InvalidParameter.Format",
        400,
        "BizDate='2024/03/01' is not a date of the form yyyy-MM-dd 00:00:00.",
        id="bad-date-form",
    ),
    pytest.param(
        {"biz_date": "2024-03-01 10:00:00"},
        "InvalidParameter",
        400,
        "BizDate='2024-03-01 10:00:00': the hour, minute and second of a business date must be 00.",
        id="date-not-midnight",
    ),
    pytest.param(
        {"biz_date": "2999-01-01 00:00:00"},
        "InvalidParameter",
        400,
        "BizDate='2999-01-01 00:00:00' is not in the past: a business date must be at most "
        f"{YESTERDAY} 00:00:00 (today - 1).",
        id="date-in-future",
    ),
    pytest.param(
        {"start_biz_date": "2024-03-01 00:00:00", "end_biz_date": "2024-03-02 00:00:00"},
        "InvalidParameter",
        400,
        "BizDate='2024-03-01 00:00:00' and StartBizDate cannot be given together: give either "
        "BizDate or StartBizDate and EndBizDate.",
        id="date-and-range",
    ),
    pytest.param(
        {
            "biz_date": None,
            "start_biz_date": "2024-03-02 00:00:00",
            "end_biz_date": "2024-03-01 00:00:00",
        },
        "InvalidParameter",
        400,
        "StartBizDate='2024-03-02 00:00:00' is after EndBizDate='2024-03-01 00:00:00'.",
        id="range-backwards",
    ),
    pytest.param(
        {"flow_name": "ghost"},
        "Invalid.Flow.NotExists",
        404,
        "The workflow FlowName='ghost' does not exist in 'run_ws'.",
        id="unknown-flow",
    ),
    pytest.param(
        {"project_name": "nowhere"},
        "Invalid.Project.NotExists",
        404,
        "The workspace ProjectName='nowhere' does not exist.",
        id="unknown-workspace",
    ),
    pytest.param(
        {"flow_name": "undeployed"},
        "InvalidParameter",
        400,
        "FlowName='undeployed' is not deployed in PROD: file(s) draft have no version there "
        "(deploy them first).",
        id="not-deployed",
    ),
    pytest.param(
        {"dag_parameters": "{not json"},
        "InvalidParameter.Format",
        400,
        "DagParameters='{not json' is not valid JSON: Expecting property name enclosed in double "
        "quotes at position 1.",
        id="dag-parameters-not-json",
    ),
    pytest.param(
        {"include_node_ids": "1,x"},
        "InvalidParameter.Format",
        400,
        "IncludeNodeIds='1,x': 'x' is not a node id (comma-separated integers).",
        id="include-not-ids",
    ),
    pytest.param(
        {"include_node_ids": "424242"},
        "InvalidParameter",
        400,
        "IncludeNodeIds: node id 424242 is not a node of workflow 'greet' in this environment.",
        id="include-unknown-node",
    ),
    pytest.param(
        {"node_parameters": json.dumps({"424242": "a=1"})},
        "InvalidParameter",
        400,
        "NodeParameters: node id '424242' is not a node of workflow 'greet' in PROD.",
        id="node-parameters-unknown-node",
    ),
]


@pytest.mark.parametrize(("fields", "code", "status", "message"), RUN_ERRORS)
def test_run_manual_dag_nodes_fails_given_a_bad_request(
    client: Client, flow: Flow, fields: dict[str, Any], code: str, status: int, message: str
) -> None:
    error = sdk_error(lambda: client.run_manual_dag_nodes(_request(**fields)))
    assert_sdk_error(error, code=code, status=status, message=message)


def test_create_manual_dag_fails_given_no_biz_date(client: Client, flow: Flow) -> None:
    request = dw.CreateManualDagRequest(project_env="PROD", project_name=WS, flow_name=FLOW)
    error = sdk_error(lambda: client.create_manual_dag(request))
    assert_sdk_error(error, code="MissingParameter", status=400, message=MISSING.format("BizDate"))


def _instance_call(client: Client, method: str, instance_id: int) -> Callable[[], object]:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in method).lstrip("_")
    request = getattr(dw, f"{method}Request")(instance_id=instance_id, project_env="PROD")
    return lambda: getattr(client, snake)(request)


@pytest.mark.parametrize(
    "method",
    [
        "GetInstance",
        "GetInstanceLog",
        "RestartInstance",
        "SetSuccessInstance",
        "StopInstance",
        "SuspendInstance",
        "ResumeInstance",
    ],
)
def test_instance_operations_fail_given_an_unknown_instance(client: Client, method: str) -> None:
    error = sdk_error(_instance_call(client, method, 777777))
    assert_sdk_error(
        error,
        code="Invalid.Instance.NotExists",
        status=404,
        message="The instance InstanceId=777777 does not exist in PROD.",
    )


@pytest.mark.parametrize(
    "method", ["SetSuccessInstance", "StopInstance", "SuspendInstance", "ResumeInstance"]
)
def test_instance_operations_fail_given_a_refused_state(
    client: Client, finished_dag: int, method: str
) -> None:
    hello = instances_of(client, WS, finished_dag)["hello"]
    error = sdk_error(_instance_call(client, method, hello.instance_id))
    assert_sdk_error(
        error,
        code="Invalid.Instance.Status",
        status=409,
        message=f"{method} is not allowed for InstanceId={hello.instance_id} with status SUCCESS.",
    )


def test_run_manual_dag_nodes_fails_given_a_malformed_node_parameter(
    client: Client, flow: Flow
) -> None:
    node_parameters = json.dumps({str(flow.node_ids["hello"]): "a=$[nonsense"})
    error = sdk_error(
        lambda: client.run_manual_dag_nodes(_request(node_parameters=node_parameters))
    )
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message='Invalid parameter "a=$[nonsense": "$[" is not closed by "]" in "$[nonsense"',
    )


def test_get_dag_fails_given_an_unknown_dag(client: Client) -> None:
    error = sdk_error(lambda: client.get_dag(dw.GetDagRequest(dag_id=888888, project_env="PROD")))
    assert_sdk_error(
        error,
        code="Invalid.Dag.NotExists",
        status=404,
        message="The Dag DagId=888888 does not exist in PROD.",
    )


def test_get_dag_fails_given_a_dag_of_the_other_environment(
    client: Client, finished_dag: int
) -> None:
    error = sdk_error(
        lambda: client.get_dag(dw.GetDagRequest(dag_id=finished_dag, project_env="DEV"))
    )
    assert_sdk_error(
        error,
        code="Invalid.Dag.NotExists",
        status=404,
        message=f"The Dag DagId={finished_dag} does not exist in DEV.",
    )


def test_list_dags_fails_given_an_unknown_op_seq(client: Client) -> None:
    error = sdk_error(
        lambda: client.list_dags(dw.ListDagsRequest(op_seq=999999, project_env="PROD"))
    )
    assert_sdk_error(
        error,
        code="Invalid.Dag.NotExists",
        status=404,
        message="No Dag has OpSeq=999999 in PROD.",
    )


def test_get_manual_dag_instances_fails_given_a_dag_of_another_workspace(
    client: Client, finished_dag: int
) -> None:
    create_workspace(client, "run_other")
    request = dw.GetManualDagInstancesRequest(
        project_env="PROD", project_name="run_other", dag_id=str(finished_dag)
    )
    error = sdk_error(lambda: client.get_manual_dag_instances(request))
    assert_sdk_error(
        error,
        code="Invalid.Dag.NotExists",
        status=404,
        message=f"The Dag DagId={finished_dag} does not exist in PROD of workspace 'run_other'.",
    )


def test_get_manual_dag_instances_fails_given_no_project_name(
    client: Client, finished_dag: int
) -> None:
    request = dw.GetManualDagInstancesRequest(project_env="PROD", dag_id=str(finished_dag))
    error = sdk_error(lambda: client.get_manual_dag_instances(request))
    assert_sdk_error(
        error, code="MissingParameter", status=400, message=MISSING.format("ProjectName")
    )


def test_get_instance_status_count_fails_given_a_bad_biz_date(client: Client, flow: Flow) -> None:
    request = dw.GetInstanceStatusCountRequest(
        project_env="PROD", project_id=flow.project_id, biz_date="yesterday"
    )
    error = sdk_error(lambda: client.get_instance_status_count(request))
    assert_sdk_error(
        error,
        code="InvalidParameter.Format",
        status=400,
        message="BizDate='yesterday' is not a date of the form yyyy-MM-dd (or yyyy-MM-dd "
        "00:00:00).",
    )


def test_list_instances_fails_given_an_unknown_status(client: Client, flow: Flow) -> None:
    request = dw.ListInstancesRequest(project_env="PROD", project_id=flow.project_id, status="DONE")
    error = sdk_error(lambda: client.list_instances(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="Status='DONE' is not an instance status.",
    )
