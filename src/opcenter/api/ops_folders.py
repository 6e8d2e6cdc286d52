"""Folders of a workspace's files: CreateFolder, GetFolder, ListFolders, UpdateFolder,
DeleteFolder.

A folder is a path such as `Business Flow/<workflow>/scripts`, with a string `FolderId`. How
folders and files relate (a file's folders always exist; a workflow owns its folder; renaming
moves what is inside; only an empty folder can be deleted) is in `service/folders.py`.
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.service import folders

__all__ = ["create_folder", "delete_folder", "get_folder", "list_folders", "update_folder"]


def _workspace(call: Call) -> dict[str, Any]:
    return {
        "project_id": call.int("ProjectId"),
        "project_identifier": call.str("ProjectIdentifier"),
        "caller": render.caller_of(call),
    }


@operation("CreateFolder", resource=project_resource)
def create_folder(call: Call) -> dict[str, Any]:
    """`Data` is the new FolderId."""
    created = folders.create_folder(
        call.services, folder_path=call.str("FolderPath", required=True), **_workspace(call)
    )
    return render.ok(Data=created.folder_id)


@operation("GetFolder", resource=project_resource)
def get_folder(call: Call) -> dict[str, Any]:
    found = folders.get_folder(
        call.services,
        folder_id=call.str("FolderId"),
        folder_path=call.str("FolderPath"),
        **_workspace(call),
    )
    return render.ok(Data=render.folder(found))


@operation("ListFolders", resource=project_resource)
def list_folders(call: Call) -> dict[str, Any]:
    result = folders.list_folders(
        call.services,
        parent_folder_path=call.str("ParentFolderPath", required=True),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        **_workspace(call),
    )
    items = [render.folder(f) for f in result.items]
    return render.ok(Data=render.page("Folders", result, items))


@operation("UpdateFolder", resource=project_resource)
def update_folder(call: Call) -> dict[str, Any]:
    folders.update_folder(
        call.services,
        folder_id=call.str("FolderId", required=True),
        folder_name=call.str("FolderName", required=True),
        **_workspace(call),
    )
    return render.ok()


@operation("DeleteFolder", resource=project_resource)
def delete_folder(call: Call) -> dict[str, Any]:
    folders.delete_folder(
        call.services, folder_id=call.str("FolderId", required=True), **_workspace(call)
    )
    return render.ok()
