"""The audit page: the account reads the whole trail; a RAM user reads its own events and
those of the workspaces it administers; filters narrow it."""

from __future__ import annotations

from opcenter.iam.authorizer import AccessRequest, Authorizer
from tests.console.conftest import USER_PASSWORD, sign_in


def _write(console, workspace: str, operation: str) -> None:
    """An allowed write by the account on `workspace`, decided (and audited) for real."""
    settings = console.ctx.settings
    Authorizer(console.ctx.db, settings).check(
        AccessRequest(
            principal=f"acs:ram::{settings.account_id}:root",
            action=f"dataworks:{operation}",
            resource=f"acs:dataworks:{settings.region}:{settings.account_id}:workspace/{workspace}",
            source_ip="10.1.2.3",
            now=console.ctx.clock() / 1000,
        )
    )


def _rows(page) -> list[str]:
    return page.locator("table.audit tbody tr").all_inner_texts()


def test_the_account_reads_the_whole_trail_and_filters_it(console, page):
    console.workspace("ws1")
    console.workspace("ws2")
    _write(console, "ws1", "CreateFile")
    _write(console, "ws2", "DeployFile")
    sign_in(page, console, target="audit")
    rows = _rows(page)
    assert any(
        "dataworks:CreateFile" in r and "workspace/ws1" in r and "10.1.2.3" in r for r in rows
    )
    assert any("dataworks:DeployFile" in r and "workspace/ws2" in r for r in rows)
    assert any("console:SignIn" in r for r in rows)
    page.get_by_label("Action").fill("dataworks:Deploy*")
    page.get_by_role("button", name="Filter").click()
    rows = _rows(page)
    assert len(rows) == 1 and "dataworks:DeployFile" in rows[0]


def test_an_administrator_reads_its_workspaces_and_a_visitor_only_itself(console, page):
    console.workspace("ws1")
    console.workspace("ws2")
    console.user("ada", role="role_project_admin", workspace="ws1")
    console.user("vic", role="role_project_guest", workspace="ws2")
    _write(console, "ws1", "CreateFile")
    _write(console, "ws2", "DeployFile")
    sign_in(page, console, "ada", USER_PASSWORD, target="audit")
    rows = _rows(page)
    assert any("dataworks:CreateFile" in r for r in rows)
    assert not any("dataworks:DeployFile" in r for r in rows)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console, "vic", USER_PASSWORD, target="audit")
    rows = _rows(page)
    assert rows and all("user/vic" in r for r in rows)  # its own sign-in only
