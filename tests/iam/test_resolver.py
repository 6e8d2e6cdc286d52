"""The store-backed KeyResolver and the bootstrap of the root account."""

from __future__ import annotations

import dataclasses

import pytest

from opcenter.errors import MissingParameter
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.service import iam
from opcenter.service.context import ServiceContext

from .conftest import ACCOUNT


def test_ensure_root_does_generate_a_key_once_given_an_empty_store(ictx: ServiceContext) -> None:
    key_id, secret = iam.ensure_root(ictx)
    assert secret is not None and len(secret) == 30
    # A restart returns the same key, without its secret.
    assert iam.ensure_root(ictx) == (key_id, None)
    resolved = StoreKeyResolver(ictx.db, ictx.settings).resolve(key_id)
    assert resolved is not None
    assert resolved.secret == secret
    assert resolved.principal == f"acs:ram::{ACCOUNT}:root"
    assert resolved.account_id == ACCOUNT
    assert resolved.enabled is True


def test_ensure_root_does_install_the_configured_pair_given_settings(
    ictx: ServiceContext,
) -> None:
    ictx.settings = dataclasses.replace(
        ictx.settings, root_access_key_id="AKID_ROOT", root_access_key_secret="first"
    )
    assert iam.ensure_root(ictx) == ("AKID_ROOT", None)
    # The configured secret wins over what the store had.
    ictx.settings = dataclasses.replace(ictx.settings, root_access_key_secret="second")
    assert iam.ensure_root(ictx) == ("AKID_ROOT", None)
    resolved = StoreKeyResolver(ictx.db, ictx.settings).resolve("AKID_ROOT")
    assert resolved is not None and resolved.secret == "second"
    assert [k.access_key_id for k in iam.list_access_keys(ictx)] == ["AKID_ROOT"]


def test_ensure_root_fails_given_only_half_a_configured_pair(ictx: ServiceContext) -> None:
    ictx.settings = dataclasses.replace(ictx.settings, root_access_key_id="AKID_ROOT")
    with pytest.raises(MissingParameter) as caught:
        iam.ensure_root(ictx)
    assert caught.value.parameter == "OPCENTER_ROOT_ACCESS_KEY_SECRET"


def test_resolve_does_name_the_user_given_a_ram_users_key(ictx: ServiceContext) -> None:
    iam.create_user(ictx, user_name="alice")
    record, secret = iam.create_access_key(ictx, user_name="alice")
    resolved = StoreKeyResolver(ictx.db, ictx.settings).resolve(record.access_key_id)
    assert resolved is not None
    assert (resolved.principal, resolved.secret, resolved.enabled) == (
        f"acs:ram::{ACCOUNT}:user/alice",
        secret,
        True,
    )


def test_resolve_does_return_none_given_an_unknown_key(ictx: ServiceContext) -> None:
    assert StoreKeyResolver(ictx.db, ictx.settings).resolve("LTAInothere") is None


def test_resolve_does_honour_disable_and_delete_at_once(ictx: ServiceContext) -> None:
    iam.create_user(ictx, user_name="alice")
    record, _ = iam.create_access_key(ictx, user_name="alice")
    resolver = StoreKeyResolver(ictx.db, ictx.settings)
    iam.disable_access_key(ictx, access_key_id=record.access_key_id)
    disabled = resolver.resolve(record.access_key_id)
    assert disabled is not None and disabled.enabled is False
    iam.enable_access_key(ictx, access_key_id=record.access_key_id)
    enabled = resolver.resolve(record.access_key_id)
    assert enabled is not None and enabled.enabled is True
    iam.delete_access_key(ictx, access_key_id=record.access_key_id)
    assert resolver.resolve(record.access_key_id) is None


def test_resolve_does_return_none_given_a_deleted_user(ictx: ServiceContext) -> None:
    iam.create_user(ictx, user_name="carol")
    record, _ = iam.create_access_key(ictx, user_name="carol")
    iam.delete_user(ictx, user_name="carol")
    assert StoreKeyResolver(ictx.db, ictx.settings).resolve(record.access_key_id) is None
