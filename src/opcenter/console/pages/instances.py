"""The instance panel's JSON: one instance (state, times, attempts, parameters, code version and
which operations it allows), the actions of several, its log a page at a time, and operating on
one or several instances.

Each request names instances by id only; the instance's own workspace and environment decide
(as the API's `instance_resource` does), and the page asks the authorizer with the API's RAM
actions: GetInstance, ListInstanceHistory, GetInstanceLog, and RestartInstance,
SetSuccessInstance, StopInstance, SuspendInstance, ResumeInstance for the operations. What the
state allows comes from `service.instances.instance_actions` (the rules the operations check);
what the user may do from `page.access.denial`. Nothing is decided in the template or the script.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response

from opcenter.console.web import Page, page_route
from opcenter.domain.states import Action, Refusal
from opcenter.errors import InvalidParameter, NotFound, OpcenterError
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import history, iam, instances, logs
from opcenter.service.reruns import version_label
from opcenter.service.run_views import AttemptView, InstanceView

ENVS = ("PROD", "DEV")
LOG_PAGE_BYTES = 64 * 1024  # what one read of the panel's log returns at most
MAX_SELECTED = 200  # instances one request may name


def locate(page: Page, instance_id: int) -> tuple[WorkspaceRef, str]:
    """The workspace and the environment of an instance (NotFound when it has neither)."""
    missing: NotFound | None = None
    for env in ENVS:
        try:
            return iam.workspace_of_instance(page.ctx, instance_id, env), env
        except NotFound as error:
            missing = error
    assert missing is not None
    raise missing


def _ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_SELECTED or not all(p.isdigit() for p in parts):
        raise InvalidParameter(f"ids={text!r} must be 1 to {MAX_SELECTED} instance ids.")
    return list(dict.fromkeys(int(p) for p in parts))


def _reason(page: Page, refused: Refusal) -> str:
    key = f"op.reason.{refused.reason}"
    return page.t(key, status=refused.status.value, id=refused.instance_id)


def _actions(page: Page, ws: WorkspaceRef, env: str, instance_id: int) -> dict[str, Any]:
    """Per action: allowed, or the reason shown beside its disabled button (the user's
    permission first, then the instance's state)."""
    states = instances.instance_actions(page.ctx, instance_id=instance_id, project_env=env)
    denied: dict[str, str | None] = {}
    out: dict[str, Any] = {}
    for action, refused in states.items():
        op = action.operation.value
        if op not in denied:
            why = page.access.denial(op, ws.identifier, env)
            denied[op] = None if why is None else page.t("op.reason.denied", message=why)
        reason = denied[op] or (None if refused is None else _reason(page, refused))
        out[action.value] = {"allowed": reason is None, "reason": reason}
    return out


def _summary(view: InstanceView) -> dict[str, Any]:
    return {
        "id": view.instance_id,
        "node": view.node_id,
        "nodeName": view.node_name,
        "dagId": view.dag_id,
        "status": view.status.value,
        "suspended": view.suspended,
        "taskType": view.task_type.value,
        "attempt": view.attempt,
        "finished": view.status.finished,
    }


def _attempt(a: AttemptView) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "status": a.status.value,
        "begin": a.begin_running_time,
        "finish": a.finish_time,
        "error": a.error_message,
    }


def _detail(page: Page, instance_id: int) -> dict[str, Any]:
    ws, env = locate(page, instance_id)
    page.access.check("GetInstance", ws.identifier, env)
    view = instances.get_instance(page.ctx, instance_id=instance_id, project_env=env)
    attempts: list[dict[str, Any]] | None = None
    if page.access.allows("ListInstanceHistory", ws.identifier, env):
        found = history.list_instance_history(page.ctx, instance_id=instance_id, project_env=env)
        attempts = [_attempt(a) for a in found]
    return {
        **_summary(view),
        "workspace": ws.identifier,
        "env": env,
        "owner": view.owner,
        "stoppedBy": view.stopped_by,
        "error": view.error_message,
        "params": view.param_values,
        "version": version_label(page.ctx, view.version_id) if view.version_id else "",
        "times": {
            "created": view.create_time,
            "waitTime": view.begin_wait_time_time,
            "waitResource": view.begin_wait_res_time,
            "running": view.begin_running_time,
            "finish": view.finish_time,
        },
        "attempts": attempts,
        "actions": _actions(page, ws, env, instance_id),
    }


def _json(body: Any) -> Response:
    response = JSONResponse(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@page_route("/instances/{instance_id:int}")
async def instance_detail(page: Page) -> Response:
    """GET: one instance, for the panel (GetInstance; its attempts with ListInstanceHistory)."""
    return _json(await page.run(_detail, page, page.request.path_params["instance_id"]))


def _selected(page: Page, ids: list[int]) -> list[dict[str, Any]]:
    out = []
    for instance_id in ids:
        ws, env = locate(page, instance_id)
        page.access.check("GetInstance", ws.identifier, env)
        view = instances.get_instance(page.ctx, instance_id=instance_id, project_env=env)
        out.append({**_summary(view), "actions": _actions(page, ws, env, instance_id)})
    return out


@page_route("/instances")
async def instances_selected(page: Page) -> Response:
    """GET `?ids=1,2,3`: several instances with the actions each allows (a multi-selection)."""
    ids = _ids(page.request.query_params.get("ids", ""))
    return _json({"instances": await page.run(_selected, page, ids)})


def _int_param(page: Page, name: str) -> int | None:
    text = page.request.query_params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise InvalidParameter(f"{name}={text!r} must be a whole number.")
    return int(text)


def _log(page: Page, instance_id: int, offset: int | None, attempt: int | None) -> dict[str, Any]:
    ws, env = locate(page, instance_id)
    page.access.check("GetInstanceLog", ws.identifier, env)
    view = instances.get_instance(page.ctx, instance_id=instance_id, project_env=env)
    read = logs.read_instance_log
    kw: dict[str, Any] = {"instance_id": instance_id, "project_env": env, "attempt": attempt}
    if offset is None:  # the first read: the end of the log
        got = read(page.ctx, limit=LOG_PAGE_BYTES, tail=True, **kw)
    else:
        got = read(page.ctx, offset=offset, limit=LOG_PAGE_BYTES, **kw)
    return {
        "attempt": got.attempt,
        "text": got.text,
        "offset": got.offset,
        "next": got.next_offset,
        "size": got.size,
        # the attempt read is over: the instance moved on to another one, or finished
        "finished": view.attempt != got.attempt or view.status.finished,
    }


@page_route("/instances/{instance_id:int}/log")
async def instance_log(page: Page) -> Response:
    """GET `?offset=&attempt=`: a page of an attempt's log (GetInstanceLog); without an offset,
    its last 64 KiB. The panel reads on from `next` while the attempt runs."""
    instance_id = page.request.path_params["instance_id"]
    offset, attempt = _int_param(page, "offset"), _int_param(page, "attempt")
    return _json(await page.run(_log, page, instance_id, offset, attempt))


Operate = Callable[..., Any]
_OPERATIONS: dict[Action, tuple[Operate, dict[str, Any]]] = {
    Action.RERUN: (instances.restart_instance, {}),
    Action.RERUN_LATEST: (instances.restart_instance, {"use_latest": True}),
    Action.RERUN_DOWNSTREAM: (instances.rerun_with_downstream, {}),
    Action.SET_SUCCESS: (instances.set_success_instance, {}),
    Action.STOP: (instances.stop_instance, {}),
    Action.SUSPEND: (instances.suspend_instance, {}),
    Action.RESUME: (instances.resume_instance, {}),
}


def _action(name: Any) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise InvalidParameter(f"action={name!r} is not an operation of the page.") from None


def _operate(page: Page, action: Action, ids: list[int]) -> list[dict[str, Any]]:
    """Check the user may do `action` on every instance (any denial refuses the whole request,
    audited), then do it on each; one instance's refusal does not stop the others."""
    where = {i: locate(page, i) for i in ids}
    for ws, env in dict.fromkeys(where.values()):
        page.access.check(action.operation.value, ws.identifier, env)
    function, extra = _OPERATIONS[action]
    caller = page.access.caller
    results: list[dict[str, Any]] = []
    done: set[int] = set()
    for instance_id in ids:
        if instance_id in done:  # already rerun as the downstream of another selected one
            results.append({"id": instance_id, "ok": True, "with": True})
            continue
        env = where[instance_id][1]
        try:
            answer = function(
                page.ctx, instance_id=instance_id, project_env=env, caller=caller, **extra
            )
        except OpcenterError as error:
            results.append({"id": instance_id, "ok": False, **_error(error)})
            continue
        if isinstance(answer, list):
            done.update(answer)
        results.append({"id": instance_id, "ok": True})
    return results


def _error(error: OpcenterError) -> dict[str, str]:
    return {"Code": error.code, "Message": error.message}


@page_route("/instances/operate", methods=("POST",))
async def operate(page: Page) -> Response:
    """POST JSON `{"action": "rerun", "ids": [..]}` → `{"results": [{id, ok, Code?, Message?}]}`
    (the service functions of the API's operations, after the same authorization)."""
    try:
        body = json.loads(await page.request.body() or b"{}")
    except ValueError:
        raise InvalidParameter("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    action = _action(body.get("action"))
    raw = body.get("ids")
    if not isinstance(raw, list):
        raise InvalidParameter("ids must be a list of instance ids.")
    ids = _ids(",".join(str(i) for i in raw))
    return _json({"results": await page.run(_operate, page, action, ids)})
