"""Files and their lifecycle: CreateFile, GetFile, ListFiles, UpdateFile, DeleteFile,
SubmitFile, DeployFile, GetDeployment, ListDeployments, ListFileVersions, GetFileVersion.

`FileFolderPath` ties a file to its workflow (`Business Flow/<workflow>/...`). `InputList` names
upstream outputs (`<workspace>.<file name>`, or `<workspace>_root`), comma-separated;
`OutputList` defaults to `<workspace>.<file name>`. SubmitFile publishes the draft to DEV (PROD
in a basic workspace) and DeployFile publishes it to PROD; both answer the DeploymentId.
Request parameters of DataWorks that configure what opcenter does not have (cron, effect
dates, connections) are accepted and ignored; `ResourceGroupIdentifier` (or `ResourceGroupId`)
is kept: the Celery queue of the node's attempts.
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.errors import InvalidParameter
from opcenter.service import deployments, files, versions

__all__ = [
    "create_file",
    "delete_file",
    "deploy_file",
    "get_deployment",
    "get_file",
    "get_file_version",
    "list_deployments",
    "list_file_versions",
    "list_files",
    "submit_file",
    "update_file",
]

# ListFiles filters opcenter does not serve: refused rather than silently ignored.
_UNSUPPORTED_FILTERS = ("FileIdIn", "LastEditUser")


def _workspace(call: Call) -> dict[str, Any]:
    return {
        "project_id": call.int("ProjectId"),
        "project_identifier": call.str("ProjectIdentifier"),
        "caller": render.caller_of(call),
    }


def _draft_fields(call: Call) -> dict[str, Any]:
    """The optional fields CreateFile and UpdateFile share; None: not sent."""
    return {
        "content": call.params.get("Content"),
        "para_value": call.params.get("ParaValue"),
        "output_list": call.params.get("OutputList"),
        "input_list": call.params.get("InputList"),
        "dependent_type": call.str("DependentType"),
        "dependent_node_id_list": call.params.get("DependentNodeIdList"),
        "rerun_mode": call.str("RerunMode"),
        "auto_rerun_times": call.int("AutoRerunTimes"),
        "auto_rerun_interval_millis": call.int("AutoRerunIntervalMillis"),
        "timeout": call.int("Timeout"),
        "scheduler_type": call.str("SchedulerType"),
        "file_description": call.params.get("FileDescription"),
        "owner": call.str("Owner"),
        # The resource group that runs the node: its Celery queue (docs/execution.md).
        "resource_group": call.str("ResourceGroupIdentifier"),
    }


@operation("CreateFile", resource=project_resource)
def create_file(call: Call) -> dict[str, Any]:
    """`Data` is the new FileId."""
    given = {k: v for k, v in _draft_fields(call).items() if v is not None}
    if "resource_group" not in given and call.has("ResourceGroupId"):
        given["resource_group"] = call.str("ResourceGroupId")
    created = files.create_file(
        call.services,
        file_name=call.str("FileName", required=True),
        file_folder_path=call.str("FileFolderPath", required=True),
        file_type=call.int("FileType", required=True),
        **given,
        **_workspace(call),
    )
    return render.ok(Data=created.file_id)


@operation("GetFile", resource=project_resource)
def get_file(call: Call) -> dict[str, Any]:
    found = files.get_file(
        call.services,
        file_id=call.int("FileId"),
        node_id=call.int("NodeId"),
        **_workspace(call),
    )
    return render.ok(Data=render.file_detail(found))


@operation("ListFiles", resource=project_resource)
def list_files(call: Call) -> dict[str, Any]:
    for name in _UNSUPPORTED_FILTERS:
        if call.has(name):
            raise InvalidParameter(
                f'The specified value of parameter "{name}" is not valid: opcenter does not '
                f"filter files by {name}."
            )
    result = files.list_files(
        call.services,
        keyword=call.str("Keyword"),
        exact_file_name=call.str("ExactFileName"),
        file_folder_path=call.str("FileFolderPath"),
        file_types=call.str("FileTypes"),
        node_id=call.int("NodeId"),
        owner=call.str("Owner"),
        use_type=call.str("UseType"),
        business_id=call.int("BusinessId"),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        **_workspace(call),
    )
    content = call.bool("NeedContent", default=False)
    items = [render.file_item(f, content=content) for f in result.items]
    return render.ok(Data=render.page("Files", result, items))


@operation("UpdateFile", resource=project_resource)
def update_file(call: Call) -> dict[str, Any]:
    files.update_file(
        call.services,
        file_id=call.int("FileId", required=True),
        file_name=call.str("FileName"),
        file_folder_path=call.str("FileFolderPath"),
        **_draft_fields(call),
        **_workspace(call),
    )
    return render.ok()


@operation("DeleteFile", resource=project_resource)
def delete_file(call: Call) -> dict[str, Any]:
    """`DeploymentId` records the removal of a submitted file's node (null if never submitted)."""
    deployment_id = files.delete_file(
        call.services, file_id=call.int("FileId", required=True), **_workspace(call)
    )
    return render.ok(DeploymentId=deployment_id)


@operation("SubmitFile", resource=project_resource)
def submit_file(call: Call) -> dict[str, Any]:
    published = deployments.submit_file(
        call.services,
        file_id=call.int("FileId", required=True),
        comment=call.str("Comment", default=""),
        **_workspace(call),
    )
    return render.ok(Data=published.deployment_id)


@operation("DeployFile", resource=project_resource)
def deploy_file(call: Call) -> dict[str, Any]:
    published = deployments.deploy_file(
        call.services,
        file_id=call.int("FileId"),
        node_id=call.int("NodeId"),
        comment=call.str("Comment", default=""),
        **_workspace(call),
    )
    return render.ok(Data=published.deployment_id)


@operation("GetDeployment", resource=project_resource)
def get_deployment(call: Call) -> dict[str, Any]:
    found = deployments.get_deployment(
        call.services, deployment_id=call.int("DeploymentId", required=True), **_workspace(call)
    )
    return render.ok(Data=render.deployment(found))


@operation("ListDeployments", resource=project_resource)
def list_deployments(call: Call) -> dict[str, Any]:
    """The workspace's submits, deploys and removals, newest first. The SDK's model has no
    `Success` / `HttpStatusCode` here, so the answer is `Data` alone."""
    result = deployments.list_deployments(
        call.services,
        creator=call.str("Creator"),
        executor=call.str("Executor"),
        keyword=call.str("Keyword"),
        status=call.int("Status"),
        end_create_time=call.int("EndCreateTime"),
        end_execute_time=call.int("EndExecuteTime"),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        **_workspace(call),
    )
    items = [render.deployment_item(d) for d in result.items]
    return {"Data": render.page("Deployments", result, items)}


@operation("ListFileVersions", resource=project_resource)
def list_file_versions(call: Call) -> dict[str, Any]:
    result = versions.list_file_versions(
        call.services,
        file_id=call.int("FileId", required=True),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        **_workspace(call),
    )
    items = [render.file_version(v) for v in result.items]
    return render.ok(Data=render.page("FileVersions", result, items))


@operation("GetFileVersion", resource=project_resource)
def get_file_version(call: Call) -> dict[str, Any]:
    found = versions.get_file_version(
        call.services,
        file_id=call.int("FileId", required=True),
        file_version=call.int("FileVersion", required=True),
        **_workspace(call),
    )
    return render.ok(Data=render.file_version(found))
