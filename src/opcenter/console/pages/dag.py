"""A run's page: one Dag drawn as its graph, its states kept live by server-sent events.

    GET /dags/{id}          the page (header, counts per state, the other dates of the run, graph)
    GET /dags/{id}/graph    the graph's data as JSON (layout.py graph_data)
    GET /dags/{id}/events   server-sent events: a snapshot of every instance's state, then the
                            change feed's deltas (`{"instances": [...], "dags": {id: status}}`)

The Dag's workspace and environment come from its row; each request is decided as GetDag (the
page) and GetManualDagInstances (the instances' states) would be, on that workspace and env.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from opcenter.console.feed import instance_state
from opcenter.console.layout import graph_data
from opcenter.console.web import Page, page_route
from opcenter.errors import OpcenterError
from opcenter.service import iam, runs
from opcenter.service.dag_graph import dag_env, dag_graph, dag_states

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 1000
# The states the header counts, in the order a run goes through them.
COUNTED = ("NOT_RUN", "WAIT_TIME", "WAIT_RESOURCE", "RUNNING", "SUCCESS", "FAILURE")


async def _where(page: Page, operation: str) -> tuple[int, str, str]:
    """The Dag of the request, its workspace (identifier) and env, once `operation` is allowed
    there (otherwise the denial is raised, and audited, as the API does)."""
    dag_id = int(page.request.path_params["dag_id"])
    env = await page.run(dag_env, page.ctx, dag_id)
    ws = await page.run(iam.workspace_of_dag, page.ctx, dag_id, env)
    await page.run(page.access.check, operation, ws.identifier, env)
    return dag_id, ws.identifier, env


def _counts(states: list[dict[str, Any]]) -> dict[str, int]:
    counted = Counter(s["status"] for s in states)
    counts = {status: counted.get(status, 0) for status in COUNTED}
    counts.update({s: n for s, n in counted.items() if s not in counts})
    return counts


@page_route("/dags/{dag_id:int}")
async def dag_page(page: Page) -> Response:
    dag_id, ws, env = await _where(page, "GetDag")
    await page.run(page.access.check, "GetManualDagInstances", ws, env)
    dag = await page.run(runs.get_dag, page.ctx, dag_id=dag_id, project_env=env)
    graph = await page.run(dag_graph, page.ctx, dag_id=dag_id, project_env=env)
    states = [instance_state(r) for r in graph.instances]
    siblings = []
    if await page.run(page.access.allows, "ListDags", ws, env):
        siblings = await page.run(runs.list_dags, page.ctx, op_seq=dag.op_seq, project_env=env)
    data = await page.run(graph_data, graph.nodes, graph.edges, states)
    return page.render(
        "dag.html",
        ws=ws,
        env=env,
        section="runs",
        dag=dag,
        siblings=siblings,
        counts=_counts(states),
        suspended=sum(1 for s in states if s["suspended"]),
        # Inside <script>: no "<" may end it early (a node named "</script>").
        graph_json=json.dumps(data, separators=(",", ":")).replace("<", "\\u003c"),
    )


@page_route("/dags/{dag_id:int}/graph")
async def dag_graph_json(page: Page) -> Response:
    dag_id, _, env = await _where(page, "GetManualDagInstances")
    graph = await page.run(dag_graph, page.ctx, dag_id=dag_id, project_env=env)
    states = [instance_state(r) for r in graph.instances]
    data = await page.run(graph_data, graph.nodes, graph.edges, states)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


def _event(payload: dict[str, Any]) -> str:
    return "data: " + json.dumps(payload, separators=(",", ":")) + "\n\n"


async def _stream(page: Page, dag_id: int, env: str) -> AsyncIterator[str]:
    feed = page.console.feed
    # Subscribe before reading the snapshot: a change committed in between arrives as a delta
    # (seen twice at worst, which is harmless: a delta is a whole state).
    sub = feed.subscribe([dag_id])
    try:
        yield f"retry: {RETRY_MS}\n\n"
        try:
            rows, status = await page.run(dag_states, page.ctx, dag_id=dag_id, project_env=env)
        except OpcenterError as error:  # e.g. the Dag was removed since the page was drawn
            yield _event({"error": {"Code": error.code, "Message": error.message}})
            return
        snapshot = [instance_state(r) for r in rows]
        yield _event({"instances": snapshot, "dags": {str(dag_id): status}, "snapshot": True})
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            yield _event(event)
    finally:  # the client went away (the response is cancelled) or the server stops
        feed.unsubscribe(sub)


@page_route("/dags/{dag_id:int}/events")
async def dag_events(page: Page) -> Response:
    dag_id, _, env = await _where(page, "GetManualDagInstances")
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(page, dag_id, env), media_type="text/event-stream", headers=headers
    )
