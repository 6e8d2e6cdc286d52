// opcenter Operation Center: the graph component, OC.graph(container, data, options) -> g.
//
// `data` is console/layout.py graph_data(): nodes laid out top to bottom ({id, name, type, x, y,
// instance, status, suspended, taskType, mark}), edges [[from, to]], width, height. The SVG is
// built once, as one string (one <path> for every edge); updates touch only the elements of the
// nodes that changed, found by id, so a 5,000-node run stays interactive.
//
//   g.update(states)      feed states {id, node, status, suspended, taskType, attempt}
//   g.setMarks({nodeId: "run" | "dry" | "none"})
//   g.fit(), g.zoom(factor), g.select(nodeIds), g.selection() -> nodeIds, g.element(nodeId)
//
// The container dispatches CustomEvent("oc:select", {detail: {nodes, instances}}) on every
// selection change. Click selects one node, Ctrl/Shift/Cmd-click toggles one; on a focused node
// Enter selects it, Space toggles it, the arrow keys move between nodes; + - 0 zoom and fit.
(function () {
  "use strict";
  const OC = window.OC;
  const ICONS = {
    SUCCESS: "✓", FAILURE: "✕", RUNNING: "▶", WAIT_TIME: "◔", WAIT_RESOURCE: "◔",
    NOT_RUN: "○", CHECKING: "…", CHECKING_CONDITION: "…",
  };
  const MARK_OF_TYPE = {SKIP: "dry", SKIP_UNCHOOSE: "none"};
  const FAR = 0.45; // below this scale the names are not drawn (unreadable, and costly)
  const PAD = 24;

  function markOf(n) {
    return n.mark || MARK_OF_TYPE[n.taskType] || "";
  }

  function suspendedOf(n) {
    return Boolean(n.suspended) || n.taskType === "PAUSE";
  }

  function statusText(status) {
    return status ? OC.t("graph.status." + status) : "";
  }

  function subText(n) {
    const parts = [n.type || ""];
    const mark = markOf(n);
    if (mark === "dry") parts.push(OC.t("graph.mark.dry"));
    if (mark === "none") parts.push(OC.t("graph.mark.none"));
    if (suspendedOf(n)) parts.push(OC.t("graph.suspended"));
    return parts.filter(Boolean).join(" · ");
  }

  function ariaLabel(n) {
    const parts = [n.name];
    if (n.status) parts.push(statusText(n.status));
    const mark = markOf(n);
    if (mark === "dry" || mark === "none") parts.push(OC.t("graph.mark." + mark));
    if (suspendedOf(n)) parts.push(OC.t("graph.suspended"));
    return parts.join(", ");
  }

  function short(name, max) {
    return name.length > max ? name.slice(0, max - 1) + "…" : name;
  }

  function nodeMarkup(n, w, h) {
    const e = OC.escape;
    const name = String(n.name);
    const title = name.length > 22 ? `<title>${e(name)}</title>` : "";
    return `<g class="node" transform="translate(${n.x} ${n.y})" data-node-id="${e(n.id)}"` +
      ` data-instance-id="${n.instance == null ? "" : e(n.instance)}" data-status="${e(n.status || "")}"` +
      ` data-mark="${e(markOf(n))}" data-suspended="${suspendedOf(n)}" tabindex="0" role="button"` +
      ` aria-pressed="false" aria-label="${e(ariaLabel(n))}">` +
      `<rect class="box" width="${w}" height="${h}" rx="5"></rect>` +
      `<text class="icon" x="9" y="${h / 2 + 5}">${ICONS[n.status] || ""}</text>` +
      `<text class="name" x="28" y="17">${e(short(name, 22))}</text>` +
      `<text class="sub" x="28" y="32">${e(subText(n))}</text>${title}</g>`;
  }

  function edgePath(nodes, edges, w, h) {
    const at = new Map(nodes.map((n) => [String(n.id), n]));
    const parts = [];
    for (const [a, b] of edges) {
      const p = at.get(String(a)), c = at.get(String(b));
      if (!p || !c) continue;
      const x1 = p.x + w / 2, y1 = p.y + h, x2 = c.x + w / 2, y2 = c.y, my = (y1 + y2) / 2;
      parts.push(`M${x1} ${y1}C${x1} ${my} ${x2} ${my} ${x2} ${y2}`);
    }
    return parts.join("");
  }

  function transformOf(view) {
    return `translate(${view.tx} ${view.ty}) scale(${view.k})`;
  }

  // The first view is in the markup, so the browser lays the 5,000 nodes out once, already
  // zoomed (and without names when far out), instead of once more when `fit` changes it.
  function svgMarkup(nodes, data, w, h, view) {
    const label = OC.escape(OC.t("graph.label"));
    const far = view.k < FAR ? " far" : "";
    return `<svg class="oc-graph${far}" xmlns="http://www.w3.org/2000/svg" role="group" aria-label="${label}">` +
      `<defs><pattern id="oc-hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
      `<rect width="8" height="8" fill="#fff"></rect><line x1="0" y1="0" x2="0" y2="8" stroke="#c3cbd3" stroke-width="3"></line></pattern>` +
      `<pattern id="oc-dots" width="6" height="6" patternUnits="userSpaceOnUse">` +
      `<rect width="6" height="6" fill="#f3f5f7"></rect><circle cx="3" cy="3" r="1" fill="#aab4be"></circle></pattern></defs>` +
      `<g class="viewport" transform="${transformOf(view)}"><path class="edges" d="${edgePath(nodes, data.edges || [], w, h)}"></path>` +
      nodes.map((n) => nodeMarkup(n, w, h)).join("") + `</g></svg>`;
  }

  function toolsMarkup() {
    const b = (act, text, key) =>
      `<button type="button" data-act="${act}" title="${OC.escape(OC.t(key))}" aria-label="${OC.escape(OC.t(key))}">${text}</button>`;
    return `<div class="oc-graph-tools" role="toolbar" aria-label="${OC.escape(OC.t("graph.tools"))}">` +
      b("in", "+", "graph.zoomIn") + b("out", "−", "graph.zoomOut") +
      `<button type="button" data-act="fit">${OC.escape(OC.t("graph.fit"))}</button></div>`;
  }

  // Rows of nodes (same y), each sorted by x: where the arrow keys go.
  function rowsOf(nodes) {
    const byY = new Map();
    for (const n of nodes) {
      if (!byY.has(n.y)) byY.set(n.y, []);
      byY.get(n.y).push(n);
    }
    const rows = [...byY.keys()].sort((a, b) => a - b).map((y) => byY.get(y));
    const where = new Map();
    rows.forEach((row, r) => row.forEach((n, i) => where.set(String(n.id), [r, i])));
    return {rows, where};
  }

  function nearest(row, x) {
    let best = row[0];
    for (const n of row) if (Math.abs(n.x - x) < Math.abs(best.x - x)) best = n;
    return best;
  }

  OC.graph = function (container, data, options) {
    options = options || {};
    const w = data.nodeWidth || 168, h = data.nodeHeight || 40;
    // Reading order (layer by layer, left to right) is the DOM order, so Tab follows it.
    const nodes = data.nodes.slice().sort((a, b) => a.y - b.y || a.x - b.x);
    container.classList.add("oc-graph-box");
    container.replaceChildren();
    // The size the SVG will have (it fills the container), measured while the container is
    // empty, which is cheap.
    const size = {w: container.clientWidth || 800, h: container.clientHeight || 600};
    const view = fitted(size.w, size.h);
    if (options.fit === false) Object.assign(view, {k: 1, tx: 0, ty: 0});
    container.innerHTML = (options.tools === false ? "" : toolsMarkup()) + svgMarkup(nodes, data, w, h, view);
    const svg = container.querySelector("svg.oc-graph");
    const viewport = svg.querySelector("g.viewport");
    const byNode = new Map(), byInstance = new Map(), elements = new Map();
    svg.querySelectorAll("g.node").forEach((el, i) => {
      const n = nodes[i], id = String(n.id);
      byNode.set(id, n);
      elements.set(id, el);
      if (n.instance != null) byInstance.set(String(n.instance), id);
    });
    const {rows, where} = rowsOf(nodes);
    let selected = new Set();
    let frame = 0;

    function apply() {
      frame = 0;
      viewport.setAttribute("transform", transformOf(view));
      svg.classList.toggle("far", view.k < FAR);
    }
    function schedule() {
      if (!frame) frame = requestAnimationFrame(apply);
    }
    function fitted(cw, ch) {
      const k = Math.min((cw - PAD) / data.width, (ch - PAD) / data.height, 1);
      return {k, tx: (cw - data.width * k) / 2, ty: Math.max(0, (ch - data.height * k) / 2)};
    }
    function fitScale() {
      return fitted(svg.clientWidth || 800, svg.clientHeight || 600).k;
    }
    function limits(k) {
      return Math.max(Math.min(fitScale(), 0.2), Math.min(3, k));
    }
    function zoomAt(factor, cx, cy) {
      const k = limits(view.k * factor);
      view.tx = cx - (cx - view.tx) * (k / view.k);
      view.ty = cy - (cy - view.ty) * (k / view.k);
      view.k = k;
      schedule();
    }
    function fit() {
      Object.assign(view, fitted(svg.clientWidth || 800, svg.clientHeight || 600));
      apply();
    }
    function zoom(factor) {
      zoomAt(factor, (svg.clientWidth || 800) / 2, (svg.clientHeight || 600) / 2);
      apply();
    }
    // Bring node `n` into view (readable) when the keyboard moves to it.
    function reveal(n) {
      const cw = svg.clientWidth, ch = svg.clientHeight;
      if (view.k < 0.8) view.k = 1;
      const sx = n.x * view.k + view.tx, sy = n.y * view.k + view.ty;
      if (sx < 0 || sy < 0 || sx + w * view.k > cw || sy + h * view.k > ch) {
        view.tx = cw / 2 - (n.x + w / 2) * view.k;
        view.ty = ch / 2 - (n.y + h / 2) * view.k;
      }
      apply();
    }

    function instancesOf(ids) {
      return ids.map((id) => byNode.get(id).instance).filter((i) => i != null);
    }
    function setSelection(ids) {
      const next = new Set(ids.map(String).filter((id) => elements.has(id)));
      const same = next.size === selected.size && [...next].every((id) => selected.has(id));
      if (same) return;
      for (const id of selected) if (!next.has(id)) mark(id, false);
      for (const id of next) if (!selected.has(id)) mark(id, true);
      selected = next;
      const list = [...selected];
      container.dispatchEvent(new CustomEvent("oc:select", {
        bubbles: true, detail: {nodes: list.map((id) => byNode.get(id).id), instances: instancesOf(list)},
      }));
    }
    function mark(id, on) {
      const el = elements.get(id);
      el.classList.toggle("selected", on);
      el.setAttribute("aria-pressed", String(on));
    }
    function toggle(id) {
      const next = new Set(selected);
      if (next.has(id)) next.delete(id); else next.add(id);
      setSelection([...next]);
    }

    function redraw(id) {
      const n = byNode.get(id), el = elements.get(id);
      el.setAttribute("data-status", n.status || "");
      el.setAttribute("data-instance-id", n.instance == null ? "" : n.instance);
      el.setAttribute("data-mark", markOf(n));
      el.setAttribute("data-suspended", String(suspendedOf(n)));
      el.setAttribute("aria-label", ariaLabel(n));
      el.children[1].textContent = ICONS[n.status] || "";
      el.children[3].textContent = subText(n);
    }

    function update(states) {
      for (const s of states || []) {
        const id = byInstance.get(String(s.id)) || (s.node != null ? String(s.node) : null);
        const n = id && byNode.get(id);
        if (!n) continue;
        if (n.instance === s.id && n.status === s.status && Boolean(n.suspended) === Boolean(s.suspended) &&
            n.taskType === s.taskType) continue;
        n.status = s.status;
        n.suspended = s.suspended;
        n.taskType = s.taskType;
        if (s.id != null && n.instance !== s.id) {
          n.instance = s.id;
          byInstance.set(String(s.id), id);
        }
        redraw(id);
      }
    }

    function setMarks(marks) {
      for (const [id, m] of Object.entries(marks || {})) {
        const n = byNode.get(String(id));
        if (!n) continue;
        n.mark = m;
        redraw(String(id));
      }
    }

    function move(el, key) {
      const [r, i] = where.get(el.getAttribute("data-node-id"));
      const here = rows[r][i];
      let to = null;
      if (key === "ArrowLeft" && i > 0) to = rows[r][i - 1];
      if (key === "ArrowRight" && i < rows[r].length - 1) to = rows[r][i + 1];
      if (key === "ArrowUp" && r > 0) to = nearest(rows[r - 1], here.x);
      if (key === "ArrowDown" && r < rows.length - 1) to = nearest(rows[r + 1], here.x);
      if (to) elements.get(String(to.id)).focus({preventScroll: true});
    }

    function onKey(event) {
      const el = event.target.closest && event.target.closest("g.node");
      if (event.key === "+" || event.key === "=") { zoom(1.25); event.preventDefault(); return; }
      if (event.key === "-") { zoom(0.8); event.preventDefault(); return; }
      if (event.key === "0") { fit(); event.preventDefault(); return; }
      if (!el) return;
      const id = el.getAttribute("data-node-id");
      if (event.key === "Enter") { setSelection([id]); event.preventDefault(); }
      else if (event.key === " ") { toggle(id); event.preventDefault(); }
      else if (event.key.startsWith("Arrow")) { move(el, event.key); event.preventDefault(); }
    }

    let drag = null, dragged = false;
    function onDown(event) {
      if (event.button !== 0) return;
      drag = {x: event.clientX, y: event.clientY, tx: view.tx, ty: view.ty, moved: false};
    }
    function onMove(event) {
      if (!drag) return;
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 5) return;
      drag.moved = true;
      svg.classList.add("panning");
      view.tx = drag.tx + dx;
      view.ty = drag.ty + dy;
      schedule();
    }
    function onUp() {
      if (drag && drag.moved) dragged = true;
      drag = null;
      svg.classList.remove("panning");
    }
    function onClick(event) {
      if (dragged) { dragged = false; return; }
      const el = event.target.closest("g.node");
      if (!el) return;
      const id = el.getAttribute("data-node-id");
      if (event.ctrlKey || event.metaKey || event.shiftKey) toggle(id);
      else setSelection([id]);
    }
    function onWheel(event) {
      event.preventDefault();
      const box = svg.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
    }
    function onFocus(event) {
      const el = event.target.closest && event.target.closest("g.node");
      if (el && el.matches(":focus-visible")) reveal(byNode.get(el.getAttribute("data-node-id")));
    }

    svg.addEventListener("keydown", onKey);
    svg.addEventListener("pointerdown", onDown);
    window.addEventListener("pointermove", onMove);
    window.addEventListener("pointerup", onUp);
    svg.addEventListener("click", onClick);
    svg.addEventListener("wheel", onWheel, {passive: false});
    svg.addEventListener("focusin", onFocus);
    const tools = container.querySelector(".oc-graph-tools");
    if (tools) {
      tools.addEventListener("click", (event) => {
        const act = event.target.closest("button") && event.target.closest("button").dataset.act;
        if (act === "in") zoom(1.25);
        if (act === "out") zoom(0.8);
        if (act === "fit") fit();
      });
    }

    return {
      update, setMarks, fit, zoom,
      select: (ids) => setSelection((ids || []).map(String)),
      selection: () => [...selected].map((id) => byNode.get(id).id),
      element: (id) => elements.get(String(id)) || null,
      scale: () => view.k,
      svg,
    };
  };
})();
