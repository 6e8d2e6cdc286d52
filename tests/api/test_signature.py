"""Signature checks: the pure verifier, then the real SDKs against a real server."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.acs_exception.exceptions import ServerException as AcsServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkdataworks_public.request.v20200518.GetDagRequest import GetDagRequest
from aliyunsdkdataworks_public.request.v20200518.GetProjectRequest import GetProjectRequest
from darabonba.request import DaraRequest

from opcenter.api.rpc import Call, Registry
from opcenter.api.signature import (
    InMemoryNonceStore,
    StaticKeyResolver,
    root_key,
    v2_string_to_sign,
    verify_request,
)
from opcenter.errors import AuthError
from tests.api.conftest import (
    DISABLED_KEY_ID,
    DISABLED_KEY_SECRET,
    RunningServer,
    ServerFactory,
)
from tests.api.sdk import acs_client, aimed, capture, resend, send_raw, tea_client

MISMATCH = "Specified signature is not matched with our calculation."
EXPIRED = "Specified time stamp or date value is expired."
NONCE_USED = "Specified signature nonce was used already."
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
NOW_TEXT = "2023-11-14T22:13:20Z"
KEYS = StaticKeyResolver({"AK": root_key("AK", "SECRET", account_id="42")})


def _registry() -> Registry:
    registry = Registry()

    @registry.operation("GetProject")
    def get_project(call: Call) -> dict[str, Any]:
        return {"Data": {"ProjectId": call.int("ProjectId", required=True)}}

    @registry.operation("GetDag")
    def get_dag(call: Call) -> dict[str, Any]:
        return {"Data": {"DagId": call.int("DagId", required=True)}}

    return registry


@pytest.fixture(scope="module")
def server(module_rpc_server: ServerFactory) -> RunningServer:
    return module_rpc_server(_registry())


# --- the pure verifier ----------------------------------------------------------------------


def _sdk_signed_acs3(body: bytes, *, date: str = NOW_TEXT, nonce: str = "n-1") -> DaraRequest:
    """A request signed by the SDK's own `Utils.get_authorization`."""
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = {"Note": "a b*~/ü"}
    request.headers = {
        "host": "example:1",
        "x-acs-action": "GetDag",
        "x-acs-version": "2020-05-18",
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    request.headers["Authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", hashlib.sha256(body).hexdigest(), "AK", "SECRET"
    )
    return request


def _verify(request: DaraRequest, body: bytes, **overrides: Any) -> Any:
    options: dict[str, Any] = {"now": NOW, "keys": KEYS, "nonces": InMemoryNonceStore()}
    options.update(overrides)
    return verify_request(
        request.method,
        request.pathname,
        list(request.query.items()),
        list(request.headers.items()),
        body,
        **options,
    )


def test_verify_request_accepts_given_request_signed_by_sdk_utils() -> None:
    body = b"DagId=1&ProjectEnv=PROD"
    auth = _verify(_sdk_signed_acs3(body), body)
    assert (auth.principal, auth.algorithm, auth.nonce) == (
        "acs:ram::42:root",
        "ACS3-HMAC-SHA256",
        "n-1",
    )
    assert auth.timestamp == NOW


def test_verify_request_fails_given_body_differs_from_signed_hash() -> None:
    request = _sdk_signed_acs3(b"DagId=1")
    with pytest.raises(AuthError) as caught:
        _verify(request, b"DagId=2")
    assert (caught.value.code, caught.value.message, caught.value.http_status) == (
        "SignatureDoesNotMatch",
        MISMATCH,
        400,
    )


@pytest.mark.parametrize("skew", [15 * 60 + 1, -(15 * 60 + 1)])
def test_verify_request_fails_given_time_stamp_more_than_15_minutes_off(skew: int) -> None:
    body = b""
    with pytest.raises(AuthError) as caught:
        _verify(_sdk_signed_acs3(body), body, now=NOW + skew)
    assert (caught.value.code, caught.value.message) == ("InvalidTimeStamp.Expired", EXPIRED)


def test_verify_request_accepts_given_time_stamp_exactly_15_minutes_off() -> None:
    auth = _verify(_sdk_signed_acs3(b""), b"", now=NOW + 15 * 60)
    assert auth.timestamp == NOW


@pytest.mark.parametrize(
    "date",
    ["2023-11-14 22:13:20", "2023-11-14T22:13:20", "20231114T221320Z", "2023-13-14T22:13:20Z"],
)
def test_verify_request_fails_given_malformed_date(date: str) -> None:
    with pytest.raises(AuthError) as caught:
        _verify(_sdk_signed_acs3(b"", date=date), b"")
    assert caught.value.code == "InvalidTimeStamp.Format"
    assert caught.value.message == (
        "Specified time stamp or date value is not well formatted. "
        f'x-acs-date is "{date}"; expected "YYYY-MM-DDThh:mm:ssZ" (UTC).'
    )


def test_verify_request_fails_given_same_nonce_twice_within_window() -> None:
    nonces = InMemoryNonceStore()
    _verify(_sdk_signed_acs3(b""), b"", nonces=nonces)
    with pytest.raises(AuthError) as caught:
        _verify(_sdk_signed_acs3(b""), b"", nonces=nonces, now=NOW + 60)
    assert (caught.value.code, caught.value.message) == ("SignatureNonceUsed", NONCE_USED)


def test_verify_request_does_not_charge_nonce_given_wrong_signature() -> None:
    nonces = InMemoryNonceStore()
    with pytest.raises(AuthError):
        _verify(_sdk_signed_acs3(b"x=1"), b"x=2", nonces=nonces)
    assert len(nonces) == 0


def test_in_memory_nonce_store_forgets_given_entry_expired() -> None:
    nonces = InMemoryNonceStore()
    assert nonces.add("AK", "n", now=0.0, expires_at=10.0) is True
    assert nonces.add("AK", "n", now=9.0, expires_at=19.0) is False
    assert nonces.add("AK", "n", now=10.0, expires_at=20.0) is True
    assert len(nonces) == 1


def test_in_memory_nonce_store_keeps_nonces_per_access_key() -> None:
    nonces = InMemoryNonceStore()
    assert nonces.add("AK1", "n", now=0.0, expires_at=10.0) is True
    assert nonces.add("AK2", "n", now=0.0, expires_at=10.0) is True


def test_in_memory_nonce_store_drops_oldest_given_capacity_reached() -> None:
    nonces = InMemoryNonceStore(capacity=2)
    for nonce in ("a", "b", "c"):
        assert nonces.add("AK", nonce, now=0.0, expires_at=100.0) is True
    assert len(nonces) == 2
    assert nonces.add("AK", "a", now=1.0, expires_at=100.0) is True
    assert nonces.add("AK", "c", now=1.0, expires_at=100.0) is False


def _sdk_signed_v2(**changes: str | None) -> list[tuple[str, str]]:
    """V2 query parameters signed by the SDK's `Utils.get_rpcsignature`, then changed."""
    params: dict[str, str] = {
        "Action": "GetDag",
        "Version": "2020-05-18",
        "Format": "json",
        "Timestamp": NOW_TEXT,
        "SignatureNonce": "n-2",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": "AK",
    }
    params["Signature"] = Utils.get_rpcsignature({**params, "DagId": "1"}, "POST", "SECRET")
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None:
            params[name] = value
    return list(params.items())


def _verify_v2(query: list[tuple[str, str]]) -> Any:
    return verify_request(
        "POST",
        "/",
        query,
        [],
        b"DagId=1",
        form=[("DagId", "1")],
        now=NOW,
        keys=KEYS,
        nonces=InMemoryNonceStore(),
    )


def test_verify_request_accepts_given_v2_parameters_signed_by_sdk_utils() -> None:
    auth = _verify_v2(_sdk_signed_v2())
    assert (auth.principal, auth.algorithm, auth.nonce) == ("acs:ram::42:root", "HMAC-SHA1", "n-2")


def test_verify_request_fails_given_v2_signature_method_other_than_hmac_sha1() -> None:
    with pytest.raises(AuthError) as caught:
        _verify_v2(_sdk_signed_v2(SignatureMethod="HMAC-SHA256"))
    assert (caught.value.code, caught.value.http_status) == ("InvalidSignatureMethod", 400)
    assert caught.value.message.startswith(
        'Specified signature method is not valid. "HMAC-SHA256" is not supported'
    )


def test_verify_request_fails_given_v2_nonce_missing() -> None:
    with pytest.raises(AuthError) as caught:
        _verify_v2(_sdk_signed_v2(SignatureNonce=None))
    assert (caught.value.code, caught.value.message) == (
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards. "
        'The parameter "SignatureNonce" is missing.',
    )


def test_v2_string_to_sign_equals_aliyunsdkcore_given_same_parameters() -> None:
    params = {"Action": "GetDag", "Version": "2020-05-18", "Note": "a b*~/ü+&="}
    body = {"DagId": "1", "ProjectEnv": "PROD"}
    # get_signed_url adds Timestamp, SignatureNonce... (and Signature) to `params` in place.
    _, sdk_string = rpc_signature_composer.get_signed_url(
        params, "AK", "SECRET", "JSON", "POST", body
    )
    assert "Signature" in params
    assert v2_string_to_sign("POST", {**params, **body}) == sdk_string


# --- through the SDKs -----------------------------------------------------------------------


def test_sdk_acs3_call_succeeds_given_root_key(server: RunningServer) -> None:
    response = tea_client(server).get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert response.status_code == 200
    assert response.body.data.dag_id == 7


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_fails_given_wrong_secret(server: RunningServer, algorithm: str | None) -> None:
    client = tea_client(server, access_key_secret="wrong", signature_algorithm=algorithm)
    with pytest.raises(ClientException) as caught:
        client.get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(f"code: 400, {MISMATCH}")


def test_aliyunsdkcore_call_fails_with_invalid_secret_given_wrong_secret(
    server: RunningServer,
) -> None:
    # aliyunsdkcore compares its string to sign with the one the V2 gateway returns in the
    # message and, when they agree, blames the secret.
    client = acs_client(server, access_key_secret="wrong")
    request = aimed(GetProjectRequest())
    request.set_ProjectId(3)
    with pytest.raises(AcsServerException) as caught:
        client.do_action_with_exception(request)
    assert caught.value.get_error_code() == "InvalidAccessKeySecret"
    assert caught.value.get_http_status() == 400


def test_aliyunsdkcore_call_succeeds_given_body_parameters(server: RunningServer) -> None:
    request = aimed(GetDagRequest())
    request.set_DagId(11)
    request.set_ProjectEnv("PROD")
    body = json.loads(acs_client(server).do_action_with_exception(request))
    assert body["Data"] == {"DagId": 11}


@pytest.mark.parametrize(
    ("key_id", "secret", "code", "message", "status"),
    [
        (
            "LTAI-nobody",
            "x",
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
            404,
        ),
        (
            DISABLED_KEY_ID,
            DISABLED_KEY_SECRET,
            "InvalidAccessKeyId.Inactive",
            "Specified access key is disabled.",
            400,
        ),
    ],
)
@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_fails_given_unusable_access_key(
    server: RunningServer,
    algorithm: str | None,
    key_id: str,
    secret: str,
    code: str,
    message: str,
    status: int,
) -> None:
    client = tea_client(
        server, access_key_id=key_id, access_key_secret=secret, signature_algorithm=algorithm
    )
    with pytest.raises(ClientException) as caught:
        client.get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert (caught.value.code, caught.value.status_code) == (code, status)
    assert caught.value.message.startswith(f"code: {status}, {message} request id: ")


def test_aliyunsdkcore_call_fails_given_unknown_access_key(server: RunningServer) -> None:
    request = aimed(GetProjectRequest())
    request.set_ProjectId(3)
    with pytest.raises(AcsServerException) as caught:
        acs_client(server, access_key_id="LTAI-nobody").do_action_with_exception(request)
    assert caught.value.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert caught.value.get_error_msg() == "Specified access key is not found."
    assert caught.value.get_http_status() == 404


@pytest.fixture
def skewed_server(rpc_server: ServerFactory, request: pytest.FixtureRequest) -> RunningServer:
    offset = request.param
    return rpc_server(_registry(), clock=lambda: time.time() + offset)


@pytest.mark.parametrize("skewed_server", [16 * 60, -16 * 60], indirect=True)
@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_fails_given_server_clock_16_minutes_off(
    skewed_server: RunningServer, algorithm: str | None
) -> None:
    client = tea_client(skewed_server, signature_algorithm=algorithm)
    with pytest.raises(ClientException) as caught:
        client.get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert (caught.value.code, caught.value.status_code) == ("InvalidTimeStamp.Expired", 400)
    assert caught.value.message.startswith(f"code: 400, {EXPIRED} request id: ")


@pytest.mark.parametrize("skewed_server", [14 * 60], indirect=True)
def test_sdk_call_succeeds_given_server_clock_14_minutes_off(skewed_server: RunningServer) -> None:
    response = tea_client(skewed_server).get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert response.body.data.dag_id == 7


# --- raw replays of what the SDK sent -------------------------------------------------------


@pytest.fixture
def sent_get_dag(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """One GetDag request as the ACS3 SDK sent it (and the server accepted it)."""
    with capture(monkeypatch) as sent:
        tea_client(server).get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert len(sent) == 1
    yield sent[0]


def test_replayed_request_fails_with_nonce_used(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag)
    assert answer.status == 400
    assert (answer.body["Code"], answer.body["Message"]) == ("SignatureNonceUsed", NONCE_USED)


def test_replayed_v2_request_fails_with_nonce_used(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture(monkeypatch) as sent:
        tea_client(server, signature_algorithm="v2").get_dag(
            dw.GetDagRequest(dag_id=7, project_env="PROD")
        )
    answer = resend(sent[0])
    assert (answer.status, answer.body["Code"]) == (400, "SignatureNonceUsed")


def test_tampered_body_fails_with_signature_mismatch(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag, body=sent_get_dag.body.replace(b"DagId=7", b"DagId=8"))
    assert answer.status == 400
    assert (answer.body["Code"], answer.body["Message"]) == ("SignatureDoesNotMatch", MISMATCH)


def test_tampered_body_fails_given_content_hash_recomputed(sent_get_dag: Any) -> None:
    body = sent_get_dag.body.replace(b"DagId=7", b"DagId=8")
    answer = resend(sent_get_dag, body=body, x_acs_content_sha256=hashlib.sha256(body).hexdigest())
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_tampered_v2_parameter_fails_with_server_string_to_sign(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture(monkeypatch) as sent:
        tea_client(server, signature_algorithm="v2").get_dag(
            dw.GetDagRequest(dag_id=7, project_env="PROD")
        )
    answer = resend(sent[0], body=sent[0].body.replace(b"DagId=7", b"DagId=8"))
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")
    message = answer.body["Message"]
    assert message.startswith(f"{MISMATCH} server string to sign is:POST&%2F&")
    assert "DagId%3D8" in message


def test_changed_signed_action_header_fails_with_signature_mismatch(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag, x_acs_action="GetProject")
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_unsigned_acs_header_fails_with_incomplete_signature(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag, x_acs_extra="1")
    assert answer.status == 400
    assert answer.body["Code"] == "IncompleteSignature"
    assert answer.body["Message"] == (
        "The request signature does not conform to Aliyun standards. "
        'The header "x-acs-extra" is not among SignedHeaders.'
    )


def test_malformed_date_header_fails_with_time_stamp_format(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag, x_acs_date="yesterday")
    assert answer.status == 400
    assert answer.body["Code"] == "InvalidTimeStamp.Format"
    assert answer.body["Message"] == (
        "Specified time stamp or date value is not well formatted. "
        'x-acs-date is "yesterday"; expected "YYYY-MM-DDThh:mm:ssZ" (UTC).'
    )


def test_request_without_any_signature_fails_with_incomplete_signature(
    server: RunningServer,
) -> None:
    answer = send_raw(
        "POST",
        server.url,
        {"x-acs-action": "GetDag", "x-acs-version": "2020-05-18"},
        b"DagId=1",
    )
    assert answer.status == 400
    assert answer.body["Code"] == "IncompleteSignature"
    assert answer.body["Message"] == (
        "The request signature does not conform to Aliyun standards. "
        "The request has neither an Authorization header nor a Signature parameter."
    )


def test_authorization_with_other_algorithm_fails_with_invalid_signature_method(
    server: RunningServer,
) -> None:
    client = tea_client(server, signature_algorithm="ACS3-HMAC-SM3")
    with pytest.raises(ClientException) as caught:
        client.get_dag(dw.GetDagRequest(dag_id=7, project_env="PROD"))
    assert (caught.value.code, caught.value.status_code) == ("InvalidSignatureMethod", 400)
    assert caught.value.message.startswith(
        'code: 400, Specified signature method is not valid. "ACS3-HMAC-SM3" is not supported'
    )


def test_garbled_authorization_fails_with_incomplete_signature(sent_get_dag: Any) -> None:
    answer = resend(sent_get_dag, Authorization="ACS3-HMAC-SHA256 Credential=AK")
    assert answer.status == 400
    assert (answer.body["Code"], answer.body["Message"]) == (
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards. "
        'The Authorization header lacks "SignedHeaders".',
    )
