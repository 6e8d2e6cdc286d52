"""Workflows: the manual workflows of a workspace environment, one workflow's deployed DAG, and
its run form (preview, then Run).

    GET  /w/{ws}/{env}/workflows                   ListBusiness
    GET  /w/{ws}/{env}/workflows/{name}            GetBusiness: the DAG, the nodes, the form
    POST /w/{ws}/{env}/workflows/{name}/preview    GetBusiness: the form with the preview
    POST /w/{ws}/{env}/workflows/{name}/run        RunManualDagNodes → /console/dags/<DagId>

The run goes through `runs.start_manual_run` with RunManualDagNodes' own checks (the
authorizer, and `may_edit_code` = may the user UpdateFile in the workspace); the preview
through `preview.preview_run`, the same planning and parameter resolution without writing. An
error of either is shown beside the field it names (console/run_form.py); a script's request
(`Accept: application/json`) gets `{Code, Message, Field}` instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import JSONResponse, RedirectResponse, Response

from opcenter.console.run_form import MARKS, RunForm, error_field
from opcenter.console.web import PREFIX, Page, page_route
from opcenter.errors import OpcenterError
from opcenter.service import manual_flows, preview, runs
from opcenter.service.manual_flows import ManualFlow
from opcenter.service.preview import RunPreview

PREVIEW_DATES = 7  # the dates of a range the preview resolves and shows (the first ones)

try:  # the graph's layered layout (console/layout.py); the page lists the nodes without it
    from opcenter.console.layout import graph_data
except ImportError:  # pragma: no cover - until the graph component is part of the tree
    graph_data = None


def _where(page: Page) -> tuple[str, str]:
    params = page.request.path_params
    return params["ws"], params["env"]


@page_route("/w/{ws}/{env}/workflows")
async def workflow_list(page: Page) -> Response:
    ws, env = _where(page)
    page.access.check("ListBusiness", ws, env)
    flows = await page.run(
        manual_flows.list_manual_flows,
        page.ctx,
        project_identifier=ws,
        project_env=env,
        caller=page.access.caller,
    )
    return page.render("workflows.html", ws=ws, env=env, section="workflows", flows=flows)


async def _flow(page: Page, operation: str = "GetBusiness") -> ManualFlow:
    """The workflow of the path, once the user may perform `operation` on its workspace."""
    ws, env = _where(page)
    page.access.check(operation, ws, env)
    return await page.run(
        manual_flows.manual_flow,
        page.ctx,
        project_identifier=ws,
        project_env=env,
        flow_name=page.request.path_params["name"],
        caller=page.access.caller,
    )


def _graph(flow: ManualFlow) -> dict[str, Any] | None:
    if graph_data is None or not flow.nodes:
        return None
    nodes = [{"id": n.node_id, "name": n.name, "type": n.type_name} for n in flow.nodes]
    return graph_data(nodes, flow.edges)


def _show(
    page: Page,
    flow: ManualFlow,
    form: RunForm,
    *,
    shown: RunPreview | None = None,
    error: OpcenterError | None = None,
    status: int = 200,
) -> Response:
    ws, env = _where(page)
    where = error_field(error, form) if error is not None else None
    return page.render(
        "workflow.html",
        status=status,
        ws=ws,
        env=env,
        section="workflows",
        flow=flow,
        form=form,
        marks=MARKS,
        graph=_graph(flow),
        preview=shown,
        field_error={where: error.message} if error is not None and where else {},
        form_error=error if error is not None and not where else None,
        run_denied=page.access.denial("RunManualDagNodes", ws, env),
        workflow_params=_workflow_params(flow),
    )


def _workflow_params(flow: ManualFlow) -> list[tuple[str, str]]:
    """(name, default) of the workflow's parameters (`k=v` pieces)."""
    pairs = []
    for piece in flow.parameters.split():
        name, _, value = piece.partition("=")
        if name:
            pairs.append((name, value))
    return pairs


def _yesterday(page: Page) -> dt.date:
    return dt.datetime.now(page.ctx.settings.tz).date() - dt.timedelta(days=1)


@page_route("/w/{ws}/{env}/workflows/{name}")
async def workflow(page: Page) -> Response:
    flow = await _flow(page)
    return _show(page, flow, RunForm.blank(flow, _yesterday(page)))


def _service_call(page: Page, flow: ManualFlow, form: RunForm) -> dict[str, Any]:
    ws, env = _where(page)
    return {
        "project_env": env,
        "project_name": ws,
        "flow_name": flow.name,
        "caller": page.access.caller,
        "may_edit_code": page.access.allows("UpdateFile", ws),
        **form.call(),
    }


def _refused(page: Page, flow: ManualFlow, form: RunForm, error: OpcenterError) -> Response:
    if page.wants_json:
        body = {
            "Code": error.code,
            "Message": error.message,
            "Field": error_field(error, form),
            "RequestId": page.request_id,
        }
        return JSONResponse(body, status_code=error.http_status)
    return _show(page, flow, form, error=error, status=error.http_status)


@page_route("/w/{ws}/{env}/workflows/{name}/preview", methods=("POST",))
async def preview_form(page: Page) -> Response:
    flow = await _flow(page)
    form = RunForm.read(await page.form(), flow)
    call = _service_call(page, flow, form)
    try:
        shown = await page.run(preview.preview_run, page.ctx, max_dates=PREVIEW_DATES, **call)
    except OpcenterError as error:
        return _refused(page, flow, form, error)
    return _show(page, flow, form, shown=shown)


@page_route("/w/{ws}/{env}/workflows/{name}/run", methods=("POST",))
async def run(page: Page) -> Response:
    # RunManualDagNodes' checks only, as the API makes them (not GetBusiness as well).
    flow = await _flow(page, "RunManualDagNodes")
    form = RunForm.read(await page.form(), flow)
    try:
        created = await page.run(runs.start_manual_run, page.ctx, **_service_call(page, flow, form))
    except OpcenterError as error:
        return _refused(page, flow, form, error)
    target = f"{PREFIX}/dags/{created.dag_id}"
    if page.wants_json:
        return JSONResponse({"DagId": created.dag_id, "OpSeq": created.op_seq, "Url": target})
    return RedirectResponse(target, status_code=303)
