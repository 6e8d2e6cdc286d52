"""The dispatcher: operations, typed parameters, error bodies, authorization — through the SDKs.

The operations registered here carry real DataWorks names so the official clients can call
them; their bodies are scaffolding that echoes decoded parameters.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.acs_exception.exceptions import ServerException as AcsServerException
from aliyunsdkdataworks_public.request.v20200518.GetDagRequest import GetDagRequest
from aliyunsdkdataworks_public.request.v20200518.GetInstanceRequest import GetInstanceRequest
from aliyunsdkdataworks_public.request.v20200518.GetProjectRequest import GetProjectRequest
from aliyunsdkdataworks_public.request.v20200518.RunCycleDagNodesRequest import (
    RunCycleDagNodesRequest,
)
from darabonba.request import DaraRequest

from opcenter.api import app as app_module
from opcenter.api import rpc
from opcenter.api.rpc import Call, Registry
from opcenter.api.signature import ACS3_ALGORITHM, Authenticated, root_key
from opcenter.errors import Forbidden, InvalidParameterFormat, NotFound, Throttled
from tests.api.conftest import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    ACCOUNT_ID,
    RunningServer,
    ServerFactory,
)
from tests.api.sdk import acs_client, aimed, call_api, send_raw, tea_client

ROOT = f"acs:ram::{ACCOUNT_ID}:root"
RECOMMEND = "See docs/api-wire.md of opcenter for the error code {code}."
SERVICES = object()


class SecretFailure(RuntimeError):
    pass


def _registry(seen: list[Call] | None = None) -> Registry:
    registry = Registry()
    calls = seen if seen is not None else []

    @registry.operation(
        "GetProject", resource=lambda call: call.workspace_arn(call.str("ProjectIdentifier") or "*")
    )
    def get_project(call: Call) -> dict[str, Any]:
        calls.append(call)
        return {
            "Data": {
                "ProjectId": call.int("ProjectId", required=True),
                "ProjectName": call.str("ProjectIdentifier"),
            }
        }

    @registry.operation("GetDag")
    def get_dag(call: Call) -> dict[str, Any]:
        calls.append(call)
        return {
            "Success": True,
            "Data": {
                "DagId": call.int("DagId", required=True),
                "Type": call.choice("ProjectEnv", ("PROD", "DEV"), required=True),
            },
        }

    @registry.operation("RunCycleDagNodes")
    def run_cycle_dag_nodes(call: Call) -> dict[str, Any]:
        return {
            "Data": call.int_list("IncludeNodeIds", required=True),
            "Parallelism": call.bool("Parallelism", required=True),
            "ConcurrentRuns": call.int("ConcurrentRuns", min=2, max=10),
            "Name": call.str("Name", default="unnamed"),
        }

    @registry.operation("GetInstance")
    def get_instance(call: Call) -> dict[str, Any]:
        raise SecretFailure("the database password is hunter2")

    @registry.operation("GetNode")
    def get_node(call: Call) -> dict[str, Any]:
        node_id = call.int("NodeId", required=True)
        raise NotFound("Node", f'The node {node_id} given as "NodeId" does not exist.')

    @registry.operation("ListDags")
    def list_dags(call: Call) -> dict[str, Any]:
        return ["not", "a", "dict"]  # type: ignore[return-value]

    @registry.operation("StopInstance")
    def stop_instance(call: Call) -> dict[str, Any]:
        error = Throttled("Your request is too frequent. Try again later.")
        error.retry_after_ms = 2500  # type: ignore[attr-defined]
        raise error

    return registry


@pytest.fixture(scope="module")
def server(module_rpc_server: ServerFactory) -> RunningServer:
    return module_rpc_server(_registry(), services=SERVICES)


def _error_data(server: RunningServer, code: str, message: str, status: int) -> dict[str, Any]:
    return {
        "HostId": server.endpoint,
        "Code": code,
        "Message": message,
        "Recommend": RECOMMEND.format(code=code),
        "statusCode": status,
    }


def _without_request_id(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "RequestId"}


# --- success --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_returns_handler_fields_and_request_id(
    server: RunningServer, algorithm: str | None
) -> None:
    client = tea_client(server, signature_algorithm=algorithm)
    response = client.get_project(dw.GetProjectRequest(project_id=12, project_identifier="a b*~"))
    assert response.status_code == 200
    body = response.body.to_map()
    assert body == {
        "RequestId": response.headers["x-acs-request-id"],
        "Data": {"ProjectId": 12, "ProjectName": "a b*~", "Tags": []},
    }
    assert len(body["RequestId"]) == 36
    assert body["RequestId"] == body["RequestId"].upper()


def test_sdk_call_decodes_form_body_parameters(server: RunningServer) -> None:
    response = tea_client(server).get_dag(
        dw.GetDagRequest(dag_id=700000123123141, project_env="DEV")
    )
    assert response.body.success is True
    assert (response.body.data.dag_id, response.body.data.type) == (700000123123141, "DEV")


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_decodes_booleans_and_integer_lists(
    server: RunningServer, algorithm: str | None
) -> None:
    request = dw.RunCycleDagNodesRequest(
        include_node_ids="74324, 74325", parallelism=False, concurrent_runs=3
    )
    response = tea_client(server, signature_algorithm=algorithm).run_cycle_dag_nodes(request)
    body = response.body.to_map()
    assert body["Data"] == [74324, 74325]


def test_aliyunsdkcore_call_returns_handler_fields(server: RunningServer) -> None:
    request = aimed(RunCycleDagNodesRequest())
    request.set_IncludeNodeIds("1,2")
    request.set_Parallelism(True)
    request.set_Name("backfill one")
    body = json.loads(acs_client(server).do_action_with_exception(request))
    assert _without_request_id(body) == {
        "Data": [1, 2],
        "Parallelism": True,
        "ConcurrentRuns": None,
        "Name": "backfill one",
    }


def test_aliyunsdkcore_get_call_reads_parameters_from_query(server: RunningServer) -> None:
    request = aimed(GetProjectRequest())
    request.set_method("GET")
    request.set_ProjectId(9)
    request.set_ProjectIdentifier("ws")
    body = json.loads(acs_client(server).do_action_with_exception(request))
    assert body["Data"] == {"ProjectId": 9, "ProjectName": "ws"}


def _signed_raw(
    server: RunningServer, query: dict[str, str], headers: dict[str, str], body: bytes = b""
) -> Any:
    """An ACS3 request signed with the SDK's own signing helper, sent with urllib."""
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = query
    request.headers = {
        "host": server.endpoint,
        "x-acs-date": Utils.get_timestamp(),
        "x-acs-signature-nonce": Utils.get_nonce(),
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        **headers,
    }
    request.headers["Authorization"] = Utils.get_authorization(
        request,
        ACS3_ALGORITHM,
        hashlib.sha256(body).hexdigest(),
        ACCESS_KEY_ID,
        ACCESS_KEY_SECRET,
    )
    return send_raw("POST", f"{server.url}?{urlencode(query)}", request.headers, body)


def test_acs3_request_reads_action_from_query_given_no_action_header(
    server: RunningServer,
) -> None:
    answer = _signed_raw(
        server, {"Action": "GetProject", "Version": "2020-05-18", "ProjectId": "4"}, {}
    )
    assert answer.status == 200
    assert answer.body["Data"] == {"ProjectId": 4, "ProjectName": None}


# --- parameter errors -----------------------------------------------------------------------


def test_sdk_call_fails_with_missing_parameter_naming_it(server: RunningServer) -> None:
    with pytest.raises(ClientException) as caught:
        tea_client(server).get_dag(dw.GetDagRequest(project_env="PROD"))
    message = (
        'The input parameter "DagId" that is mandatory for processing this request is not supplied.'
    )
    assert (caught.value.code, caught.value.status_code) == ("MissingParameter", 400)
    assert caught.value.message == f"code: 400, {message} request id: {caught.value.request_id}"
    assert _without_request_id(caught.value.data) == _error_data(
        server, "MissingParameter", message, 400
    )


def test_aliyunsdkcore_call_fails_with_missing_parameter(server: RunningServer) -> None:
    request = aimed(GetDagRequest())
    request.set_ProjectEnv("PROD")
    with pytest.raises(AcsServerException) as caught:
        acs_client(server).do_action_with_exception(request)
    assert caught.value.get_error_code() == "MissingParameter"
    assert caught.value.get_error_msg() == (
        'The input parameter "DagId" that is mandatory for processing this request is not supplied.'
    )
    assert caught.value.get_http_status() == 400


@pytest.mark.parametrize(
    ("dag_id", "reason"),
    [
        ("abc", '"abc" is not an integer'),
        ("1.5", '"1.5" is not an integer'),
        ("99999999999999999999", '"99999999999999999999" is out of the 64-bit range'),
    ],
)
def test_sdk_call_fails_with_format_error_given_bad_integer(
    server: RunningServer, dag_id: str, reason: str
) -> None:
    with pytest.raises(ClientException) as caught:
        tea_client(server).get_dag(dw.GetDagRequest(dag_id=dag_id, project_env="PROD"))  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.status_code) == ("InvalidParameter.Format", 400)
    assert caught.value.data["Message"] == (
        f'The specified value of parameter "DagId" is not valid: {reason}.'
    )


def test_sdk_call_fails_with_invalid_parameter_given_value_not_among_choices(
    server: RunningServer,
) -> None:
    with pytest.raises(ClientException) as caught:
        tea_client(server).get_dag(dw.GetDagRequest(dag_id=1, project_env="TEST"))
    assert (caught.value.code, caught.value.status_code) == ("InvalidParameter", 400)
    assert caught.value.data["Message"] == (
        'The specified value of parameter "ProjectEnv" is not valid: "TEST" is not one of '
        "PROD, DEV."
    )


def test_sdk_call_fails_with_format_error_given_bad_boolean(server: RunningServer) -> None:
    with pytest.raises(ClientException) as caught:
        call_api(
            tea_client(server),
            "RunCycleDagNodes",
            body={"IncludeNodeIds": "1", "Parallelism": "yes"},
        )
    assert caught.value.code == "InvalidParameter.Format"
    assert caught.value.data["Message"] == (
        'The specified value of parameter "Parallelism" is not valid: "yes" is not true or false.'
    )


def test_sdk_call_fails_with_invalid_parameter_given_integer_out_of_bounds(
    server: RunningServer,
) -> None:
    request = dw.RunCycleDagNodesRequest(include_node_ids="1", parallelism=True, concurrent_runs=11)
    with pytest.raises(ClientException) as caught:
        tea_client(server).run_cycle_dag_nodes(request)
    assert caught.value.code == "InvalidParameter"
    assert caught.value.data["Message"] == (
        'The specified value of parameter "ConcurrentRuns" is not valid: 11 is greater than 10.'
    )


# --- action errors --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_sdk_call_fails_with_action_not_found_given_unknown_action(
    server: RunningServer, algorithm: str | None
) -> None:
    client = tea_client(server, signature_algorithm=algorithm)
    with pytest.raises(ClientException) as caught:
        call_api(client, "NoSuchOperation")
    message = (
        "Specified api is not found, please check your url and method. "
        'Action "NoSuchOperation" is not served here.'
    )
    assert (caught.value.code, caught.value.status_code) == ("InvalidAction.NotFound", 404)
    assert _without_request_id(caught.value.data) == _error_data(
        server, "InvalidAction.NotFound", message, 404
    )


def test_sdk_call_fails_with_invalid_version_given_other_version(server: RunningServer) -> None:
    with pytest.raises(ClientException) as caught:
        call_api(tea_client(server), "GetProject", version="2024-05-18", query={"ProjectId": 1})
    assert (caught.value.code, caught.value.status_code) == ("InvalidVersion", 400)
    assert caught.value.data["Message"] == (
        'Specified parameter Version is not valid. Version "2024-05-18" of action "GetProject" '
        "is not served here; served: 2020-05-18."
    )


def test_signed_request_without_action_fails_with_missing_parameter(
    server: RunningServer,
) -> None:
    answer = _signed_raw(server, {"ProjectId": "4"}, {"x-acs-version": "2020-05-18"})
    assert answer.status == 400
    assert (answer.body["Code"], answer.body["Message"]) == (
        "MissingParameter",
        'The input parameter "Action" that is mandatory for processing this request is not '
        "supplied.",
    )


def test_sdk_call_fails_with_api_not_found_given_other_path(server: RunningServer) -> None:
    with pytest.raises(ClientException) as caught:
        call_api(tea_client(server), "GetProject", pathname="/v2/projects", query={"ProjectId": 1})
    assert (caught.value.code, caught.value.status_code) == ("InvalidApi.NotFound", 404)
    assert caught.value.data["Message"] == (
        "Specified api is not found, please check your url and method. "
        'The path "/v2/projects" is not served; requests go to "/".'
    )


def test_patch_request_fails_with_unsupported_method(server: RunningServer) -> None:
    answer = send_raw("PATCH", server.url)
    assert answer.status == 400
    assert answer.body["Code"] == "UnsupportedHTTPMethod"
    assert sorted(answer.body) == ["Code", "HostId", "Message", "Recommend", "RequestId"]


def test_oversized_body_fails_before_signature_check(rpc_server: ServerFactory) -> None:
    server = rpc_server(_registry(), max_body_bytes=10)
    answer = send_raw(
        "POST", server.url, {"content-type": "application/x-www-form-urlencoded"}, b"x" * 11
    )
    assert answer.status == 413
    assert (answer.body["Code"], answer.body["Message"]) == (
        "InvalidParameter",
        "The request body is larger than 10 bytes.",
    )


def test_sdk_call_succeeds_given_endpoint_with_scheme(server: RunningServer) -> None:
    # The SDK then sends (and signs) the Host header "http://127.0.0.1:<port>".
    client = tea_client(server, endpoint=f"http://{server.endpoint}")
    response = client.get_dag(dw.GetDagRequest(dag_id=3, project_env="PROD"))
    assert response.body.data.dag_id == 3


# --- handler errors -------------------------------------------------------------------------


def test_handler_error_is_answered_with_its_code_and_status(server: RunningServer) -> None:
    with pytest.raises(ClientException) as caught:
        call_api(tea_client(server), "GetNode", body={"NodeId": 5})
    assert (caught.value.code, caught.value.status_code) == ("Invalid.Node.NotExists", 404)
    assert caught.value.data["Message"] == 'The node 5 given as "NodeId" does not exist.'


def test_unexpected_exception_is_answered_internal_error_without_traceback(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="opcenter.api.rpc"),
        pytest.raises(ServerException) as caught,
    ):
        tea_client(server).get_instance(dw.GetInstanceRequest(instance_id=1, project_env="PROD"))
    message = "An internal system error occurred. Try again later."
    assert (caught.value.code, caught.value.status_code) == ("InternalError.System", 500)
    assert _without_request_id(caught.value.data) == _error_data(
        server, "InternalError.System", message, 500
    )
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is SecretFailure]
    assert len(logged) == 1
    assert caught.value.request_id in logged[0].getMessage()


def test_handler_returning_no_dict_is_answered_internal_error(server: RunningServer) -> None:
    with pytest.raises(ServerException) as caught:
        tea_client(server).list_dags(dw.ListDagsRequest(op_seq=1, project_env="PROD"))
    assert (caught.value.code, caught.value.status_code) == ("InternalError.System", 500)


def test_aliyunsdkcore_call_fails_with_internal_error(server: RunningServer) -> None:
    request = aimed(GetInstanceRequest())
    request.set_InstanceId(1)
    with pytest.raises(AcsServerException) as caught:
        acs_client(server).do_action_with_exception(request)
    assert caught.value.get_error_code() == "InternalError.System"
    assert caught.value.get_http_status() == 500
    assert "hunter2" not in str(caught.value)


def test_throttled_call_raises_throttling_exception_with_retry_after(
    server: RunningServer,
) -> None:
    with pytest.raises(ThrottlingException) as caught:
        tea_client(server).stop_instance(dw.StopInstanceRequest(instance_id=1, project_env="PROD"))
    assert (caught.value.code, caught.value.status_code) == ("Throttling.User", 429)
    assert caught.value.retry_after == 2500


# --- authorization --------------------------------------------------------------------------


class RecordingAuthorizer:
    """Denies the workspace named "secret"; records every question."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, principal: str, action: str, resource: str, call: Call) -> None:
        self.asked.append((principal, action, resource))
        if resource.endswith("workspace/secret"):
            error = Forbidden("Access is forbidden. Try again later.")
            error.access_denied_detail = {  # type: ignore[attr-defined]
                "AuthAction": action,
                "NoPermissionType": "ImplicitDeny",
            }
            raise error


@pytest.fixture
def guarded(rpc_server: ServerFactory) -> tuple[RunningServer, RecordingAuthorizer, list[Call]]:
    authorizer = RecordingAuthorizer()
    seen: list[Call] = []
    server = rpc_server(_registry(seen), authorize=authorizer, services=SERVICES, region="cn-x")
    return server, authorizer, seen


def test_authorize_is_asked_with_ram_action_and_resource_before_handler(
    guarded: tuple[RunningServer, RecordingAuthorizer, list[Call]],
) -> None:
    server, authorizer, seen = guarded
    tea_client(server).get_project(dw.GetProjectRequest(project_id=1, project_identifier="sales"))
    tea_client(server).get_dag(dw.GetDagRequest(dag_id=2, project_env="PROD"))
    assert authorizer.asked == [
        (ROOT, "dataworks:GetProject", f"acs:dataworks:cn-x:{ACCOUNT_ID}:workspace/sales"),
        (ROOT, "dataworks:GetDag", "*"),
    ]
    assert [(c.action, c.principal, c.account_id, c.services) for c in seen] == [
        ("GetProject", ROOT, ACCOUNT_ID, SERVICES),
        ("GetDag", ROOT, ACCOUNT_ID, SERVICES),
    ]


def test_denied_call_fails_with_forbidden_and_handler_never_runs(
    guarded: tuple[RunningServer, RecordingAuthorizer, list[Call]],
) -> None:
    server, _, seen = guarded
    with pytest.raises(ClientException) as caught:
        tea_client(server).get_project(
            dw.GetProjectRequest(project_id=1, project_identifier="secret")
        )
    assert (caught.value.code, caught.value.status_code) == ("Forbidden.Access", 403)
    assert caught.value.access_denied_detail == {
        "AuthAction": "dataworks:GetProject",
        "NoPermissionType": "ImplicitDeny",
    }
    assert seen == []


# --- the Call getters and the registry, without HTTP ----------------------------------------


def _call(**params: str) -> Call:
    auth = Authenticated(
        key=root_key("AK", "S", account_id="7"), algorithm=ACS3_ALGORITHM, nonce="n", timestamp=0.0
    )
    return Call(
        action="X",
        version="2020-05-18",
        params=params,
        request_id="R",
        auth=auth,
        services=None,
        now=0.0,
        region="r",
    )


@pytest.mark.parametrize(("raw", "value"), [("42", 42), ("-3", -3), ("+5", 5), (" 8 ", 8)])
def test_call_int_decodes_given_decimal_text(raw: str, value: int) -> None:
    assert _call(N=raw).int("N") == value


@pytest.mark.parametrize(("raw", "value"), [("True", True), ("false", False), ("TRUE", True)])
def test_call_bool_decodes_given_any_case(raw: str, value: bool) -> None:
    assert _call(B=raw).bool("B") is value


def test_call_getters_return_default_given_absent_or_empty_parameter() -> None:
    call = _call(Empty="")
    assert (call.str("Empty"), call.int("Absent", default=3), call.bool("Absent")) == (
        None,
        3,
        None,
    )
    assert (call.json("Absent"), call.int_list("Empty"), call.has("Empty")) == (None, None, False)


def test_call_json_fails_with_format_error_given_invalid_json() -> None:
    with pytest.raises(InvalidParameterFormat) as caught:
        _call(DagParameters="{x").json("DagParameters")
    assert caught.value.message.startswith(
        'The specified value of parameter "DagParameters" is not valid: it is not valid JSON'
    )


def test_call_int_list_fails_given_empty_piece() -> None:
    with pytest.raises(InvalidParameterFormat) as caught:
        _call(Ids="1,,2").int_list("Ids")
    assert caught.value.message == (
        'The specified value of parameter "Ids" is not valid: "1,,2" is not a comma-separated '
        "list of integers."
    )


def test_call_workspace_arn_names_region_account_and_workspace() -> None:
    assert _call().workspace_arn("sales") == "acs:dataworks:r:7:workspace/sales"


def test_registry_refuses_given_same_operation_twice() -> None:
    registry = Registry()
    registry.operation("GetDag")(lambda call: {})
    with pytest.raises(ValueError, match="operation GetDag 2020-05-18 is already registered"):
        registry.operation("GetDag")(lambda call: {})


def test_registry_records_ram_action_of_operation() -> None:
    registry = Registry()
    registry.operation("GetDag")(lambda call: {})
    registry.operation("ListDags", ram_action="dataworks:*")(lambda call: {})
    assert [(op.name, op.ram_action) for op in registry] == [
        ("GetDag", "dataworks:GetDag"),
        ("ListDags", "dataworks:*"),
    ]
    assert "GetDag" in registry
    assert len(registry) == 2


def test_public_names_are_exported() -> None:
    assert set(rpc.__all__) == {
        "DEFAULT_VERSION",
        "REGISTRY",
        "Authorize",
        "Call",
        "Dispatcher",
        "Handler",
        "Operation",
        "Registry",
        "ResourceOf",
        "allow_all",
        "any_resource",
        "load_operations",
        "new_request_id",
        "operation",
    }
    assert set(app_module.__all__) == {
        "DEFAULT_MAX_BODY_BYTES",
        "SERVED_METHODS",
        "create_app",
        "serve",
    }
