"""Signing in and out of the page, in Chromium: the form, wrong passwords slowed down and
audited, the session cookie, its idle timeout, and CSRF on every state-changing request."""

from __future__ import annotations

import re

import sqlalchemy as sa

from opcenter.iam import audit
from opcenter.store.tables import ConsoleSession
from tests.console.conftest import ROOT_PASSWORD, sign_in


def test_a_browser_at_the_server_root_lands_on_the_sign_in_form(console, page):
    page.goto(console.base + "/")
    assert "/console/signin" in page.url
    assert page.get_by_role("button", name="Sign in").is_visible()


def test_root_signs_in_and_sees_the_workspaces(console, page):
    console.workspace("ws1")
    sign_in(page, console)
    assert page.get_by_role("heading", name="Workspaces").is_visible()
    assert page.get_by_role("cell", name="ws1", exact=True).first.is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "opcenter_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"


def test_a_wrong_password_is_refused_audited_and_slowed_down(console, page):
    for _ in range(3):
        page.goto(console.url + "signin")
        page.get_by_label("User name").fill("root")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "The user name or password is wrong."
    # The fourth attempt, even with the right password, must wait.
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert re.fullmatch(
        r"Too many wrong passwords\. Try again in \d+ s\.", page.get_by_role("alert").inner_text()
    )
    with console.ctx.db.transaction(readonly=True) as session:
        events = audit.list_events(session, audit.AuditFilter(action="console:SignIn"))
    assert [e.outcome for e in events].count(audit.DENIED) == 4
    assert all(e.source_ip == "127.0.0.1" for e in events)


def test_an_idle_session_ends_and_the_next_page_asks_to_sign_in_again(console, page):
    sign_in(page, console)
    with console.ctx.db.transaction() as session:
        session.execute(sa.update(ConsoleSession).values(seen_at=0))
    page.goto(console.url)
    assert "/console/signin" in page.url


def test_signing_out_ends_the_session(console, page):
    sign_in(page, console)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/signin$"))
    with console.ctx.db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)) == 0


def test_a_post_without_the_csrf_token_is_refused(console, page):
    sign_in(page, console)
    answer = page.request.post(console.url + "signout", form={"csrf": "forged"})
    assert answer.status == 403
    # Still signed in.
    page.goto(console.url)
    assert page.get_by_role("heading", name="Workspaces").is_visible()


def test_the_page_speaks_chinese_to_a_chinese_browser_and_switches(console, browser):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(console.url)
    assert page.get_by_role("button", name="登录").is_visible()
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("button", name="Sign in").is_visible()
    context.close()


def test_the_page_is_found_with_or_without_its_slash_and_an_unknown_path_says_so(console, page):
    page.goto(console.base + "/console")
    assert "/console/signin" in page.url
    answer = page.goto(console.base + "/console/no-such-page")
    assert answer.status == 404
    assert page.get_by_text("There is no such page.").is_visible()


def test_a_sign_in_posted_from_another_site_is_refused(console, page):
    page.goto(console.url + "signin")
    answer = page.request.post(
        console.url + "signin",
        form={"name": "root", "password": ROOT_PASSWORD},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert not any(c["name"] == "opcenter_session" for c in page.context.cookies())
    # The same form from the page itself signs in.
    sign_in(page, console)
    assert page.get_by_role("heading", name="Workspaces").is_visible()
