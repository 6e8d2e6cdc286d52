"""The store-backed `KeyResolver` the signature check uses: root keys and RAM users' keys.

Every lookup reads the store, so disabling or deleting a key takes effect on the next request,
whichever process changed it: a deleted key (or a key of a deleted user) resolves to None
(`InvalidAccessKeyId.NotFound`), a disabled one to `enabled=False`
(`InvalidAccessKeyId.Inactive`). The lookup is one indexed row read; in the API server it runs
inside the request's one transaction (`Database.request_transaction`), so it costs no
transaction of its own. What is kept per process is only the opened secret, under the sealed
text it was opened from: a key whose secret was replaced is opened again.
"""

from __future__ import annotations

import sqlalchemy as sa

from opcenter.iam.credentials import ResolvedKey
from opcenter.iam.keys import ACTIVE, SecretBox, load_secret_box
from opcenter.iam.principals import root_principal, user_principal
from opcenter.settings import Settings
from opcenter.store.db import Database
from opcenter.store.prepared import Prepared
from opcenter.store.tables import IamAccessKey, IamUser

__all__ = ["StoreKeyResolver"]

_MAX_OPENED = 10_000


class StoreKeyResolver:
    """Finds AccessKeys in the store and opens their secrets with the server key."""

    def __init__(self, db: Database, settings: Settings, *, box: SecretBox | None = None) -> None:
        self.db = db
        self.account_id = settings.account_id
        self.box = box if box is not None else load_secret_box(settings)
        # access key id -> (sealed secret, opened secret): AES-GCM once per sealed value.
        self._opened: dict[str, tuple[str, str]] = {}

    def _secret(self, access_key_id: str, sealed: str) -> str:
        known = self._opened.get(access_key_id)
        if known is not None and known[0] == sealed:
            return known[1]
        secret = self.box.open(sealed, access_key_id=access_key_id)
        if len(self._opened) >= _MAX_OPENED:
            self._opened.clear()
        self._opened[access_key_id] = (sealed, secret)
        return secret

    def resolve(self, access_key_id: str) -> ResolvedKey | None:
        with self.db.transaction(readonly=True) as session:
            rows = _KEY.rows(session.connection(), {"access_key_id": access_key_id})
        if not rows:
            return None
        key_id, user_id, sealed, status, user_name = rows[0]
        if user_id is not None and user_name is None:
            return None  # its user is gone
        principal = (
            root_principal(self.account_id)
            if user_id is None
            else user_principal(self.account_id, user_name)
        )
        return ResolvedKey(
            access_key_id=key_id,
            secret=self._secret(key_id, sealed),
            principal=principal,
            enabled=status == ACTIVE,
            account_id=self.account_id,
        )


# Built once, only the columns used (strings and an integer, no type processing), run through
# the driver (store/prepared.py): every signed request runs it.
_KEY = Prepared(
    sa.select(
        IamAccessKey.access_key_id,
        IamAccessKey.user_id,
        IamAccessKey.secret_sealed,
        IamAccessKey.status,
        IamUser.name.label("user_name"),
    )
    .outerjoin(IamUser, IamUser.id == IamAccessKey.user_id)
    .where(IamAccessKey.access_key_id == sa.bindparam("access_key_id"))
)
