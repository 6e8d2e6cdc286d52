"""A stand-in for a run's page, `/console/dags/<DagId>`, used by the instance panel's tests only
while the page itself (pages/dag.py, the GRAPH part of issue 14) does not serve that path: as
soon as a page module registers a route there, the stand-in steps aside and the tests drive the
real page.

It keeps the page's contract and nothing more: `#graph` holds one element per node with
`data-node-id`, `data-instance-id` and `data-status` (kept current from the change feed, over
server-sent events); a click selects one node, Ctrl/Shift-click toggles one; every selection
change dispatches `oc:select` ({nodes, instances}) on `#graph`, and every feed update the
window's `oc:states` (the feed's instance states); the panel sits in `<aside
id="instance-panel">`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.responses import HTMLResponse, Response, StreamingResponse

from opcenter.console import web
from opcenter.console.app import _load_pages
from opcenter.console.i18n import LANGUAGES
from opcenter.console.web import PREFIX, Page
from opcenter.errors import NotFound
from opcenter.service import iam, instances

_PAGE = """{% extends "base.html" %}
{% block title %}Dag {{ dag_id }}{% endblock %}
{% block content %}
<h1>Dag {{ dag_id }}</h1>
<div class="standin-run" style="display:grid;grid-template-columns:1fr 420px;gap:16px">
<div id="graph" role="group" aria-label="graph" data-dag-id="{{ dag_id }}">
{% for i in rows %}
  <button type="button" class="node" data-node-id="{{ i.node_id }}"
    data-instance-id="{{ i.instance_id }}" data-status="{{ i.status.value }}"
    aria-pressed="false">{{ i.node_name }}</button>
{% endfor %}
</div>
<aside id="instance-panel">{% include "instance_panel.html" %}</aside>
</div>
{% endblock %}
{% block scripts %}
<script>
(function () {
  const graph = document.getElementById("graph");
  const nodes = () => Array.from(graph.querySelectorAll("[data-node-id]"));
  function announce() {
    const chosen = nodes().filter((n) => n.getAttribute("aria-pressed") === "true");
    graph.dispatchEvent(new CustomEvent("oc:select", {bubbles: true, detail: {
      nodes: chosen.map((n) => Number(n.dataset.nodeId)),
      instances: chosen.map((n) => Number(n.dataset.instanceId))}}));
  }
  graph.addEventListener("click", (event) => {
    const node = event.target.closest("[data-node-id]");
    if (!node) return;
    const toggle = event.ctrlKey || event.shiftKey || event.metaKey;
    if (!toggle) nodes().forEach((n) => n.setAttribute("aria-pressed", "false"));
    const on = toggle && node.getAttribute("aria-pressed") === "true";
    node.setAttribute("aria-pressed", on ? "false" : "true");
    announce();
  });
  const feed = new EventSource(OC.prefix + "/standin/feed/" + graph.dataset.dagId);
  feed.onmessage = (message) => {
    const event = JSON.parse(message.data);
    for (const s of event.instances) {
      const node = graph.querySelector(`[data-instance-id="${s.id}"]`);
      if (node) node.dataset.status = s.status;
    }
    window.dispatchEvent(new CustomEvent("oc:states", {detail: event.instances}));
  };
})();
</script>
{% endblock %}
"""


def _env_of_dag(page: Page, dag_id: int) -> str:
    for env in ("PROD", "DEV"):
        try:
            iam.workspace_of_dag(page.ctx, dag_id, env)
            return env
        except NotFound:  # not in this environment
            continue
    return "PROD"


async def run_page(page: Page) -> Response:
    dag_id = page.request.path_params["dag_id"]
    env = await page.run(_env_of_dag, page, dag_id)
    rows = await page.run(
        instances.get_manual_dag_instances, page.ctx, dag_id=dag_id, project_env=env
    )
    assert page.session is not None
    html = page.console.templates.from_string(_PAGE).render(
        t=page.t,
        lang=page.t.lang,
        languages=LANGUAGES,
        session=page.session,
        csrf=page.session.csrf,
        prefix=PREFIX,
        path=page.request.url.path,
        request_id=page.request_id,
        error=None,
        dag_id=dag_id,
        rows=rows,
    )
    return HTMLResponse(html)


async def run_feed(page: Page) -> Response:
    dag_id = page.request.path_params["dag_id"]
    feed = page.console.feed

    async def events() -> AsyncIterator[str]:
        sub = feed.subscribe([dag_id])
        try:
            yield ": open\n\n"
            while True:
                event = await sub.queue.get()
                yield f"data: {json.dumps(event)}\n\n"
        finally:
            feed.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream")


def _served() -> bool:
    _load_pages()
    return any(
        getattr(r, "path", "").startswith("/dags/{") and getattr(r, "endpoint", None) is not None
        for r in web.ROUTES
    )


STANDIN = not _served()
if STANDIN:
    web.page_route("/dags/{dag_id:int}")(run_page)
    web.page_route("/standin/feed/{dag_id:int}")(run_feed)
