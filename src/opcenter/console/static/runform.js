// The run form of a workflow's page (templates/workflow.html): the date mode, choosing nodes
// in the list or on the graph (static/graph.js, when present), focusing the first error, and a
// preview that follows the form as it is changed.
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
        schedulePreview();
      });
    }
  } else {
    for (const tools of document.querySelectorAll(".graph-tools")) tools.hidden = true;
  }
  for (const button of form.querySelectorAll("[data-mark-all]")) {
    button.addEventListener("click", () => {
      for (const row of form.querySelectorAll("tr[data-node-id]")) setMark(row.dataset.nodeId, button.dataset.markAll);
      refresh();
      schedulePreview();
    });
  }
  function refresh() {
    const current = marks();
    if (graph) graph.setMarks(current);
  }
  form.addEventListener("change", refresh);
  refresh();

  // The preview follows the form: after a change, the server's preview (the same page the
  // Preview button shows) replaces the one below the form; an error shows in its place.
  const previewButton = form.querySelector("button[formaction]");
  let asked = 0;
  async function livePreview() {
    const mine = ++asked;
    const response = await fetch(previewButton.getAttribute("formaction").split("#")[0], {
      method: "POST", body: new FormData(form), credentials: "same-origin",
    });
    const html = await response.text();
    if (mine !== asked) return;  // a newer change is on its way
    const next = new DOMParser().parseFromString(html, "text/html");
    let section = next.getElementById("preview");
    if (!section) {
      section = document.createElement("section");
      section.id = "preview";
      section.className = "preview card";
      const why = [...next.querySelectorAll(".field-error, #form-error")].map((e) => e.textContent.trim());
      section.innerHTML = `<div class="banner error" role="status" data-role="preview-error">${OC.escape(why.join(" ") || response.statusText)}</div>`;
    }
    const current = document.getElementById("preview");
    if (current) current.replaceWith(document.adoptNode(section));
    else form.after(document.adoptNode(section));
  }
  let timer = 0;
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(() => livePreview().catch(() => {}), 350);
  }
  form.addEventListener("change", schedulePreview);
  form.addEventListener("input", schedulePreview);
  if (!document.getElementById("preview") && !form.querySelector(".field-error, #form-error")) schedulePreview();

  const invalid = form.querySelector('[aria-invalid="true"] input, input[aria-invalid="true"]');
  if (invalid) invalid.focus();
})();
