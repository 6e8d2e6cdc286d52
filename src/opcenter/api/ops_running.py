"""Running manually triggered workflows and operating their instances.

RunManualDagNodes / CreateManualDag create one Dag per business date and answer the first
date's `DagId`; GetDag, ListDags (by `OpSeq`, the run), GetManualDagInstances /
ListManualDagInstances, GetInstance, ListInstances, ListInstanceHistory (every attempt, by its
`InstanceHistoryId`), GetInstanceLog and GetInstanceStatusCount read them; RestartInstance,
SetSuccessInstance, StopInstance, SuspendInstance and ResumeInstance act on one instance and
answer `Data: true` (a refused state is `Invalid.Instance.Status`, 409). RestartInstance also
takes `UseLatestConfig=true` (not in the SDK's request model; DataWorks' newer API has it): run
the node's latest deployed version.

Run parameters are pasted into code: a caller the authorizer would not allow
`dataworks:UpdateFile` in the workspace (its RAM policies and workspace roles, exactly as for an
UpdateFile call there) may pass only safe values (docs/parameters.md, "Who may pass what").
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import (
    dag_resource,
    instance_resource,
    op_seq_resource,
    project_resource,
)
from opcenter.api.rpc import Call, operation
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import history, iam, instances, logs, runs

__all__ = [
    "create_manual_dag",
    "get_dag",
    "get_instance",
    "get_instance_log",
    "get_instance_status_count",
    "get_instance_status_statistic",
    "get_manual_dag_instances",
    "list_dags",
    "list_instance_history",
    "list_instances",
    "list_manual_dag_instances",
    "restart_instance",
    "resume_instance",
    "run_manual_dag_nodes",
    "set_success_instance",
    "stop_instance",
    "suspend_instance",
]


def _may_edit_code(call: Call) -> bool:
    """Whether the caller may edit the files of the workspace the call runs in."""
    workspace = call.workspace
    identifier = workspace.identifier if workspace is not None else None
    identifier = identifier or call.str("ProjectName") or call.str("ProjectIdentifier") or ""
    return call.may("dataworks:UpdateFile", call.workspace_arn(identifier))


def _selection(call: Call) -> dict[str, Any]:
    """What RunManualDagNodes and CreateManualDag share: the flow, the nodes, the parameters."""
    return {
        "may_edit_code": _may_edit_code(call),
        "project_env": call.str("ProjectEnv"),
        "project_name": call.str("ProjectName"),
        "flow_name": call.str("FlowName"),
        "node_parameters": call.str("NodeParameters"),
        "dag_parameters": call.str("DagParameters"),
        "include_node_ids": call.str("IncludeNodeIds"),
        "exclude_node_ids": call.str("ExcludeNodeIds"),
        "caller": render.caller_of(call),
    }


@operation("RunManualDagNodes", resource=project_resource, in_request_transaction=True)
def run_manual_dag_nodes(call: Call) -> dict[str, Any]:
    dag_id = runs.run_manual_dag_nodes(
        call.services,
        project_id=call.int("ProjectId"),
        biz_date=call.str("BizDate"),
        start_biz_date=call.str("StartBizDate"),
        end_biz_date=call.str("EndBizDate"),
        **_selection(call),
    )
    return {"DagId": dag_id}


@operation("CreateManualDag", resource=project_resource, in_request_transaction=True)
def create_manual_dag(call: Call) -> dict[str, Any]:
    dag_id = runs.create_manual_dag(
        call.services, biz_date=call.str("BizDate", required=True), **_selection(call)
    )
    return {"DagId": dag_id}


@operation("GetDag", resource=dag_resource, in_request_transaction=True)
def get_dag(call: Call) -> dict[str, Any]:
    found = runs.get_dag(
        call.services, dag_id=call.int("DagId", required=True), project_env=call.str("ProjectEnv")
    )
    return render.ok(Data=render.dag(found))


@operation("ListDags", resource=op_seq_resource, in_request_transaction=True)
def list_dags(call: Call) -> dict[str, Any]:
    found = runs.list_dags(
        call.services, op_seq=call.int("OpSeq", required=True), project_env=call.str("ProjectEnv")
    )
    return render.ok(Data={"Dags": [render.dag(d) for d in found]})


def _manual_dag(call: Call) -> dict[str, Any]:
    return {
        "dag_id": call.int("DagId", required=True),
        "project_env": call.str("ProjectEnv"),
        "project_name": call.str("ProjectName", required=True),
    }


@operation("GetManualDagInstances", resource=project_resource)
def get_manual_dag_instances(call: Call) -> dict[str, Any]:
    found = instances.get_manual_dag_instances(call.services, **_manual_dag(call))
    return {"Instances": [render.manual_instance(i) for i in found]}


@operation("ListManualDagInstances", resource=project_resource)
def list_manual_dag_instances(call: Call) -> dict[str, Any]:
    found = instances.list_manual_dag_instances(call.services, **_manual_dag(call))
    return {"Instances": [render.manual_instance(i) for i in found]}


def _instance(call: Call) -> dict[str, Any]:
    return {
        "instance_id": call.int("InstanceId", required=True),
        "project_env": call.str("ProjectEnv"),
    }


@operation("GetInstance", resource=instance_resource)
def get_instance(call: Call) -> dict[str, Any]:
    found = instances.get_instance(call.services, **_instance(call))
    # The SDK's GetInstance model has no ErrorMessage in `Data`, only beside it ("the error
    # message returned when the instance fails"): why the instance failed goes there too.
    why = {"ErrorMessage": found.error_message} if found.error_message else {}
    return render.ok(Data=render.instance(found), **why)


@operation("ListInstances", resource=project_resource)
def list_instances(call: Call) -> dict[str, Any]:
    result = instances.list_instances(
        call.services,
        project_env=call.str("ProjectEnv"),
        project_id=call.int("ProjectId", required=True),
        dag_id=call.int("DagId"),
        node_id=call.int("NodeId"),
        node_name=call.str("NodeName"),
        status=call.str("Status"),
        bizdate=call.str("Bizdate"),
        begin_bizdate=call.str("BeginBizdate"),
        end_bizdate=call.str("EndBizdate"),
        biz_name=call.str("BizName"),
        owner=call.str("Owner"),
        program_type=call.str("ProgramType"),
        order_by=call.choice("OrderBy", ("CREATE_TIME_DESC", "INSTANCE_ID_DESC")),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
    )
    return render.ok(
        Data={
            "Instances": [render.instance(i) for i in result.instances],
            "PageNumber": result.page_number,
            "PageSize": result.page_size,
            "TotalCount": result.total_count,
        }
    )


@operation("GetInstanceLog", resource=instance_resource)
def get_instance_log(call: Call) -> dict[str, Any]:
    text = logs.get_instance_log(
        call.services, instance_history_id=call.int("InstanceHistoryId"), **_instance(call)
    )
    return render.ok(Data=text)


def _history_resource(call: Call) -> WorkspaceRef:
    """The workspace of the instance, in `ProjectEnv` (PROD when not given, as the SDK says)."""
    instance_id = call.int("InstanceId", required=True)
    env = call.str("ProjectEnv") or history.DEFAULT_ENV
    return iam.workspace_of_instance(call.services, instance_id, env)


@operation("ListInstanceHistory", resource=_history_resource)
def list_instance_history(call: Call) -> dict[str, Any]:
    found = history.list_instance_history(
        call.services,
        instance_id=call.int("InstanceId", required=True),
        project_env=call.str("ProjectEnv"),
    )
    return render.ok(Instances=[render.attempt(a) for a in found])


@operation("GetInstanceStatusCount", resource=project_resource)
def get_instance_status_count(call: Call) -> dict[str, Any]:
    counted = instances.get_instance_status_count(
        call.services,
        project_env=call.str("ProjectEnv"),
        project_id=call.int("ProjectId", required=True),
        biz_date=call.str("BizDate"),
    )
    return {"StatusCount": render.status_count(counted)}


# GetInstanceStatusCount narrowed by DagType, SchedulerType and SchedulerPeriod.
@operation("GetInstanceStatusStatistic", resource=project_resource)
def get_instance_status_statistic(call: Call) -> dict[str, Any]:
    counted = instances.get_instance_status_statistic(
        call.services,
        project_env=call.str("ProjectEnv"),
        project_id=call.int("ProjectId", required=True),
        biz_date=call.str("BizDate"),
        dag_type=call.str("DagType"),
        scheduler_type=call.str("SchedulerType"),
        scheduler_period=call.str("SchedulerPeriod"),
    )
    return {"StatusCount": render.status_count(counted)}


@operation("RestartInstance", resource=instance_resource)
def restart_instance(call: Call) -> dict[str, Any]:
    done = instances.restart_instance(
        call.services,
        caller=render.caller_of(call),
        use_latest=call.bool("UseLatestConfig", default=False),
        **_instance(call),
    )
    return render.ok(Data=done)


@operation("SetSuccessInstance", resource=instance_resource)
def set_success_instance(call: Call) -> dict[str, Any]:
    done = instances.set_success_instance(
        call.services, caller=render.caller_of(call), **_instance(call)
    )
    return render.ok(Data=done)


@operation("StopInstance", resource=instance_resource)
def stop_instance(call: Call) -> dict[str, Any]:
    done = instances.stop_instance(call.services, caller=render.caller_of(call), **_instance(call))
    return render.ok(Data=done)


@operation("SuspendInstance", resource=instance_resource)
def suspend_instance(call: Call) -> dict[str, Any]:
    done = instances.suspend_instance(
        call.services, caller=render.caller_of(call), **_instance(call)
    )
    return render.ok(Data=done)


@operation("ResumeInstance", resource=instance_resource)
def resume_instance(call: Call) -> dict[str, Any]:
    done = instances.resume_instance(
        call.services, caller=render.caller_of(call), **_instance(call)
    )
    return render.ok(Data=done)
