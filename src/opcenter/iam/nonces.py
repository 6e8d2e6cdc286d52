"""Signature nonces kept in the store, so that a signed request cannot be replayed: not after a
restart of the server, nor against another API process on the same store.

A nonce is recorded as (AccessKey id, nonce) until the end of its request's time window
(`expires_at`). Recording it is one statement: an insert that does nothing when a live row with
the same pair exists (the request is then a replay), and takes over a row whose window ended.
Rows whose window ended are deleted, in one statement, at most once a minute per process.
"""

from __future__ import annotations

import hashlib
import threading

import sqlalchemy as sa

from opcenter.store.db import Database
from opcenter.store.prepared import Prepared
from opcenter.store.tables import RequestNonce

__all__ = ["PURGE_INTERVAL_SECONDS", "StoreNonceStore"]

PURGE_INTERVAL_SECONDS = 60.0
# The column's width; a longer nonce is kept as its SHA-256 (64 hex digits), which is as unique.
_MAX_NONCE = 128

_TABLE = RequestNonce.__table__
# The same text on SQLite and PostgreSQL. A row left over from an ended window is taken over; a
# live one makes this a no-op (rowcount 0): the request is a replay. Run through the driver
# (store/prepared.py): every signed request runs it, and Core's execution path cost more than
# the statement; the driver's rowcount is right on both backends.
_UPSERT = Prepared(
    sa.text(
        "INSERT INTO request_nonce (access_key_id, nonce, expires_at) VALUES (:k, :n, :e) "
        "ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE request_nonce.expires_at <= :t"
    )
)


class StoreNonceStore:
    """A `NonceStore` (see api/signature.py) over the store's `request_nonce` table."""

    def __init__(self, db: Database, *, purge_interval: float = PURGE_INTERVAL_SECONDS) -> None:
        self.db = db
        self.purge_interval = purge_interval
        self._last_purge = float("-inf")
        self._lock = threading.Lock()

    def add(self, access_key_id: str, nonce: str, *, now: float, expires_at: float) -> bool:
        """Record the pair until `expires_at`; False when it is recorded already and still live.

        Store errors propagate (`StoreUnavailable`): a nonce that cannot be recorded refuses
        the request rather than letting it through unchecked.
        """
        now_ms, expires_ms = int(now * 1000), int(expires_at * 1000)
        with self.db.transaction() as session:
            # On the session's connection: every signed request runs this, and the ORM
            # session's execution path costs more than the statement.
            conn = session.connection()
            if self._purge_due(now):
                conn.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at <= now_ms))
            params = {"k": access_key_id, "n": _stored(nonce), "e": expires_ms, "t": now_ms}
            return _UPSERT.rowcount(conn, params) == 1

    def _purge_due(self, now: float) -> bool:
        with self._lock:
            if now - self._last_purge < self.purge_interval:
                return False
            self._last_purge = now
            return True


def _stored(nonce: str) -> str:
    if len(nonce) <= _MAX_NONCE:
        return nonce
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()
