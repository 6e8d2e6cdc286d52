"""AccessKeys: generation, sealing at rest, the server key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.errors import InternalError, NotFound
from opcenter.iam.keys import (
    SECRET_KEY_FILE,
    SecretBox,
    generate_server_key,
    load_secret_box,
    new_access_key_id,
    new_secret,
)
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.tables import IamAccessKey
from tests.conftest import stored_bytes


def test_new_access_key_id_does_look_like_alibaba_cloud_ids() -> None:
    key_id = new_access_key_id()
    assert key_id.startswith("LTAI")
    assert len(key_id) == 24
    assert key_id.isalnum()
    assert new_access_key_id() != key_id


def test_new_secret_does_have_thirty_random_characters() -> None:
    secret = new_secret()
    assert len(secret) == 30
    assert secret.isalnum()
    assert new_secret() != secret


def test_secret_box_does_open_what_it_sealed_given_the_same_key_id() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal("s3cret", access_key_id="LTAIa")
    assert sealed.startswith("v1.")
    assert "s3cret" not in sealed
    assert box.open(sealed, access_key_id="LTAIa") == "s3cret"


def test_secret_box_fails_given_a_seal_moved_to_another_key_id() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal("s3cret", access_key_id="LTAIa")
    with pytest.raises(InternalError) as caught:
        box.open(sealed, access_key_id="LTAIb")
    assert caught.value.message == (
        "The secret of AccessKey LTAIb cannot be opened with the server key; was "
        "OPCENTER_SECRET_KEY or the data directory's secret.key changed?"
    )


def test_secret_box_fails_given_another_server_key() -> None:
    sealed = SecretBox(os.urandom(32)).seal("s3cret", access_key_id="LTAIa")
    with pytest.raises(InternalError):
        SecretBox(os.urandom(32)).open(sealed, access_key_id="LTAIa")


def test_load_secret_box_does_create_a_0600_key_file_given_no_secret_key(tmp_path: Path) -> None:
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "d")
    box = load_secret_box(settings)
    key_file = tmp_path / "d" / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # A second load (a restart) reads the same key.
    sealed = box.seal("x", access_key_id="k")
    assert load_secret_box(settings).open(sealed, access_key_id="k") == "x"


def test_load_secret_box_does_use_the_setting_given_opcenter_secret_key(tmp_path: Path) -> None:
    key = generate_server_key()
    env = {"OPCENTER_SECRET_KEY": key, "OPCENTER_DATA_DIR": str(tmp_path / "d")}
    settings = load_settings(environ=env, dotenv=None)
    sealed = load_secret_box(settings).seal("x", access_key_id="k")
    assert not (tmp_path / "d" / SECRET_KEY_FILE).exists()
    # Any text works too (stretched with HKDF), and gives a different key.
    other = load_settings(environ={**env, "OPCENTER_SECRET_KEY": "a passphrase"}, dotenv=None)
    with pytest.raises(InternalError):
        load_secret_box(other).open(sealed, access_key_id="k")
    assert load_secret_box(settings).open(sealed, access_key_id="k") == "x"


def test_database_file_does_not_contain_any_secret_given_created_keys(
    ictx: ServiceContext,
) -> None:
    # Given a root key and two user keys
    _, root_secret = iam.ensure_root(ictx)
    iam.create_user(ictx, user_name="alice")
    _, alice_secret = iam.create_access_key(ictx, user_name="alice")
    _, alice_second = iam.create_access_key(ictx, user_name="alice")
    ictx.db.dispose()  # checkpoint the WAL into the main file
    # Then neither the rows nor (SQLite) the database file and its journal hold a secret's bytes
    stored = stored_bytes(ictx.db)
    assert root_secret is not None
    for secret in (root_secret, alice_secret, alice_second):
        assert secret.encode() not in stored
    # And a stolen database without the server key opens nothing
    with ictx.db.transaction() as s:
        sealed = s.scalars(sa.select(IamAccessKey)).all()
    assert len(sealed) == 3
    thief = SecretBox(os.urandom(32))
    for row in sealed:
        with pytest.raises(InternalError):
            thief.open(row.secret_sealed, access_key_id=row.access_key_id)


def test_key_lifecycle_does_list_disable_enable_and_delete(ictx: ServiceContext) -> None:
    iam.create_user(ictx, user_name="bob")
    record, secret = iam.create_access_key(ictx, user_name="bob")
    assert record.status == "Active"
    assert [k.access_key_id for k in iam.list_access_keys(ictx, user_name="bob")] == [
        record.access_key_id
    ]
    iam.disable_access_key(ictx, access_key_id=record.access_key_id)
    assert iam.list_access_keys(ictx, user_name="bob")[0].status == "Inactive"
    iam.enable_access_key(ictx, access_key_id=record.access_key_id)
    assert iam.list_access_keys(ictx, user_name="bob")[0].status == "Active"
    iam.delete_access_key(ictx, access_key_id=record.access_key_id)
    assert iam.list_access_keys(ictx, user_name="bob") == []
    assert iam.list_access_keys(ictx) == []  # root has none of bob's keys


def test_delete_access_key_fails_given_an_unknown_key(ictx: ServiceContext) -> None:
    with pytest.raises(NotFound) as caught:
        iam.delete_access_key(ictx, access_key_id="LTAInope")
    assert caught.value.code == "Invalid.AccessKey.NotExists"
    assert caught.value.message == 'The AccessKey "LTAInope" does not exist.'
