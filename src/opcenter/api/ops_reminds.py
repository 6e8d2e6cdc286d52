"""Custom alert rules and their alerts: CreateRemind, GetRemind, ListReminds, UpdateRemind,
DeleteRemind, ListAlertMessages, GetAlertMessage.

What a rule means, and what opcenter supports of DataWorks' fields, is in `service/reminds.py`
and docs/alerts.md. A rule is authorized on its workspace: the one `ProjectId` names, else the
workspace of the first of `NodeIds` or `BizProcessIds` (CreateRemind), of the rule `RemindId`,
or of the alert `AlertId`. ListReminds and ListAlertMessages name no workspace: they show what
lies in the workspaces the caller may see.
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.errors import MissingParameter
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import iam, reminds
from opcenter.service.reminds import AlertMessageView, RemindView

__all__ = [
    "create_remind",
    "delete_remind",
    "get_alert_message",
    "get_remind",
    "list_alert_messages",
    "list_reminds",
    "update_remind",
]

Json = dict[str, Any]


# --- resources ------------------------------------------------------------------------------


def _first_id(call: Call, name: str) -> int | None:
    ids = call.int_list(name)
    return ids[0] if ids else None


def _create_resource(call: Call) -> WorkspaceRef | str:
    """`ProjectId`'s workspace, else that of the first node or workflow the rule watches."""
    if call.has("ProjectId"):
        return project_resource(call)
    node_id = _first_id(call, "NodeIds")
    if node_id is not None:
        return iam.workspace_of(call.services, "NodeId", node_id)
    business_id = _first_id(call, "BizProcessIds")
    if business_id is not None:
        return reminds.workspace_of_workflow(call.services, business_id)
    raise MissingParameter("ProjectId")


def _remind_resource(call: Call) -> WorkspaceRef:
    return reminds.workspace_of_remind(call.services, call.int("RemindId", required=True))


def _alert_resource(call: Call) -> WorkspaceRef:
    return reminds.workspace_of_alert(call.services, call.str("AlertId", required=True))


# --- rendering ------------------------------------------------------------------------------


def _dnd_start(r: RemindView) -> str | None:
    return "00:00" if r.dnd_end else None


def _ids_of(r: RemindView, kind: str) -> list[int]:
    return [t.target_id for t in r.targets if t.kind == kind]


def _remind_item(r: RemindView) -> Json:
    """ListReminds `Data.Reminds[]`."""
    return {
        "RemindId": r.remind_id,
        "RemindName": r.remind_name,
        "RemindUnit": r.remind_unit,
        "RemindType": r.remind_type,
        "AlertUnit": r.alert_unit,
        "AlertTargets": list(r.alert_targets),
        "AlertMethods": list(r.alert_methods),
        "DndStart": _dnd_start(r),
        "DndEnd": r.dnd_end,
        "Founder": r.founder,
        "Useflag": r.use_flag,
        "ProjectIds": _ids_of(r, "PROJECT"),
        "BizProcessIds": _ids_of(r, "BIZPROCESS"),
        "NodeIds": _ids_of(r, "NODE"),
        "BaselineIds": [],
    }


def _remind_detail(r: RemindView) -> Json:
    """GetRemind `Data`."""
    return {
        "RemindId": r.remind_id,
        "RemindName": r.remind_name,
        "RemindUnit": r.remind_unit,
        "RemindType": r.remind_type,
        "Detail": r.detail,
        "AlertUnit": r.alert_unit,
        "AlertTargets": list(r.alert_targets),
        "AlertMethods": list(r.alert_methods),
        "AlertInterval": r.alert_interval,
        "MaxAlertTimes": r.max_alert_times,
        "DndStart": _dnd_start(r),
        "DndEnd": r.dnd_end,
        "Founder": r.founder,
        "Useflag": r.use_flag,
        "Receivers": [{"AlertUnit": r.alert_unit, "AlertTargets": list(r.alert_targets)}],
        "Robots": [{"WebUrl": url, "AtAll": False} for url in r.robot_urls],
        "Webhooks": list(r.webhooks),
        "AllowNodes": [],
        "Projects": [{"ProjectId": t.target_id} for t in r.targets if t.kind == "PROJECT"],
        "BizProcesses": [
            {"BizId": t.target_id, "BizProcessName": t.name}
            for t in r.targets
            if t.kind == "BIZPROCESS"
        ],
        "Nodes": [
            {"NodeId": t.target_id, "NodeName": t.name, "Owner": t.owner, "ProjectId": t.project_id}
            for t in r.targets
            if t.kind == "NODE"
        ],
        "Baselines": [],
    }


def _alert(m: AlertMessageView) -> Json:
    """GetAlertMessage `Data` / ListAlertMessages `Data.AlertMessages[]`."""
    instances = []
    if m.instance_id is not None:
        instances.append(
            {
                "InstanceId": m.instance_id,
                "NodeId": m.node_id,
                "NodeName": m.node_name,
                "ProjectId": m.project_id,
                "Status": m.instance_status,
            }
        )
    nodes = []
    if m.node_id is not None:
        nodes.append(
            {
                "NodeId": m.node_id,
                "NodeName": m.node_name,
                "Owner": m.node_owner,
                "ProjectId": m.project_id,
            }
        )
    return {
        "AlertId": m.alert_id,
        "AlertMessageStatus": m.status,
        "AlertMethod": ",".join(m.methods),
        "AlertUser": ",".join(m.users),
        "AlertTime": m.created_at,
        "Source": m.source,
        "Content": m.content,
        "RemindId": m.remind_id,
        "RemindName": m.remind_name,
        "Instances": instances,
        "Nodes": nodes,
        "Topics": [],
        "SlaAlert": None,
    }


# --- operations -----------------------------------------------------------------------------


def _fields(call: Call) -> dict[str, Any]:
    """The rule fields CreateRemind and UpdateRemind share, as sent (None when absent)."""
    return {
        "remind_name": call.str("RemindName"),
        "remind_unit": call.str("RemindUnit"),
        "remind_type": call.str("RemindType"),
        "detail": call.params.get("Detail"),
        "alert_unit": call.str("AlertUnit"),
        "alert_targets": call.params.get("AlertTargets"),
        "alert_methods": call.str("AlertMethods"),
        "biz_process_ids": call.str("BizProcessIds"),
        "node_ids": call.str("NodeIds"),
        "robot_urls": call.params.get("RobotUrls"),
        "webhooks": call.params.get("Webhooks"),
        "alert_interval": call.int("AlertInterval"),
        "max_alert_times": call.int("MaxAlertTimes"),
        "dnd_end": call.params.get("DndEnd"),
    }


@operation("CreateRemind", resource=_create_resource, in_request_transaction=True)
def create_remind(call: Call) -> dict[str, Any]:
    """`Data` is the new RemindId."""
    if call.workspace is None:  # a ProjectId that names no workspace was refused already
        raise MissingParameter("ProjectId")
    created = reminds.create_remind(
        call.services,
        project_id=call.workspace.id,
        baseline_ids=call.str("BaselineIds"),
        caller=render.caller_of(call),
        **_fields(call),
    )
    return render.ok(Data=created.remind_id)


@operation("GetRemind", resource=_remind_resource, in_request_transaction=True)
def get_remind(call: Call) -> dict[str, Any]:
    found = reminds.get_remind(call.services, remind_id=call.int("RemindId", required=True))
    return render.ok(Data=_remind_detail(found))


@operation("ListReminds", in_request_transaction=True)
def list_reminds(call: Call) -> dict[str, Any]:
    result = reminds.list_reminds(
        call.services,
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        search_text=call.str("SearchText"),
        founder=call.str("Founder"),
        remind_types=call.str("RemindTypes"),
        alert_target=call.str("AlertTarget"),
        node_id=call.int("NodeId"),
        caller=render.caller_of(call),
    )
    return render.ok(Data=render.page("Reminds", result, map(_remind_item, result.items)))


@operation("UpdateRemind", resource=_remind_resource, in_request_transaction=True)
def update_remind(call: Call) -> dict[str, Any]:
    reminds.update_remind(
        call.services,
        remind_id=call.int("RemindId", required=True),
        project_id=call.int("ProjectId"),
        use_flag=call.bool("UseFlag"),
        **_fields(call),
    )
    return render.ok(Data=True)


@operation("DeleteRemind", resource=_remind_resource, in_request_transaction=True)
def delete_remind(call: Call) -> dict[str, Any]:
    reminds.delete_remind(call.services, remind_id=call.int("RemindId", required=True))
    return render.ok(Data=True)


@operation("ListAlertMessages", in_request_transaction=True)
def list_alert_messages(call: Call) -> dict[str, Any]:
    result = reminds.list_alert_messages(
        call.services,
        begin_time=call.str("BeginTime", required=True),
        end_time=call.str("EndTime", required=True),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        alert_methods=call.str("AlertMethods"),
        alert_rule_types=call.str("AlertRuleTypes"),
        alert_user=call.str("AlertUser"),
        remind_id=call.int("RemindId"),
        baseline_id=call.int("BaselineId"),
        caller=render.caller_of(call),
    )
    return render.ok(Data=render.page("AlertMessages", result, map(_alert, result.items)))


@operation("GetAlertMessage", resource=_alert_resource, in_request_transaction=True)
def get_alert_message(call: Call) -> dict[str, Any]:
    found = reminds.get_alert_message(call.services, alert_id=call.str("AlertId", required=True))
    return render.ok(Data=_alert(found))
