"""Sign-in passwords: scrypt hashes, and the wait after wrong passwords in a row."""

from __future__ import annotations

import pytest

from opcenter.iam import passwords


def test_a_hash_verifies_its_password_only_and_is_salted():
    first = passwords.hash_password("correct horse")
    assert first.startswith("scrypt$15$8$1$")
    assert passwords.verify("correct horse", first)
    assert not passwords.verify("correct hors", first)
    assert passwords.hash_password("correct horse") != first


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y$z$a$b", "scrypt$x$8$1$AA$AA"])
def test_a_malformed_stored_hash_never_verifies(stored):
    assert not passwords.verify("anything", stored)


def test_the_wait_grows_after_three_wrong_passwords_up_to_a_minute():
    assert [passwords.delay_after(n) for n in range(8)] == [0, 0, 0, 1, 2, 4, 8, 16]
    assert passwords.delay_after(30) == 60


def test_the_store_keeps_hashes_and_counts_failures(ctx):
    with ctx.db.transaction() as session:
        passwords.set_password(session, "alice", "s3cret-pass", now=1)
    with ctx.db.transaction() as session:
        assert passwords.verify_password(session, "alice", "s3cret-pass")
        assert not passwords.verify_password(session, "alice", "wrong")
        assert not passwords.verify_password(session, "nobody", "s3cret-pass")
        assert passwords.note_failure(session, "alice", now=5) == 1
        assert passwords.note_failure(session, "alice", now=6) == 2
    with ctx.db.transaction() as session:
        assert passwords.failures_of(session, "alice") == (2, 6)
        passwords.note_success(session, "alice")
        assert passwords.failures_of(session, "alice") == (0, 0)
