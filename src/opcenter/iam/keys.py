"""AccessKey pairs: generation, sealing of secrets at rest, and their rows in the store.

A secret is shown once, when its key is created. The store keeps it sealed with AES-256-GCM
under a *server key* that never enters the database: `OPCENTER_SECRET_KEY` (settings
`secret_key`) when set, else the file `<data_dir>/secret.key`, created with mode 0600 on first
use. The AccessKey id is the associated data of the seal, so a sealed secret copied onto another
key's row does not open. A stolen database alone therefore yields no usable secret.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from opcenter.errors import InternalError, InvalidParameter, NotFound
from opcenter.settings import Settings
from opcenter.store.tables import IamAccessKey

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "SECRET_KEY_FILE",
    "KeyRecord",
    "SecretBox",
    "create_access_key",
    "delete_access_key",
    "generate_server_key",
    "get_access_key",
    "list_access_keys",
    "load_secret_box",
    "new_access_key_id",
    "new_secret",
    "set_access_key_status",
]

logger = logging.getLogger(__name__)

ACTIVE = "Active"
INACTIVE = "Inactive"
SECRET_KEY_FILE = "secret.key"
ACCESS_KEY_ID_PREFIX = "LTAI"  # as Alibaba Cloud's long-term AccessKey ids begin
ACCESS_KEY_ID_RANDOM_CHARS = 20
SECRET_CHARS = 30
_ALPHABET = string.ascii_letters + string.digits
_SEAL_VERSION = "v1"
_NONCE_BYTES = 12
_HKDF_INFO = b"opcenter accesskey secrets v1"


def new_access_key_id() -> str:
    """A fresh AccessKey id: `LTAI` and 20 random letters and digits."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(ACCESS_KEY_ID_RANDOM_CHARS))
    return ACCESS_KEY_ID_PREFIX + tail


def new_secret() -> str:
    """A fresh AccessKey secret: 30 random letters and digits (about 178 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_CHARS))


# --- sealing --------------------------------------------------------------------------------


class SecretBox:
    """Seals and opens AccessKey secrets with one 256-bit server key (AES-GCM)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"the server key must be 32 bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, secret: str, *, access_key_id: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), access_key_id.encode("utf-8"))
        token = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{_SEAL_VERSION}.{token}"

    def open(self, sealed: str, *, access_key_id: str) -> str:
        """The secret sealed for `access_key_id`; InternalError if the server key differs."""
        version, _, token = sealed.partition(".")
        try:
            if version != _SEAL_VERSION:
                raise ValueError(version)
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], access_key_id.encode("utf-8")
            )
        except (InvalidTag, ValueError, binascii.Error):
            raise InternalError(
                f"The secret of AccessKey {access_key_id} cannot be opened with the server key; "
                "was OPCENTER_SECRET_KEY or the data directory's secret.key changed?"
            ) from None
        return plain.decode("utf-8")


def _derive(material: str) -> bytes:
    # A urlsafe-base64 32-byte key (what `generate_server_key` prints) is used as it is; any
    # other text is stretched with HKDF, which assumes it is already high-entropy.
    try:
        raw = base64.urlsafe_b64decode(material.encode("ascii"))
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError, UnicodeEncodeError):
        pass
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return hkdf.derive(material.encode("utf-8"))


def generate_server_key() -> str:
    """A new server key in the form `OPCENTER_SECRET_KEY` takes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            logger.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
        text = path.read_text().strip()
        if not text:
            raise InternalError(f"The server key file {path} is empty.") from None
        return text
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_server_key() + "\n")
    return path.read_text().strip()


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for this server: from `settings.secret_key`, else `<data_dir>/secret.key`."""
    material = settings.secret_key or _key_file(settings.data_dir / SECRET_KEY_FILE)
    return SecretBox(_derive(material))


# --- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    """An AccessKey as listed: never its secret."""

    access_key_id: str
    user_id: int | None
    status: str
    created_at: int
    modified_at: int


def _record(row: IamAccessKey) -> KeyRecord:
    return KeyRecord(row.access_key_id, row.user_id, row.status, row.created_at, row.modified_at)


def create_access_key(
    session: Session,
    box: SecretBox,
    *,
    user_id: int | None,
    now: int,
    access_key_id: str | None = None,
    secret: str | None = None,
) -> tuple[KeyRecord, str]:
    """Create a key for a user (None: the root account); return it and its plain secret."""
    key_id = access_key_id or new_access_key_id()
    plain = secret or new_secret()
    row = IamAccessKey(
        access_key_id=key_id,
        user_id=user_id,
        secret_sealed=box.seal(plain, access_key_id=key_id),
        status=ACTIVE,
        created_at=now,
        modified_at=now,
    )
    session.add(row)
    session.flush()
    return _record(row), plain


def _row(session: Session, access_key_id: str) -> IamAccessKey:
    row = session.get(IamAccessKey, access_key_id)
    if row is None:
        raise NotFound("AccessKey", f'The AccessKey "{access_key_id}" does not exist.')
    return row


def get_access_key(session: Session, access_key_id: str) -> KeyRecord:
    return _record(_row(session, access_key_id))


def list_access_keys(session: Session, *, user_id: int | None) -> list[KeyRecord]:
    """The keys of one user (None: the root account), oldest first."""
    condition = (
        IamAccessKey.user_id.is_(None) if user_id is None else IamAccessKey.user_id == user_id
    )
    rows = session.scalars(
        sa.select(IamAccessKey).where(condition).order_by(IamAccessKey.created_at)
    )
    return [_record(r) for r in rows]


def set_access_key_status(session: Session, access_key_id: str, status: str, *, now: int) -> None:
    """Enable (`Active`) or disable (`Inactive`) a key. A disabled key signs nothing."""
    if status not in (ACTIVE, INACTIVE):
        raise InvalidParameter(
            f'Status "{status}" is not valid; expected "{ACTIVE}" or "{INACTIVE}".'
        )
    row = _row(session, access_key_id)
    row.status = status
    row.modified_at = now


def delete_access_key(session: Session, access_key_id: str) -> None:
    session.delete(_row(session, access_key_id))
