// opcenter Operation Center: a run's page. Draws the Dag (graph.js) from the data embedded in
// the page, then keeps it live from the server-sent events of /dags/{id}/events: a snapshot of
// every instance's state on (re)connecting, then the change feed's deltas. The counts per
// state and the Dag's status follow; every update is also dispatched on `window` as
// CustomEvent("oc:states", {detail: {instances, dags}}) for the instance panel.
(function () {
  "use strict";
  const OC = window.OC;
  const box = document.getElementById("graph");
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const graph = OC.graph(box, data);
  const states = new Map(); // instance id -> its latest state
  for (const n of data.nodes) {
    if (n.instance == null) continue;
    states.set(n.instance, {id: n.instance, node: n.id, status: n.status, suspended: n.suspended, taskType: n.taskType});
  }
  OC.dag.graph = graph;
  OC.dag.states = () => [...states.values()];

  function recount() {
    const counts = {suspended: 0};
    for (const s of states.values()) {
      counts[s.status] = (counts[s.status] || 0) + 1;
      if (s.suspended) counts.suspended += 1;
    }
    document.querySelectorAll("[data-count]").forEach((el) => {
      const n = String(counts[el.dataset.count] || 0);
      if (el.textContent !== n) el.textContent = n;
    });
  }

  function showDagStatus(status) {
    const el = document.getElementById("dag-status");
    if (!el || el.dataset.status === status) return;
    el.dataset.status = status;
    el.textContent = OC.t("graph.status." + status);
  }

  function receive(payload) {
    const changed = payload.instances || [];
    for (const s of changed) states.set(s.id, s);
    graph.update(changed);
    recount();
    const own = (payload.dags || {})[String(OC.dag.id)];
    if (own) showDagStatus(own);
    window.dispatchEvent(new CustomEvent("oc:states", {detail: {instances: changed, dags: payload.dags || {}}}));
  }

  function live(state) {
    const el = document.getElementById("dag-live");
    el.dataset.live = state;
    el.textContent = OC.t("dag.live." + state);
  }

  // EventSource reconnects by itself (after the `retry` the server sets) and the server sends a
  // fresh snapshot each time, so nothing missed while disconnected stays wrong.
  const source = new EventSource(OC.prefix + "/dags/" + OC.dag.id + "/events");
  source.onmessage = (event) => {
    const payload = JSON.parse(event.data);
    if (!payload.error) return receive(payload);
    source.close(); // the Dag can no longer be read: say why, and stop asking
    live("closed");
    document.getElementById("dag-live").textContent = payload.error.Message;
  };
  source.onopen = () => live("open");
  source.onerror = () => live(source.readyState === EventSource.CLOSED ? "closed" : "retry");
  window.addEventListener("pagehide", () => source.close());
})();
