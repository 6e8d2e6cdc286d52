"""Workflows (business flows): CreateBusiness, GetBusiness, ListBusiness, UpdateBusiness,
DeleteBusiness.

`UseType` is `MANUAL_BIZ` (manually triggered; the default) or `NORMAL`. `Parameters` — the
workflow parameters with their default values, `k=v k2=v2` — is opcenter's own parameter of
CreateBusiness and UpdateBusiness (DataWorks sets them in its editor); the SDK does not send it,
a generic `call_api` can.
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, operation
from opcenter.service import workflows

__all__ = [
    "create_business",
    "delete_business",
    "get_business",
    "list_business",
    "update_business",
]


def _workspace(call: Call) -> dict[str, Any]:
    return {
        "project_id": call.int("ProjectId"),
        "project_identifier": call.str("ProjectIdentifier"),
        "caller": render.caller_of(call),
    }


@operation("CreateBusiness", resource=project_resource)
def create_business(call: Call) -> dict[str, Any]:
    created = workflows.create_business(
        call.services,
        business_name=call.str("BusinessName", required=True),
        use_type=call.str("UseType", default="MANUAL_BIZ"),
        description=call.str("Description", default=""),
        owner=call.str("Owner"),
        parameters=call.str("Parameters", default=""),
        **_workspace(call),
    )
    return render.ok(BusinessId=created.business_id)


@operation("GetBusiness", resource=project_resource)
def get_business(call: Call) -> dict[str, Any]:
    found = workflows.get_business(
        call.services, business_id=call.int("BusinessId", required=True), **_workspace(call)
    )
    return render.ok(Data=render.business(found, project_id_as_text=True))


@operation("ListBusiness", resource=project_resource)
def list_business(call: Call) -> dict[str, Any]:
    result = workflows.list_business(
        call.services,
        keyword=call.str("Keyword"),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        **_workspace(call),
    )
    items = [render.business(b) for b in result.items]
    return render.ok(Data=render.page("Business", result, items))


@operation("UpdateBusiness", resource=project_resource)
def update_business(call: Call) -> dict[str, Any]:
    workflows.update_business(
        call.services,
        business_id=call.int("BusinessId", required=True),
        business_name=call.str("BusinessName"),
        description=call.str("Description"),
        owner=call.str("Owner"),
        parameters=call.params.get("Parameters"),
        **_workspace(call),
    )
    return render.ok()


@operation("DeleteBusiness", resource=project_resource)
def delete_business(call: Call) -> dict[str, Any]:
    workflows.delete_business(
        call.services, business_id=call.int("BusinessId", required=True), **_workspace(call)
    )
    return render.ok()
