"""Sign-in passwords of the page: scrypt hashes, and the wait after wrong ones.

A password is stored as `scrypt$<log2 N>$<r>$<p>$<salt>$<key>` (base64, no padding): scrypt is
memory-hard (N=2^15, r=8 uses 32 MiB per check), in the standard library, and its parameters
travel with each hash so they can be raised later without breaking stored ones. A name is
"root" (the account) or a RAM user's name.

Wrong passwords for one name are counted in the store (shared by every API process); the
next attempt for that name must wait `delay_after(failures)` seconds — 0 for the first three,
then 1, 2, 4 … up to 60 — and a right password resets the count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.store.tables import LoginFailure, LoginPassword

__all__ = [
    "MIN_LENGTH",
    "delay_after",
    "failures_of",
    "forget_password",
    "hash_password",
    "note_failure",
    "note_success",
    "set_password",
    "verify",
    "verify_password",
]

MIN_LENGTH = 8
_LOG_N, _R, _P = 15, 8, 1
_FREE_FAILURES = 3
_MAX_DELAY_SECONDS = 60.0
# A hash to check against when the name has no password, so both cases take as long.
_DUMMY: str | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * r * n, dklen=32
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password`."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, _LOG_N, _R, _P)
    return f"scrypt${_LOG_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify(password: str, stored: str) -> bool:
    """Whether `password` matches the `stored` hash (constant-time comparison)."""
    try:
        kind, log_n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        got = _scrypt(password, _unb64(salt), int(log_n), int(r), int(p))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, _unb64(key))


def set_password(session: Session, name: str, password: str, *, now: int) -> None:
    """Store `name`'s password (replacing any) and clear its wrong-password count."""
    digest = hash_password(password)
    row = session.get(LoginPassword, name)
    if row is None:
        session.add(LoginPassword(name=name, hash=digest, updated_at=now))
    else:
        row.hash, row.updated_at = digest, now
    session.execute(sa.delete(LoginFailure).where(LoginFailure.name == name))


def forget_password(session: Session, name: str) -> None:
    """Remove `name`'s password (its user was deleted)."""
    session.execute(sa.delete(LoginPassword).where(LoginPassword.name == name))
    session.execute(sa.delete(LoginFailure).where(LoginFailure.name == name))


def verify_password(session: Session, name: str, password: str) -> bool:
    """Whether `name` has a password and `password` is it. A name without one costs a hash
    check all the same, so timing does not tell which names exist."""
    global _DUMMY
    row = session.get(LoginPassword, name)
    if row is None:
        if _DUMMY is None:
            _DUMMY = hash_password(secrets.token_hex(8))
        verify(password, _DUMMY)
        return False
    return verify(password, row.hash)


def delay_after(failures: int) -> float:
    """Seconds the next attempt must wait after `failures` wrong passwords in a row."""
    if failures < _FREE_FAILURES:
        return 0.0
    return min(_MAX_DELAY_SECONDS, float(2 ** (failures - _FREE_FAILURES)))


def failures_of(session: Session, name: str) -> tuple[int, int]:
    """(wrong passwords in a row, epoch ms of the last one) for `name`; (0, 0) when none."""
    row = session.get(LoginFailure, name)
    return (0, 0) if row is None else (row.failures, row.last_at)


def note_failure(session: Session, name: str, *, now: int) -> int:
    """Count one more wrong password for `name`; returns the count."""
    row = session.get(LoginFailure, name)
    if row is None:
        row = LoginFailure(name=name, failures=0, last_at=now)
        session.add(row)
    row.failures += 1
    row.last_at = now
    return row.failures


def note_success(session: Session, name: str) -> None:
    """A right password: the count starts again."""
    session.execute(sa.delete(LoginFailure).where(LoginFailure.name == name))
