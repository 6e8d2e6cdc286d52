"""`Format=XML`: answers and errors in XML as DataWorks writes them, asked by a raw V2-signed
request and by aliyun-python-sdk-core's `set_accept_format("XML")`, parsed back with the
standard library. The serialiser's rules first, then a live server."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkdataworks_public.request.v20200518.GetProjectRequest import GetProjectRequest

from opcenter.api.wire import xml_document
from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    FileSpec,
    Flow,
    Live,
    create_flow,
    create_workspace,
    wait_statuses,
)
from tests.api.sdk import acs_client, aimed

WS = "xml_ws"
XML_TYPE = "text/xml;charset=utf-8"
# What the node prints: markup characters, a carriage return, a control character XML 1.0
# cannot carry, and text beyond the Basic Multilingual Plane.
PRINTED = "a<b & c>d \"q\" 'p'\r\nctl[\x01] 😀 数据"


# --- the serialiser -----------------------------------------------------------------------------


def test_xml_document_writes_fields_as_elements_and_lists_as_repeated_elements() -> None:
    data = {
        "RequestId": "R",
        "Success": True,
        "Data": {"Nodes": [{"NodeId": 1, "Ok": False}, {"NodeId": 2, "Ratio": 0.5}], "Tags": []},
        "EnvTypes": ["DEV", "PROD"],
        "Absent": None,
    }
    text = xml_document("ListNodesResponse", data).decode("utf-8")
    assert text == (
        '<?xml version="1.0" encoding="UTF-8"?><ListNodesResponse><RequestId>R</RequestId>'
        "<Success>true</Success><Data><Nodes><NodeId>1</NodeId><Ok>false</Ok></Nodes>"
        "<Nodes><NodeId>2</NodeId><Ratio>0.5</Ratio></Nodes></Data>"
        "<EnvTypes>DEV</EnvTypes><EnvTypes>PROD</EnvTypes></ListNodesResponse>"
    )


def test_xml_document_keeps_every_character_xml_can_carry() -> None:
    root = ET.fromstring(xml_document("R", {"Data": PRINTED}))
    assert root.findtext("Data") == PRINTED.replace("\x01", "\ufffd")


@pytest.mark.parametrize(
    ("data", "error"),
    [({"1bad": 1}, ValueError), ({"Data": b"bytes"}, TypeError), ({"N": float("nan")}, ValueError)],
    ids=["bad-name", "bytes", "nan"],
)
def test_xml_document_fails_given_what_has_no_xml_form(data: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        xml_document("R", data)


# --- a live server ------------------------------------------------------------------------------


@dataclass
class Raw:
    status: int
    content_type: str
    request_id: str
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def _signed_get(live: Live, action: str, secret: str = ACCESS_KEY_SECRET, **params: Any) -> Raw:
    """GET `action` signed with V2 (HMAC-SHA1) from `params`, sent with urllib."""
    query = {
        "Action": action,
        "Version": "2020-05-18",
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SignatureNonce": uuid.uuid4().hex,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": ACCESS_KEY_ID,
        **{k: str(v) for k, v in params.items()},
    }
    query["Signature"] = Utils.get_rpcsignature(query, "GET", secret)
    url = f"http://{live.endpoint}/?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
        error.close()
    return Raw(status, headers["content-type"], headers["x-acs-request-id"], body)


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    create_workspace(client, WS)
    code = "printf '%s' " + "'" + PRINTED.replace("'", "'\\''") + "'"
    return create_flow(
        client,
        WS,
        "xml_flow",
        [FileSpec("begin", VIRTUAL), FileSpec("say", SHELL, code, inputs=["begin"])],
    )


@pytest.fixture(scope="module")
def dag_id(client: Client, flow: Flow) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_name=WS, flow_name=flow.name, biz_date="2024-06-01 00:00:00"
    )
    dag = client.run_manual_dag_nodes(request).body.dag_id
    wait_statuses(client, WS, dag, {"begin": ("SUCCESS",), "say": ("SUCCESS",)})
    return dag


@pytest.mark.parametrize("fmt", ["XML", "xml", "Xml"])
def test_get_project_answers_xml_given_format_xml_in_any_case(
    live: Live, flow: Flow, fmt: str
) -> None:
    raw = _signed_get(live, "GetProject", ProjectId=flow.project_id, Format=fmt)
    assert (raw.status, raw.content_type) == (200, XML_TYPE)
    assert raw.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><GetProjectResponse>')
    root = raw.xml()
    assert (root.tag, root.findtext("RequestId")) == ("GetProjectResponse", raw.request_id)
    assert (root.findtext("Success"), root.findtext("HttpStatusCode")) == ("true", "200")
    data = root.find("Data")
    assert data is not None
    assert (data.findtext("ProjectId"), data.findtext("ProjectIdentifier")) == (
        str(flow.project_id),
        WS,
    )
    assert [e.text for e in data.findall("EnvTypes")] == ["DEV", "PROD"]
    assert (data.findtext("DisableDevelopment"), data.find("Tags")) == ("false", None)


@pytest.mark.parametrize(
    "fmt", [None, "JSON", "json", "yaml"], ids=["absent", "JSON", "json", "other"]
)
def test_get_project_answers_json_given_any_other_format(
    live: Live, flow: Flow, fmt: str | None
) -> None:
    params = {"Format": fmt} if fmt else {}
    raw = _signed_get(live, "GetProject", ProjectId=flow.project_id, **params)
    assert (raw.status, raw.content_type) == (200, "application/json;charset=utf-8")
    assert raw.body.startswith(b'{"RequestId":')


def test_manual_dag_instances_answer_a_list_as_repeated_elements(
    live: Live, flow: Flow, dag_id: int
) -> None:
    raw = _signed_get(
        live,
        "GetManualDagInstances",
        Format="XML",
        ProjectEnv="PROD",
        ProjectName=WS,
        DagId=dag_id,
    )
    root = raw.xml()
    assert root.tag == "GetManualDagInstancesResponse"
    instances = {i.findtext("NodeName"): i for i in root.findall("Instances")}
    assert sorted(instances) == ["begin", "say"]
    say = instances["say"]
    assert (say.findtext("Status"), say.findtext("DagId"), say.findtext("NodeId")) == (
        "SUCCESS",
        str(dag_id),
        str(flow.node_ids["say"]),
    )


def test_node_io_leaves_out_a_null_node_id(live: Live, flow: Flow) -> None:
    raw = _signed_get(
        live,
        "ListNodeIO",
        Format="XML",
        NodeId=flow.node_ids["begin"],
        ProjectEnv="PROD",
        IoType="input",
    )
    items = raw.xml().findall("Data")
    assert [[(e.tag, e.text) for e in item] for item in items] == [
        [("Data", f"{WS}_root"), ("TableName", None)]
    ]


def test_instance_log_keeps_the_printed_text_given_markup_and_control_characters(
    live: Live, client: Client, flow: Flow, dag_id: int
) -> None:
    say = client.get_manual_dag_instances(
        dw.GetManualDagInstancesRequest(project_env="PROD", project_name=WS, dag_id=str(dag_id))
    ).body.instances
    instance_id = next(i.instance_id for i in say if i.node_name == "say")
    json_log = client.get_instance_log(
        dw.GetInstanceLogRequest(instance_id=instance_id, project_env="PROD")
    ).body.data
    raw = _signed_get(
        live, "GetInstanceLog", Format="XML", InstanceId=instance_id, ProjectEnv="PROD"
    )
    xml_log = raw.xml().findtext("Data")
    assert PRINTED in json_log
    assert xml_log == json_log.replace("\x01", "\ufffd")


def test_an_operation_error_is_answered_in_xml(live: Live) -> None:
    raw = _signed_get(live, "GetProject", Format="XML", ProjectId=987654)
    assert (raw.status, raw.content_type) == (404, XML_TYPE)
    root = raw.xml()
    assert root.tag == "Error"
    assert [e.tag for e in root] == ["RequestId", "HostId", "Code", "Message", "Recommend"]
    assert (root.findtext("RequestId"), root.findtext("HostId")) == (raw.request_id, live.endpoint)
    assert (root.findtext("Code"), root.findtext("Message")) == (
        "Invalid.Project.NotExists",
        "The workspace ProjectId=987654 does not exist.",
    )


def test_a_signature_error_is_answered_in_xml(live: Live) -> None:
    raw = _signed_get(live, "GetProject", secret="wrong", Format="XML", ProjectId=1)
    assert (raw.status, raw.content_type) == (400, XML_TYPE)
    assert raw.xml().findtext("Code") == "SignatureDoesNotMatch"


def test_an_unknown_action_is_answered_in_xml(live: Live) -> None:
    raw = _signed_get(live, "GetNothing", Format="XML")
    assert (raw.status, raw.xml().tag, raw.xml().findtext("Code")) == (
        404,
        "Error",
        "InvalidAction.NotFound",
    )


def test_aliyun_python_sdk_core_gets_xml_given_set_accept_format_xml(
    live: Live, flow: Flow
) -> None:
    # do_action_with_exception asks for JSON whatever the request says; get_response (and the
    # deprecated do_action) send the request's accept format
    request = aimed(GetProjectRequest())
    request.set_ProjectId(flow.project_id)
    request.set_accept_format("XML")
    status, headers, body = acs_client(live).get_response(request)  # type: ignore[arg-type]
    root = ET.fromstring(body)
    assert (status, headers["Content-Type"]) == (200, XML_TYPE)
    assert (root.tag, root.findtext("Data/ProjectIdentifier")) == ("GetProjectResponse", WS)


def test_aliyun_python_sdk_core_gets_an_xml_error_given_set_accept_format_xml(live: Live) -> None:
    request = aimed(GetProjectRequest())
    request.set_ProjectId(987654)
    request.set_accept_format("XML")
    status, _, body = acs_client(live).get_response(request)  # type: ignore[arg-type]
    root = ET.fromstring(body)
    assert (status, root.tag, root.findtext("Code")) == (404, "Error", "Invalid.Project.NotExists")
