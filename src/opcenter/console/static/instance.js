// opcenter Operation Center: the instance panel of a run's page. It shows the instances the
// graph selects (the `oc:select` event: {nodes, instances}), streams the log of one while it
// runs, and operates on the selection. What is allowed, and why not, comes from the server
// (/console/instances/...); a feed update (the window's `oc:states` event) refreshes it.
(function () {
  "use strict";
  const OC = window.OC;
  const root = document.querySelector('[data-role="instance-panel"]');
  if (!root) return;
  const dialog = document.querySelector('[data-role="confirm"]');
  const $ = (role, within) => (within || root).querySelector(`[data-role="${role}"]`);
  const ACTIVE = new Set(["WAIT_TIME", "WAIT_RESOURCE", "RUNNING"]);
  const LOG_KEEP = 400000; // characters of the log kept on screen (its end)
  const LOG_POLL_MS = 1000;

  let selected = [];   // instance ids, in the order of the selection
  let shown = [];      // what the server last said about them
  let generation = 0;  // bumps on every selection change: late answers are dropped
  let reader = null;   // the log being read: {id, attempt, stop}
  let busy = false;    // an operation is under way
  let refreshTimer = null;

  function show(role, visible) { $(role).hidden = !visible; }

  function statusText(s) { return OC.t("inst.status." + s); }

  function setError(error) {
    const box = $("error");
    box.hidden = !error;
    box.textContent = error ? `${error.Code || OC.t("error")}: ${error.Message || ""}` : "";
  }

  async function refresh() {
    const mine = ++generation;
    setError(null);
    if (!selected.length) { render([]); stopLog(); return; }
    try {
      const data = selected.length === 1
        ? [await OC.request("GET", "/instances/" + selected[0])]
        : (await OC.request("GET", "/instances?ids=" + selected.join(","))).instances;
      if (mine !== generation) return;
      render(data);
    } catch (error) {
      if (mine !== generation) return;
      setError(error);
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  function render(data) {
    shown = data;
    show("none", !data.length);
    show("one", data.length === 1);
    show("many", data.length > 1);
    show("ops", data.length > 0);
    show("attempts-box", data.length === 1 && Array.isArray(data[0].attempts));
    show("log-box", data.length === 1);
    if (data.length === 1) renderOne(data[0]);
    if (data.length > 1) renderMany(data);
    renderActions(data);
  }

  function renderOne(d) {
    $("name").textContent = d.nodeName;
    const status = $("status");
    status.dataset.status = d.status;
    status.textContent = statusText(d.status);
    $("suspended").hidden = !d.suspended;
    $("attempt").textContent = String(d.attempt);
    $("created").textContent = OC.when(d.times.created);
    $("running").textContent = OC.when(d.times.running);
    $("finish").textContent = OC.when(d.times.finish);
    $("version").textContent = d.version;
    $("params").textContent = d.params;
    $("why-failed").textContent = d.error;
    const rows = (d.attempts || []).map((a) =>
      `<tr><td>${a.attempt}</td><td><span class="state" data-status="${OC.escape(a.status)}">${OC.escape(statusText(a.status))}</span></td>` +
      `<td>${OC.escape(OC.when(a.begin))}</td><td>${OC.escape(OC.when(a.finish))}</td><td>${OC.escape(a.error || "")}</td></tr>`);
    $("attempts").innerHTML = rows.join("");
    if (!reader || reader.id !== d.id || reader.attempt !== d.attempt) startLog(d);
    else reader.active = ACTIVE.has(d.status);
  }

  function renderMany(data) {
    $("count").textContent = OC.t("inst.selected", {n: data.length});
    $("list").innerHTML = data.map((d) =>
      `<li><span class="state" data-status="${OC.escape(d.status)}">${OC.escape(statusText(d.status))}</span> ${OC.escape(d.nodeName)}` +
      (d.suspended ? ` <span class="inst-tag">${OC.escape(OC.t("inst.suspended"))}</span>` : "") + "</li>").join("");
    stopLog();
  }

  // An action is enabled when the server allows it for every selected instance; otherwise the
  // first refusal is shown beside it (and named by aria-describedby).
  function renderActions(data) {
    for (const button of root.querySelectorAll("button[data-action]")) {
      const action = button.dataset.action;
      const refused = data.find((d) => !d.actions[action].allowed);
      const why = document.getElementById("op-why-" + action);
      let reason = "";
      if (refused) {
        reason = refused.actions[action].reason;
        if (data.length > 1) reason = OC.t("op.refused_for", {name: refused.nodeName, reason});
      }
      why.textContent = reason;
      button.disabled = busy || !data.length || Boolean(refused);
    }
  }

  // -- the log ---------------------------------------------------------------------------------

  function stopLog() {
    if (reader) reader.stopped = true;
    reader = null;
  }

  function startLog(d) {
    stopLog();
    const log = $("log");
    log.textContent = "";
    const mine = {id: d.id, attempt: d.attempt, next: null, stopped: false, active: ACTIVE.has(d.status)};
    reader = mine;
    readLog(mine);
  }

  async function readLog(r) {
    const log = $("log"), state = $("log-state");
    while (!r.stopped) {
      let page;
      try {
        const query = `?attempt=${r.attempt}` + (r.next === null ? "" : `&offset=${r.next}`);
        page = await OC.request("GET", `/instances/${r.id}/log${query}`);
      } catch (error) {
        if (!r.stopped) state.textContent = error.Message || "";
        return;
      }
      if (r.stopped) return;
      if (page.text) {
        const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        let text = log.textContent + page.text;
        if (text.length > LOG_KEEP) text = text.slice(text.length - LOG_KEEP);
        log.textContent = text;
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      r.next = page.next;
      const more = page.next < page.size;
      const live = !page.finished && r.active;
      log.dataset.streaming = live || more ? "true" : "false";
      state.textContent = live ? OC.t("inst.log_live") : (more ? "" : OC.t("inst.log_done"));
      if (!more && !live) {
        if (!log.textContent) log.textContent = OC.t("inst.log_empty");
        return;
      }
      if (!more) await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
    }
  }

  // -- operations ------------------------------------------------------------------------------

  function confirmAction(button) {
    const names = shown.map((d) => d.nodeName);
    $("confirm-title", dialog).textContent = names.length === 1
      ? OC.t("op.confirm_one", {action: button.textContent, name: names[0]})
      : OC.t("op.confirm_many", {action: button.textContent, n: names.length});
    $("confirm-text", dialog).textContent = OC.t("op.explain." + button.dataset.action);
    $("confirm-list", dialog).innerHTML = names.length > 1 ? names.map((n) => `<li>${OC.escape(n)}</li>`).join("") : "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => { button.focus(); resolve(dialog.returnValue === "ok"); }, {once: true});
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  async function operate(button) {
    if (!(await confirmAction(button))) return;
    const ids = shown.map((d) => d.id);
    const names = Object.fromEntries(shown.map((d) => [d.id, d.nodeName]));
    const results = $("results");
    busy = true;
    renderActions(shown);
    results.innerHTML = `<li>${OC.escape(OC.t("op.working"))}</li>`;
    try {
      const answer = await OC.request("POST", "/instances/operate", {action: button.dataset.action, ids});
      results.innerHTML = answer.results.map((r) => {
        const name = names[r.id] || String(r.id);
        if (r.ok) return `<li class="ok">${OC.escape(OC.t(r.with ? "op.done_with" : "op.done", {name}))}</li>`;
        return `<li class="failed">${OC.escape(OC.t("op.failed", {name, code: r.Code, message: r.Message}))}</li>`;
      }).join("");
    } catch (error) {
      results.innerHTML = `<li class="failed">${OC.escape(`${error.Code || OC.t("error")}: ${error.Message || ""}`)}</li>`;
    } finally {
      busy = false;
      await refresh();
      // Keyboard users stay where they were: on the button, or on the results when the
      // button is now disabled (disabling it while the request ran dropped the focus).
      const lost = !document.activeElement || document.activeElement === document.body;
      if (lost) (button.disabled ? results : button).focus();
    }
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button && !button.disabled && !busy) operate(button);
  });

  // -- the page's events -----------------------------------------------------------------------

  document.addEventListener("oc:select", (event) => {
    const ids = ((event.detail && event.detail.instances) || []).filter((i) => i !== null && i !== undefined);
    selected = ids.map(Number);
    $("results").innerHTML = "";
    refresh();
  }, true);

  window.addEventListener("oc:states", (event) => {
    const detail = event.detail;
    const states = Array.isArray(detail) ? detail : ((detail && (detail.instances || detail.states)) || []);
    if (states.some((s) => selected.includes(Number(s.id)))) scheduleRefresh();
  });
})();
