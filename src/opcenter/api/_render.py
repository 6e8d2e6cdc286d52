"""Service views spelled on the wire: PascalCase keys exactly as the SDK's response models read
them (`alibabacloud_dataworks_public20200518/models/_<op>_response_body.py`).

The SDK maps by exact key and never coerces, so ids and epoch-millisecond times are JSON
numbers, booleans JSON booleans, and the few fields the SDK types as strings (`GetNode`
`Repeatability`, `GetBusiness` `ProjectId`, `StepType`) are strings. A time that has not
happened yet is `null`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from opcenter.api.rpc import Call
from opcenter.iam.principals import parse_principal
from opcenter.service.context import Caller
from opcenter.service.run_views import AttemptView, DagView, InstanceStatusCount, InstanceView
from opcenter.service.views import (
    BusinessView,
    DeploymentView,
    FileVersionView,
    FileView,
    FolderView,
    NodeIOView,
    NodeView,
    Page,
    ProjectView,
)

__all__ = [
    "PROJECT_STATUS_CODES",
    "attempt",
    "business",
    "caller_of",
    "dag",
    "deployment",
    "deployment_item",
    "file_detail",
    "file_item",
    "file_version",
    "folder",
    "instance",
    "manual_instance",
    "node",
    "node_io",
    "node_relative",
    "ok",
    "page",
    "project_detail",
    "project_item",
    "project_summary",
    "status_count",
]

Json = dict[str, Any]

# DataWorks workspace status codes (ListProjects `ProjectStatus`, GetProject `Status`).
PROJECT_STATUS_CODES = {
    "AVAILABLE": 0,
    "DELETED": 1,
    "INITIALIZING": 2,
    "INIT_FAILED": 3,
    "FORBIDDEN": 4,
    "DELETING": 5,
    "DEL_FAILED": 6,
    "FROZEN": 7,
    "UPDATING": 8,
    "UPDATE_FAILED": 9,
}
# Deployment environments: FromEnvironment 0 local, 1 DEV; ToEnvironment 1 DEV, 2 PROD.
_ENVIRONMENT_CODES = {"LOCAL": 0, "DEV": 1, "PROD": 2}


def ok(**fields: Any) -> Json:
    """A success body of the models that carry `Success` and `HttpStatusCode`."""
    return {"Success": True, "HttpStatusCode": 200, **fields}


def caller_of(call: Call) -> Caller:
    """The service-layer caller of an authenticated call: `root` or the RAM user's name."""
    principal = parse_principal(call.principal)
    if principal is None or principal.is_root:
        return Caller(name="root", account_id=call.account_id, is_root=True)
    return Caller(name=principal.name or "", account_id=call.account_id, is_root=False)


def page(items_key: str, result: Page[Any], items: Iterable[Json]) -> Json:
    """A listing page: the items under `items_key` plus PageNumber, PageSize, TotalCount."""
    return {
        items_key: list(items),
        "PageNumber": result.page_number,
        "PageSize": result.page_size,
        "TotalCount": result.total_count,
    }


# --- workspaces -------------------------------------------------------------------------------


def _gmt(ms: int, tz: ZoneInfo) -> str:
    """DataWorks' `GmtCreate` form: `Dec 3, 2019 9:12:20 PM` (server time zone)."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz)
    hour = t.hour % 12 or 12
    return f"{t:%b} {t.day}, {t.year} {hour}:{t:%M:%S} {t:%p}"


def project_detail(p: ProjectView, tz: ZoneInfo) -> Json:
    """GetProject `Data`."""
    return {
        "ProjectId": p.project_id,
        "ProjectIdentifier": p.project_identifier,
        "ProjectName": p.project_name,
        "ProjectDescription": p.project_description,
        "ProjectMode": p.project_mode_code,
        "EnvTypes": [env.value for env in p.env_types],
        "Status": PROJECT_STATUS_CODES.get(p.status, 0),
        "ProjectOwnerBaseId": p.owner,
        "GmtCreate": _gmt(p.created_at, tz),
        "GmtModified": _gmt(p.modified_at, tz),
        "DisableDevelopment": False,
        "IsAllowDownload": 1,
        "IsDefault": 0,
        "ProtectedMode": 0,
        "TablePrivacyMode": 0,
        "ResidentArea": "private",
        "UseProxyOdpsAccount": False,
        "BaseProject": False,
        "Tags": [],
        "SchedulerMaxRetryTimes": p.scheduler_max_retry_times,
        "SchedulerRetryInterval": p.scheduler_retry_interval,
    }


def project_summary(p: ProjectView, tz: ZoneInfo) -> Json:
    """GetProjectDetail `Data`: GetProject's fields that its model has."""
    detail = project_detail(p, tz)
    del detail["BaseProject"]
    return detail


def project_item(p: ProjectView) -> Json:
    """ListProjects `PageResult.ProjectList[]`."""
    return {
        "ProjectId": p.project_id,
        "ProjectIdentifier": p.project_identifier,
        "ProjectName": p.project_name,
        "ProjectDescription": p.project_description,
        "ProjectStatus": PROJECT_STATUS_CODES.get(p.status, 0),
        "ProjectStatusCode": p.status,
        "ProjectOwnerBaseId": p.owner,
        "DisableDevelopment": False,
        "IsDefault": 0,
        "TablePrivacyMode": 0,
        "UseProxyOdpsAccount": False,
        "Tags": [],
    }


# --- workflows and files ----------------------------------------------------------------------


def business(b: BusinessView, *, project_id_as_text: bool = False) -> Json:
    """GetBusiness `Data` (ProjectId a string there) / ListBusiness `Data.Business[]`.

    `Parameters` (the workflow parameters, `k=v k2=v2`) is opcenter's own field."""
    return {
        "BusinessId": b.business_id,
        "BusinessName": b.business_name,
        "Description": b.description,
        "Owner": b.owner,
        "ProjectId": str(b.project_id) if project_id_as_text else b.project_id,
        "UseType": b.use_type.value,
        "Parameters": b.parameters,
    }


def file_item(f: FileView, *, content: bool = True) -> Json:
    """ListFiles `Data.Files[]` (GetFile `Data.File` adds the deletion status)."""
    item = {
        "FileId": f.file_id,
        "FileName": f.file_name,
        "FileType": f.file_type,
        "FileDescription": f.file_description,
        "BusinessId": f.business_id,
        "BizId": f.business_id,
        "UseType": f.use_type.value if f.use_type is not None else None,
        "AbsoluteFolderPath": f.file_folder_path,
        "FileFolderId": f.file_folder_id,
        # DataWorks' ParentId is the node-group file a file belongs to; opcenter has none.
        "ParentId": None,
        "CommitStatus": f.commit_status,
        "CurrentVersion": f.current_version,
        "NodeId": f.node_id,
        "Owner": f.owner,
        "CreateUser": f.owner,
        "CreateTime": f.created_at,
        "LastEditUser": f.owner,
        "LastEditTime": f.modified_at,
        "ConnectionName": "",
        "AutoParsing": False,
        "IsMaxCompute": False,
    }
    if content:
        item["Content"] = f.content
    return item


def _node_configuration(f: FileView) -> Json:
    return {
        "ParaValue": f.para_value,
        "InputList": [{"Input": name, "ParseType": "MANUAL"} for name in f.input_list],
        "OutputList": [{"Output": name, "RefTableName": ""} for name in f.output_list],
        "InputParameters": [],
        "OutputParameters": [],
        "DependentType": f.dependent_type,
        "DependentNodeIdList": f.dependent_node_id_list,
        "RerunMode": f.rerun_mode,
        "AutoRerunTimes": f.auto_rerun_times,
        "AutoRerunIntervalMillis": f.auto_rerun_interval_millis,
        "Timeout": f.timeout,
        "SchedulerType": f.scheduler_type,
        "CronExpress": "",
        "CycleType": "DAY",
        "StartImmediately": False,
        "Stop": False,
    }


def file_detail(f: FileView) -> Json:
    """GetFile `Data`: `File` and `NodeConfiguration`."""
    return {
        "File": {**file_item(f), "DeletedStatus": "NORMAL"},
        "NodeConfiguration": _node_configuration(f),
    }


def deployment(d: DeploymentView) -> Json:
    """GetDeployment `Data`: `Deployment` and its one `DeployedItems` entry."""
    return {
        "Deployment": {
            "Name": d.name,
            "CreatorId": d.creator,
            "HandlerId": d.creator,
            "CreateTime": d.created_at,
            "ExecuteTime": d.executed_at,
            "FromEnvironment": _ENVIRONMENT_CODES[d.from_env],
            "ToEnvironment": _ENVIRONMENT_CODES[d.to_env],
            "Status": int(d.status),
            "ErrorMessage": d.error_message,
            # 7 failed a check, 8 being checked; empty: no check holds it back. opcenter runs
            # no deployment checkers, so it is always empty (see service/deployments.py).
            "CheckingStatus": None,
        },
        "DeployedItems": [
            {"FileId": d.file_id, "FileVersion": d.file_version, "Status": int(d.status)}
        ],
    }


def deployment_item(d: DeploymentView) -> Json:
    """ListDeployments `Data.Deployments[]`: the executor is the creator (publication runs at
    once)."""
    return {
        "Id": d.deployment_id,
        "Name": d.name,
        "Status": int(d.status),
        "Creator": d.creator,
        "Executor": d.creator,
        "CreateTime": d.created_at,
        "ExecuteTime": d.executed_at,
        "ErrorMessage": d.error_message,
    }


def _compact(value: Json) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def file_version(v: FileVersionView) -> Json:
    """GetFileVersion `Data` / ListFileVersions `Data.FileVersions[]`.

    `FilePropertyContent` and `NodeContent` are JSON objects sent as strings (the SDK types them
    so): the file's properties and its node's settings in that version."""
    properties = {
        "fileName": v.file_name,
        "fileType": v.file_type,
        "fileDescription": v.file_description,
        "owner": v.owner,
        "businessId": v.business_id,
        "businessName": v.workflow_name,
    }
    node_settings = {
        "paraValue": v.para_value,
        "inputList": list(v.input_list),
        "outputList": list(v.output_list),
        "rerunMode": v.rerun_mode,
        "autoRerunTimes": v.auto_rerun_times,
        "autoRerunIntervalMillis": v.auto_rerun_interval_millis,
        "timeout": v.timeout,
        "schedulerType": v.scheduler_type,
        "priority": v.priority,
        "dependentType": v.dependent_type,
        "dependentNodeIdList": v.dependent_node_id_list,
    }
    return {
        "FileVersion": v.file_version,
        "FileName": v.file_name,
        "FileContent": v.content,
        "FilePropertyContent": _compact(properties),
        "NodeContent": _compact(node_settings),
        "NodeId": v.node_id,
        "Comment": v.comment,
        "CommitUser": v.commit_user,
        "CommitTime": v.commit_time,
        "ChangeType": v.change_type,
        "Status": v.status,
        "IsCurrentProd": v.is_current_prod,
        "UseType": v.use_type.value if v.use_type is not None else None,
    }


def folder(f: FolderView) -> Json:
    """GetFolder `Data` / ListFolders `Data.Folders[]`."""
    return {"FolderId": f.folder_id, "FolderPath": f.folder_path}


# --- nodes ------------------------------------------------------------------------------------


def node(n: NodeView, *, repeatability_as_text: bool = False) -> Json:
    """GetNode `Data` (Repeatability a string there) / ListNodes `Data.Nodes[]`.

    `OfflineTime` (when OfflineNode took the node offline there, else null) is opcenter's own."""
    return {
        "NodeId": n.node_id,
        "NodeName": n.node_name,
        "ProjectId": n.project_id,
        "BusinessId": n.business_id,
        "RelatedFlowId": n.business_id,
        "FileId": n.file_id,
        "FileVersion": n.file_version,
        "FileType": n.file_type,
        "ProgramType": n.program_type,
        "SchedulerType": n.scheduler_type,
        "ParamValues": n.para_value,
        "Priority": n.priority,
        "OwnerId": n.owner,
        "Description": n.description,
        "RepeatMode": n.repeat_mode,
        "Repeatability": (
            ("true" if n.repeatability else "false") if repeatability_as_text else n.repeatability
        ),
        "RepeatInterval": n.auto_rerun_interval_millis,
        "CreateTime": n.created_at,
        "ModifyTime": n.deploy_date,
        "DeployDate": n.deploy_date,
        "OfflineTime": n.offline_at,
        "BaselineId": None,
        "Connection": "",
        "CronExpress": "",
        "DqcType": 0,
        "DqcDescription": "",
        "ResGroupIdentifier": "",
        "ResGroupName": "",
    }


def node_relative(n: NodeView) -> Json:
    """GetNodeParents / GetNodeChildren `Data.Nodes[]`: same-cycle edges (StepType "0")."""
    return {
        "NodeId": n.node_id,
        "NodeName": n.node_name,
        "ProjectId": n.project_id,
        "ProgramType": n.program_type,
        "SchedulerType": n.scheduler_type,
        "Priority": n.priority,
        "OwnerId": n.owner,
        "Repeatability": n.repeatability,
        "StepType": "0",
        "BaselineId": None,
        "CronExpress": "",
    }


def node_io(io: NodeIOView) -> Json:
    """ListNodeIO / ListNodeInputOrOutput `Data[]`."""
    return {"Data": io.data, "NodeId": io.node_id, "TableName": io.table_name}


# --- running ----------------------------------------------------------------------------------


def dag(d: DagView) -> Json:
    """GetDag `Data` / ListDags `Data.Dags[]`."""
    return {
        "DagId": d.dag_id,
        "Name": d.name,
        "Type": d.type,
        "Status": d.status.value,
        "Bizdate": d.bizdate,
        "Gmtdate": d.gmtdate,
        "StartTime": d.start_time,
        "FinishTime": d.finish_time,
        "CreateTime": d.create_time,
        "ModifyTime": d.modify_time,
        "CreateUser": d.create_user,
        "OpSeq": d.op_seq,
        "ProjectId": d.project_id,
    }


def _instance_common(i: InstanceView) -> Json:
    return {
        "InstanceId": i.instance_id,
        "DagId": i.dag_id,
        "DagType": i.dag_type,
        "NodeId": i.node_id,
        "NodeName": i.node_name,
        "Status": i.status.value,
        "TaskType": i.task_type.value,
        "CycTime": i.cyc_time,
        "BeginWaitTimeTime": i.begin_wait_time_time,
        "BeginWaitResTime": i.begin_wait_res_time,
        "BeginRunningTime": i.begin_running_time,
        "FinishTime": i.finish_time,
        "CreateTime": i.create_time,
        "ModifyTime": i.modify_time,
        "CreateUser": i.create_user,
        "ParamValues": i.param_values,
    }


def manual_instance(i: InstanceView) -> Json:
    """GetManualDagInstances / ListManualDagInstances `Instances[]` (`BizDate` spelled so)."""
    return {**_instance_common(i), "BizDate": i.bizdate}


def instance(i: InstanceView) -> Json:
    """GetInstance `Data` / ListInstances `Data.Instances[]` (`Bizdate` spelled so)."""
    return {
        **_instance_common(i),
        "Bizdate": i.bizdate,
        "BusinessId": i.business_id,
        "RelatedFlowId": i.business_id,
        "Owner": i.owner,
        "Priority": i.priority,
        "Repeatability": i.repeatability,
        "RepeatInterval": i.repeat_interval,
        "TaskRerunTime": i.task_rerun_time,
        "Connection": i.connection,
        "ErrorMessage": i.error_message,
        "PeriodNumber": 1,
        "BaselineId": None,
        "DqcType": 1,
        "DqcDescription": "",
    }


def attempt(a: AttemptView) -> Json:
    """ListInstanceHistory `Instances[]`: one attempt, `InstanceHistoryId` its id."""
    return {
        "InstanceHistoryId": a.instance_history_id,
        "InstanceId": a.instance_id,
        "DagId": a.dag_id,
        "DagType": a.dag_type,
        "NodeId": a.node_id,
        "NodeName": a.node_name,
        "Status": a.status.value,
        "TaskType": a.task_type.value,
        "Bizdate": a.bizdate,
        "CycTime": a.cyc_time,
        "BeginWaitTimeTime": a.begin_wait_time_time,
        "BeginWaitResTime": a.begin_wait_res_time,
        "BeginRunningTime": a.begin_running_time,
        "FinishTime": a.finish_time,
        "CreateTime": a.create_time,
        "ModifyTime": a.modify_time,
        "ErrorMessage": a.error_message,
    }


def status_count(c: InstanceStatusCount) -> Mapping[str, int]:
    """GetInstanceStatusCount `StatusCount`."""
    return {
        "NotRunCount": c.not_run_count,
        "WaitTimeCount": c.wait_time_count,
        "WaitResCount": c.wait_res_count,
        "RunningCount": c.running_count,
        "FailureCount": c.failure_count,
        "SuccessCount": c.success_count,
        "TotalCount": c.total_count,
    }
