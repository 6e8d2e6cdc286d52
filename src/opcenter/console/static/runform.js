// The run form of a workflow's page (templates/workflow.html): the date mode, choosing nodes
// in the list or on the graph (static/graph.js, when present), and focusing the first error.
// Without this script the form still works: both date blocks show, the radios choose.
(function () {
  "use strict";
  const form = document.getElementById("runform");
  if (!form) return;

  // One date or a range: show and enable the fields of the chosen mode only.
  function showMode() {
    const mode = form.querySelector('input[name="mode"]:checked').value;
    for (const block of form.querySelectorAll("[data-mode]")) {
      const on = block.dataset.mode === mode;
      block.hidden = !on;
      for (const input of block.querySelectorAll("input")) input.disabled = !on;
    }
  }
  for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
  showMode();

  // The marks of the nodes: run / dry (dry run, excluded) / none (not chosen).
  function marks() {
    const out = {};
    for (const row of form.querySelectorAll("tr[data-node-id]")) {
      const checked = row.querySelector('input[type="radio"]:checked');
      out[row.dataset.nodeId] = checked ? checked.value : "run";
      row.dataset.mark = out[row.dataset.nodeId];
    }
    return out;
  }
  function setMark(nodeId, mark) {
    const radio = form.querySelector(`input[name="mark.${nodeId}"][value="${mark}"]`);
    if (radio) radio.checked = true;
  }

  let graph = null;
  const container = document.getElementById("graph");
  const data = document.getElementById("graph-data");
  if (container && data && OC.graph) {
    graph = OC.graph(container, JSON.parse(data.textContent), {});
    container.addEventListener("oc:select", (event) => {
      const chosen = new Set(event.detail.nodes.map(String));
      for (const row of form.querySelectorAll("tr[data-node-id]")) {
        row.classList.toggle("selected", chosen.has(row.dataset.nodeId));
      }
    });
    for (const button of document.querySelectorAll("[data-mark-selected]")) {
      button.addEventListener("click", () => {
        for (const id of graph.selection()) setMark(id, button.dataset.markSelected);
        refresh();
      });
    }
  } else {
    for (const tools of document.querySelectorAll(".graph-tools")) tools.hidden = true;
  }
  for (const button of form.querySelectorAll("[data-mark-all]")) {
    button.addEventListener("click", () => {
      for (const row of form.querySelectorAll("tr[data-node-id]")) setMark(row.dataset.nodeId, button.dataset.markAll);
      refresh();
    });
  }
  function refresh() {
    const current = marks();
    if (graph) graph.setMarks(current);
  }
  form.addEventListener("change", refresh);
  refresh();

  const invalid = form.querySelector('[aria-invalid="true"] input, input[aria-invalid="true"]');
  if (invalid) invalid.focus();
})();
