"""A real opcenter server (API, page, engine) on 127.0.0.1 and Debian's Chromium driven by
Playwright. Under CI=true a missing Chromium fails the browser tests; elsewhere they skip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opcenter.api.server import ServerThread, build_server
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.runners.local import LocalExecutor
from opcenter.service import iam as iam_svc
from opcenter.service.context import ServiceContext
from opcenter.service.definitions import apply_definition
from opcenter.service.workspaces import create_project
from opcenter.settings import load_settings

CHROMIUM = os.environ.get("OPCENTER_CHROMIUM", "/usr/bin/chromium")
ROOT_PASSWORD = "root-password-1"
USER_PASSWORD = "user-password-1"


def chromium_path() -> str:
    """Debian's Chromium, or fail (CI) / skip (elsewhere) when it is not installed."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@dataclass
class Console:
    """A running server: `url` of the page, `ctx` over its store, helpers to make things."""

    ctx: ServiceContext
    base: str
    endpoint: str
    made: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.base + "/console/"

    def workspace(self, identifier: str = "ws1") -> str:
        if identifier not in self.made:
            create_project(self.ctx, project_identifier=identifier, project_name=identifier)
            self.made.append(identifier)
        return identifier

    def apply(self, document: str | dict, workspace: str = "ws1") -> None:
        """Apply and deploy a workflow definition (DataWorks Spec YAML text or a mapping)."""
        self.workspace(workspace)
        if isinstance(document, str):
            import yaml

            document = yaml.safe_load(document)
        apply_definition(self.ctx, path_or_document=document, workspace=workspace, deploy=True)

    def user(
        self,
        name: str,
        *,
        role: str = "role_project_pe",
        workspace: str = "ws1",
        policy: str = "AliyunDataWorksFullAccess",
    ) -> str:
        """A RAM user with `policy` attached, `role` in `workspace`, and USER_PASSWORD."""
        iam_svc.create_user(self.ctx, user_name=name)
        iam_svc.attach_policy(self.ctx, policy_name=policy, user_name=name)
        ws = iam_svc.workspace_ref(self.ctx, project_identifier=self.workspace(workspace))
        uid = next(u.uid for u in iam_svc.list_users(self.ctx) if u.name == name)
        iam_svc.create_project_member(self.ctx, project_id=ws.id, user_id=uid, role_code=role)
        iam_svc.set_login_password(self.ctx, user_name=name, password=USER_PASSWORD)
        return name


@pytest.fixture
def console(tmp_path: Path, start_engine: Callable[..., Any]) -> Iterator[Console]:
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "data", workers=4)
    ctx = ServiceContext.open(settings)
    start_engine(ctx, 4, executor=LocalExecutor(4, stop_grace_seconds=0.5))
    iam_svc.ensure_root(ctx)
    iam_svc.set_login_password(ctx, user_name="root", password=ROOT_PASSWORD)
    app = build_server(
        ctx, key_resolver=StoreKeyResolver(ctx.db, settings), authorize=Authorizer(ctx.db, settings)
    )
    with ServerThread(app, host="127.0.0.1", port=0) as server:
        yield Console(ctx=ctx, base=f"http://{server.endpoint}", endpoint=server.endpoint)
    ctx.db.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(
    page: Any, console: Console, name: str = "root", password: str = ROOT_PASSWORD, target: str = ""
) -> None:
    """Sign in through the form (by what a person sees) and wait for the next page."""
    page.goto(console.url + target.lstrip("/"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)
