"""Page sessions in the store (both stores): opened by a right password, found by their cookie
token only, ended by signing out or by staying idle too long; wrong passwords wait."""

from __future__ import annotations

import dataclasses

import pytest

from opcenter.console.sessions import SignInRefused, load_session, sign_in, sign_out
from opcenter.service import iam as iam_svc
from opcenter.store.tables import ConsoleSession


@pytest.fixture
def clocked(ctx):
    now = [1_000_000_000_000]
    ctx = dataclasses.replace(ctx, clock=lambda: now[0])
    iam_svc.ensure_root(ctx)
    iam_svc.create_user(ctx, user_name="alice")
    iam_svc.set_login_password(ctx, user_name="alice", password="alice-password")
    return ctx, now


def test_a_session_is_found_by_its_token_and_the_store_keeps_only_its_digest(clocked):
    ctx, _ = clocked
    token, info = sign_in(ctx, name="alice", password="alice-password", source_ip="10.0.0.9")
    assert load_session(ctx, token) == info
    with ctx.db.transaction(readonly=True) as session:
        row = session.get(ConsoleSession, info.key)
        assert row is not None and row.source_ip == "10.0.0.9"
        assert token not in (row.id, row.csrf)
    assert load_session(ctx, info.key) is None  # the digest is not a token
    assert load_session(ctx, None) is None
    sign_out(ctx, token)
    assert load_session(ctx, token) is None


def test_an_idle_session_ends_and_a_used_one_lives_on(clocked):
    ctx, now = clocked
    token, _ = sign_in(ctx, name="alice", password="alice-password")
    idle_ms = ctx.settings.session_idle_minutes * 60_000
    for _ in range(3):  # used just within the timeout, three times over
        now[0] += idle_ms - 1_000
        assert load_session(ctx, token) is not None
    now[0] += idle_ms + 1
    assert load_session(ctx, token) is None
    with ctx.db.transaction(readonly=True) as session:
        assert session.query(ConsoleSession).count() == 0


def test_after_three_wrong_passwords_even_the_right_one_waits(clocked):
    ctx, now = clocked
    for _ in range(3):
        with pytest.raises(SignInRefused, match="wrong"):
            sign_in(ctx, name="alice", password="nope")
    with pytest.raises(SignInRefused) as refused:
        sign_in(ctx, name="alice", password="alice-password")
    assert refused.value.wait_seconds == 1
    now[0] += 1_001
    token, _ = sign_in(ctx, name="alice", password="alice-password")
    assert load_session(ctx, token) is not None


def test_an_unknown_name_reads_like_a_wrong_password(clocked):
    ctx, _ = clocked
    with pytest.raises(SignInRefused) as refused:
        sign_in(ctx, name="mallory", password="alice-password")
    assert refused.value.message == "The user name or password is wrong."
