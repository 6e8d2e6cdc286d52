"""How the Operation Center page holds up on a large run (issue 14), not a test:
`.venv/bin/python bench/bench_console.py`.

1. A 5,000-node run page in Chromium: a layered workflow of virtual nodes (100 layers of 50,
   each node waiting for two of the layer above: 9,900 edges), applied and deployed through
   the definitions service, run once with RunManualDagNodes (no engine: every instance stays
   NOT_RUN). Timed from `page.goto` until all 5,000 nodes are in the page, and until a click
   on a node has selected it (target ≤ 2 s), median of `--loads` loads.
2. Live latency of an operator action: with that page open, SuspendInstance / ResumeInstance
   through the service layer; the time from just before the store write to the moment the
   node's `data-suspended` attribute changes in the page (a MutationObserver stamps
   `Date.now()`; same machine, same clock). Target ≤ 1 s.
3. Live latency of instances finishing: an engine then runs the whole Dag (2 slots) with the
   page open; for every instance, the time from its FinishTime in the store to its node turning
   SUCCESS in the page. Virtual instances finish in waves (the engine finishes up to 4,000 in
   one statement, all with one FinishTime), so this is the page under bursts of thousands of
   changes at once.

Applying the definition skips the workflow-wide checks SubmitFile and DeployFile make on every
file (unique outputs, inputs produced, no cycle): each re-reads the whole workflow, which makes
applying 5,000 nodes quadratic (about 14 minutes on this machine instead of 30 s). The
definition is acyclic by construction; every row is still written by the service functions.

Prints a table and writes it into docs/benchmarks.md under "## Console (issue 14)".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._docs import replace_section  # noqa: E402
from opcenter.api.server import ServerThread, build_server  # noqa: E402
from opcenter.engine.scheduler import Engine  # noqa: E402
from opcenter.iam.authorizer import Authorizer  # noqa: E402
from opcenter.iam.resolver import StoreKeyResolver  # noqa: E402
from opcenter.runners.local import LocalExecutor  # noqa: E402
from opcenter.service import deployments, files  # noqa: E402
from opcenter.service import iam as iam_svc  # noqa: E402
from opcenter.service.context import ServiceContext  # noqa: E402
from opcenter.service.definitions import apply_definition  # noqa: E402
from opcenter.service.instances import resume_instance, suspend_instance  # noqa: E402
from opcenter.service.runs import start_manual_run  # noqa: E402
from opcenter.service.workspaces import create_project  # noqa: E402
from opcenter.settings import load_settings  # noqa: E402
from tests.engine.builders import wait_dag  # noqa: E402

HEADING = "## Console (issue 14)"
CHROMIUM = os.environ.get("OPCENTER_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-password-1"
LAYERS, WIDTH = 100, 50
TARGET_INTERACTIVE = 2.0  # s
TARGET_LIVE = 1.0  # s


def definition(layers: int, width: int) -> dict[str, Any]:
    nodes, flow = [], []
    for layer in range(layers):
        for i in range(width):
            name = f"l{layer}_{i}"
            script = {"path": f"big/{name}", "language": "none", "content": ""}
            nodes.append(
                {
                    "id": name,
                    "name": name,
                    "trigger": {"type": "Manual"},
                    "script": {**script, "runtime": {"command": "VIRTUAL"}},
                }
            )
            if layer:
                ups = sorted({f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % width}"})
                depends = [{"nodeId": "{{" + u + "}}", "type": "Normal"} for u in ups]
                flow.append({"nodeId": "{{" + name + "}}", "depends": depends})
    spec = {"name": "big", "nodes": nodes, "flow": flow}
    return {"version": "1.1.0", "kind": "ManualWorkflow", "spec": spec}


@contextmanager
def without_workflow_wide_checks() -> Iterator[None]:
    """See the module docstring: the per-file checks that re-read the whole workflow."""
    saved = [
        (deployments, name, getattr(deployments, name))
        for name in ("_check_prod_cycle", "_check_inputs", "_latest_of_others", "_cycle_error")
    ] + [(files, "_check_outputs", files._check_outputs)]
    for module, name, _ in saved:
        setattr(module, name, (lambda *a, **k: {}) if name == "_latest_of_others" else _none)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def _none(*_: Any, **__: Any) -> None:
    return None


def make_run(ctx: ServiceContext) -> tuple[int, float]:
    create_project(ctx, project_identifier="ws1", project_name="ws1")
    began = time.perf_counter()
    with without_workflow_wide_checks():
        apply_definition(
            ctx, path_or_document=definition(LAYERS, WIDTH), workspace="ws1", deploy=True
        )
    applied = time.perf_counter() - began
    day = dt.date.today() - dt.timedelta(days=2)
    created = start_manual_run(
        ctx, project_env="PROD", project_name="ws1", flow_name="big", biz_date=f"{day} 00:00:00"
    )
    return created.dag_id, applied


def load_page(context: Any, url: str, total: int) -> dict[str, float]:
    """Navigation → every node present → a click has selected one; seconds."""
    page = context.new_page()
    began = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function(
        f"document.querySelectorAll('g.node').length === {total}", polling="raf", timeout=60_000
    )
    present = time.perf_counter() - began
    target = page.locator("g.node").nth(total // 2)
    target.click()
    page.wait_for_function(
        "document.querySelector('g.node.selected') !== null", polling="raf", timeout=60_000
    )
    selected = time.perf_counter() - began
    timing = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {html: n.responseEnd, dom: n.domContentLoadedEventEnd}; })()"
    )
    page.close()
    return {
        "present": present,
        "selected": selected,
        "html": timing["html"] / 1000,
        "dom": timing["dom"] / 1000,
    }


WATCH = """(() => {
  window.stamps = {};
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) {
      const id = r.target.getAttribute('data-instance-id');
      const key = r.attributeName + ':' + r.target.getAttribute(r.attributeName) + ':' + id;
      if (!(key in window.stamps)) window.stamps[key] = now;
    }
  }).observe(document.querySelector('svg.oc-graph'),
             {subtree: true, attributes: true, attributeFilter: ['data-suspended', 'data-status']});
})()"""


def operator_latency(ctx: ServiceContext, page: Any, ids: list[int], samples: int) -> list[float]:
    """Seconds from the store write of Suspend/Resume to the attribute change in the page."""
    page.evaluate(WATCH)
    latencies = []
    for n in range(samples):
        instance = ids[n % len(ids)]
        suspend = (n // len(ids)) % 2 == 0
        time.sleep(random.uniform(0, 0.3))  # sample at random phases of the feed's polling
        began = time.time() * 1000
        (suspend_instance if suspend else resume_instance)(
            ctx, instance_id=instance, project_env="PROD"
        )
        key = f"data-suspended:{'true' if suspend else 'false'}:{instance}"
        page.wait_for_function(f"window.stamps[{key!r}] !== undefined", timeout=30_000)
        latencies.append((page.evaluate(f"window.stamps[{key!r}]") - began) / 1000)
    return latencies


def finishing_latency(
    ctx: ServiceContext, page: Any, dag_id: int
) -> tuple[list[float], float, int]:
    """For every instance: seconds from its FinishTime to its node turning SUCCESS."""
    import sqlalchemy as sa

    from opcenter.store.tables import Instance

    page.evaluate(WATCH)
    engine = Engine(ctx, LocalExecutor(2))
    began = time.perf_counter()
    engine.start()
    try:
        wait_dag(ctx, dag_id, timeout=600)
        elapsed = time.perf_counter() - began
        page.wait_for_function(
            f"Object.keys(window.stamps).filter(k => k.startsWith('data-status:SUCCESS')).length"
            f" === {LAYERS * WIDTH}",
            timeout=60_000,
        )
    finally:
        engine.stop()
    stamps = page.evaluate("window.stamps")
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(Instance.id, Instance.finish_time).where(Instance.dag_id == dag_id)
        ).all()
    latencies = [(stamps[f"data-status:SUCCESS:{r.id}"] - r.finish_time) / 1000 for r in rows]
    return latencies, elapsed, len({r.finish_time for r in rows})


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=3, help="Page loads timed.")
    parser.add_argument("--samples", type=int, default=20, help="Operator actions timed.")
    args, _ = parser.parse_known_args()
    if not Path(CHROMIUM).exists():
        print(f"skipped: Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="opcenter-bench-console-"))
    settings = load_settings(environ={}, dotenv=None, data_dir=data, timezone="UTC")
    ctx = ServiceContext.open(settings)
    iam_svc.ensure_root(ctx)
    iam_svc.set_login_password(ctx, user_name="root", password=PASSWORD)
    dag_id, applied = make_run(ctx)
    print(f"applied the {LAYERS * WIDTH}-node definition in {applied:.1f} s", flush=True)
    app = build_server(
        ctx, key_resolver=StoreKeyResolver(ctx.db, settings), authorize=Authorizer(ctx.db, settings)
    )
    with ServerThread(app, host="127.0.0.1", port=0) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        url = f"http://{server.endpoint}/console/dags/{dag_id}"
        signin = context.new_page()
        signin.goto(f"http://{server.endpoint}/console/signin")
        signin.get_by_label("User name").fill("root")
        signin.get_by_label("Password").fill(PASSWORD)
        signin.get_by_role("button", name="Sign in").click()
        signin.wait_for_url(lambda u: "/signin" not in u)
        signin.close()
        loads = [load_page(context, url, LAYERS * WIDTH) for _ in range(args.loads)]
        for load in loads:
            print("page load: " + ", ".join(f"{k} {v:.2f} s" for k, v in load.items()), flush=True)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#dag-live[data-live=open]")
        ids = [
            int(i)
            for i in page.eval_on_selector_all(
                "g.node", "els => els.slice(0, 10).map(e => e.dataset.instanceId)"
            )
        ]
        operator = operator_latency(ctx, page, ids, args.samples)
        print(f"operator action → page: median {statistics.median(operator):.3f} s", flush=True)
        finishing, elapsed, waves = finishing_latency(ctx, page, dag_id)
        print(f"finishing → page: median {statistics.median(finishing):.3f} s", flush=True)
        browser.close()
    ctx.db.dispose()
    lines = table(loads, operator, (finishing, elapsed, waves), applied)
    print("\n".join(lines))
    replace_section(HEADING, "\n".join(lines))
    return 0


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def table(
    loads: list[dict[str, float]],
    operator: list[float],
    run: tuple[list[float], float, int],
    applied: float,
) -> list[str]:
    finishing, elapsed, waves = run
    med = {k: statistics.median(load[k] for load in loads) for k in loads[0]}
    worst = max(load["selected"] for load in loads)
    total = LAYERS * WIDTH
    return [
        HEADING,
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Debian's Chromium (headless) driven by Playwright, "
        f"with `.venv/bin/python bench/bench_console.py` (load average "
        f"{os.getloadavg()[0]:.1f} at the end): the server (SQLite) and the browser on the same "
        f"machine. The run: a {total:,}-node layered workflow of virtual nodes ({LAYERS} layers "
        f"of {WIDTH}, 9,900 edges; applied in {applied:.0f} s with the workflow-wide per-file "
        "checks skipped, see the benchmark's docstring).",
        "",
        "| measure | measured | target |",
        "| --- | --- | --- |",
        f"| {total:,}-node run page: navigation → every node in the page (median of "
        f"{len(loads)}) | {med['present']:.2f} s | |",
        f"| … → a click on a node has selected it (median; worst) | {med['selected']:.2f} s; "
        f"{worst:.2f} s | ≤ {TARGET_INTERACTIVE:g} s: {verdict(worst, TARGET_INTERACTIVE)} |",
        f"| of which the page's HTML received (graph data embedded) | {med['html']:.2f} s | |",
        f"| operator action (Suspend/Resume) → node changed on the open page, "
        f"{len(operator)} samples: median; p90; max | {statistics.median(operator):.3f} s; "
        f"{quantile(operator, 0.9):.3f} s; {max(operator):.3f} s | ≤ {TARGET_LIVE:g} s: "
        f"{verdict(max(operator), TARGET_LIVE)} |",
        f"| instance finished (FinishTime) → node SUCCESS on the open page, all {total:,} "
        f"while the engine ran the Dag in {elapsed:.1f} s ({waves} FinishTimes: virtual "
        f"nodes finish in waves): median; p99; max | "
        f"{statistics.median(finishing):.3f} s; {quantile(finishing, 0.99):.3f} s; "
        f"{max(finishing):.3f} s | ≤ {TARGET_LIVE:g} s: "
        f"{verdict(quantile(finishing, 0.99), TARGET_LIVE)} (p99) |",
        "",
        "**Where the time goes.** The server reads the Dag (two queries) and lays it out in "
        "Python (under 0.1 s for 5,000 nodes) and embeds it in the page as JSON (850 kB); the "
        "browser builds the SVG from one string (one `<path>` for all edges), already fitted "
        "and, that far out, without names, so it styles and lays out the 5,000 nodes once. A "
        "state change travels: the store write → the change feed's next look (every 0.25 s, "
        "one query for every watched Dag) → the page's event stream → the changed nodes' "
        "attributes; no layout and no re-render. Before the first view went into the markup, "
        "the same page took 1.7 s to a selected node.",
        "",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
