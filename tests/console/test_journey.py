"""An operator's journey through the page, in Chromium, by what a person sees: sign in, run a
workflow for a 3-day range with one node excluded and one not chosen, watch every graph reach
its final states without reloading, open the failed node's log, rerun it once the cause is
fixed, and see it and its downstream turn green. Then the same on a 1024-px and a phone-wide
window."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from tests.console.conftest import sign_in
from tests.engine.builders import share_folder

TIMEOUT_MS = 20_000


def _shell(name: str, content: str) -> str:
    return f"""
    - id: {name}
      name: {name}
      script:
        path: nightly/{name}.sh
        language: shell
        runtime: {{command: DIDE_SHELL}}
        parameters: [{{name: "1", scope: NodeParameter, type: System, value: $bizdate}}]
        content: |
          {content}"""


def _workflow(marker) -> str:
    load = (
        f'echo "loading $1"; test -f {marker} || '
        '{ echo "the source file is not there yet" >&2; exit 3; }; echo "loaded $1"'
    )
    return f"""
version: "1.1.0"
kind: ManualWorkflow
spec:
  name: nightly
  nodes:
    - id: begin
      name: begin
      script: {{path: nightly/begin, language: none, content: "", runtime: {{command: VIRTUAL}}}}
{_shell("load", load)}
{_shell("report", "echo report $1")}
{_shell("audit_copy", "echo copy $1")}
{_shell("archive", "echo archive $1")}
  flow:
    - {{nodeId: "{{{{load}}}}", depends: [{{nodeId: "{{{{begin}}}}", type: Normal}}]}}
    - {{nodeId: "{{{{report}}}}", depends: [{{nodeId: "{{{{load}}}}", type: Normal}}]}}
    - {{nodeId: "{{{{audit_copy}}}}", depends: [{{nodeId: "{{{{begin}}}}", type: Normal}}]}}
    - {{nodeId: "{{{{archive}}}}", depends: [{{nodeId: "{{{{report}}}}", type: Normal}}]}}
"""


def _node(page, name):
    return page.locator("#graph [data-node-id]", has=page.locator(f"text='{name}'"))


def test_an_operator_runs_watches_reads_the_log_and_reruns_a_range(console, page, tmp_path):
    marker = tmp_path / "shared" / "source-ready"
    console.apply(_workflow(marker))
    share_folder(console.ctx, "ws1", marker.parent)

    # Sign in, pick the workspace and its production environment, open the workflow.
    sign_in(page, console)
    page.get_by_role("row", name=re.compile("ws1")).get_by_role("link", name="PROD").click()
    page.get_by_role("link", name="nightly").click()

    # A 3-day range; audit_copy as a dry run, archive not chosen.
    last = dt.date.today() - dt.timedelta(days=1)
    page.get_by_label("A range").check()
    page.get_by_label("First date").fill((last - dt.timedelta(days=2)).isoformat())
    page.get_by_label("Last date").fill(last.isoformat())
    page.get_by_role("radiogroup", name="audit_copy").get_by_label("Dry run").check()
    page.get_by_role("radiogroup", name="archive").get_by_label("Not chosen").check()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/dags/\d+$"))
    first_dag = page.url

    # The graph reaches its final states live: load fails, report waits behind it, the dry
    # run and the not-chosen node are marked as such.
    load = _node(page, "load")
    expect(load).to_have_attribute("data-status", "FAILURE", timeout=TIMEOUT_MS)
    expect(_node(page, "begin")).to_have_attribute("data-status", "SUCCESS")
    expect(_node(page, "audit_copy")).to_have_attribute("data-mark", "dry")
    expect(_node(page, "archive")).to_have_attribute("data-mark", "none")
    expect(_node(page, "report")).to_have_attribute("data-status", "NOT_RUN")
    assert page.url == first_dag  # never reloaded

    # Open the failed node: its log says why.
    load.click()
    log = page.locator('[data-role="log"]')
    expect(log).to_contain_text("the source file is not there yet", timeout=TIMEOUT_MS)

    # Fix the cause, rerun, and watch it and its downstream turn green.
    marker.write_text("ready")
    page.locator("#instance-panel").get_by_role("button", name="Rerun", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm", exact=True).click()
    expect(load).to_have_attribute("data-status", "SUCCESS", timeout=TIMEOUT_MS)
    expect(_node(page, "report")).to_have_attribute("data-status", "SUCCESS", timeout=TIMEOUT_MS)
    expect(log).to_contain_text("loaded", timeout=TIMEOUT_MS)
    assert page.url == first_dag

    # The runs list groups the three dates of the run; the other two, run after the marker
    # existed or not, are there with their own states.
    page.get_by_role("link", name="Runs").click()
    group = page.locator("[data-op-seq]").first
    expect(group.locator("tr[data-dag-id]")).to_have_count(3)


def test_the_pages_fit_a_1024_pixel_window_and_a_phone(console, browser):
    console.apply(_workflow("/nonexistent"))
    for width in (1024, 390):
        context = browser.new_context(locale="en-US", viewport={"width": width, "height": 800})
        page = context.new_page()
        sign_in(page, console, target="w/ws1/PROD/workflows/nightly")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow} px wider than a {width}-px window"
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible()
        context.close()
