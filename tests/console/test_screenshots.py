"""Screenshots of the page's main views, taken by the suite from a real scene: the ones shown in
docs/console.md are these, refreshed by `make screenshots` (which sets OPCENTER_SCREENSHOTS to
docs/images/console). Each view must render, in English and in Chinese, without an error."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from playwright.sync_api import expect

from tests.console.conftest import sign_in
from tests.console.test_journey import _workflow
from tests.engine.builders import share_folder, wait_for


def _shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OPCENTER_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_main_views_render_and_are_photographed(console, browser, tmp_path):
    folder = _shots_dir(tmp_path)
    marker = tmp_path / "shared" / "source-ready"
    console.apply(_workflow(marker))
    share_folder(console.ctx, "ws1", marker.parent)
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 760})
    page = context.new_page()
    shots: list[Path] = []

    def shot(name: str) -> None:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    page.goto(console.url)
    shot("signin")
    sign_in(page, console)
    shot("workspaces")
    page.goto(console.url + "w/ws1/PROD/workflows")
    shot("workflows")
    page.goto(console.url + "w/ws1/PROD/workflows/nightly")
    day = dt.date.today() - dt.timedelta(days=1)
    page.get_by_label("Business date").fill(day.isoformat())
    page.get_by_role("radiogroup", name="audit_copy").get_by_label("Dry run").check()
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview details").first.wait_for()
    shot("run-form")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/console/dags/*")
    load = page.locator("#graph [data-node-id]", has=page.locator("text='load'"))
    expect(load).to_have_attribute("data-status", "FAILURE", timeout=20_000)
    load.click()
    expect(page.locator('[data-role="log"]')).to_contain_text("not there yet", timeout=20_000)
    shot("run")
    page.goto(console.url + "w/ws1/PROD/runs")
    shot("runs")
    page.goto(console.url + "audit")
    shot("audit")
    page.goto(console.url + "lang/zh-CN?next=/console/w/ws1/PROD/workflows/nightly")
    expect(page.get_by_role("button", name="运行", exact=True)).to_be_visible()
    shot("run-form-zh")
    context.close()
    wait_for(lambda: all(p.stat().st_size > 8_000 for p in shots))
    assert [p.stem for p in shots] == [
        "signin",
        "workspaces",
        "workflows",
        "run-form",
        "run",
        "runs",
        "audit",
        "run-form-zh",
    ]
