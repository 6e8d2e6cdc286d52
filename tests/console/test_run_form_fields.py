"""The run form's fields as a RunManualDagNodes call, and which field an error concerns
(console/run_form.py), without a browser."""

from __future__ import annotations

import json

import pytest

from opcenter.console.run_form import RunForm, error_field
from opcenter.errors import InvalidParameter, MissingParameter
from opcenter.service.manual_flows import FlowNode, ManualFlow


def flow() -> ManualFlow:
    nodes = tuple(
        FlowNode(i, f"n{i}", 6, "DIDE_SHELL", 1, "", (), False, "", "") for i in (11, 12, 13)
    )
    return ManualFlow(1, "f", "", "", "region=eu", "PROD", nodes, ())


def test_all_nodes_run_sends_neither_include_nor_exclude() -> None:
    form = RunForm.read({"bizdate": "2026-01-15"}, flow())
    assert form.call() == {
        "biz_date": "2026-01-15 00:00:00",
        "include_node_ids": None,
        "exclude_node_ids": None,
        "dag_parameters": None,
        "node_parameters": None,
    }


def test_dry_runs_are_excluded_and_a_node_not_chosen_is_left_out_of_include() -> None:
    posted = {"mark.11": "run", "mark.12": "dry", "mark.13": "none", "mode": "range"}
    call = RunForm.read({**posted, "start": "2026-01-01", "end": "2026-01-03"}, flow()).call()
    assert (call["include_node_ids"], call["exclude_node_ids"]) == ("11,12", "12")
    assert (call["start_biz_date"], call["end_biz_date"]) == (
        "2026-01-01 00:00:00",
        "2026-01-03 00:00:00",
    )
    assert "biz_date" not in call


def test_only_the_parameters_typed_in_are_sent() -> None:
    posted = {"dagp.region": " us ", "nodep.12": "$bizdate", "nodep.13": "  ", "bizdate": "x"}
    call = RunForm.read(posted, flow()).call()
    assert json.loads(call["dag_parameters"]) == {"region": "us"}
    assert json.loads(call["node_parameters"]) == {"12": "$bizdate"}
    assert call["biz_date"] == "x"  # as typed: the service says what is wrong with it


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (MissingParameter("BizDate"), "bizdate"),
        (InvalidParameter("EndBizDate='x' is not a date of the form"), "end"),
        (InvalidParameter("ExcludeNodeIds: node id 12 is not a node of workflow"), "mark.12"),
        (InvalidParameter("IncludeNodeIds: node 13 ('n13') is offline in PROD"), "mark.13"),
        (InvalidParameter("NodeParameters: node id '99' is not a node"), "nodep.99"),
        (InvalidParameter('NodeParameters["12"] parameter "a": the value'), "nodep.12"),
        (InvalidParameter('DagParameters parameter "region": the value'), "dagp.region"),
        (InvalidParameter('Invalid parameter "${yyyymmdd+-}": bad offset'), "nodep.12"),
        (InvalidParameter('Invalid parameter "region=${x": unclosed'), "dagp.region"),
        (InvalidParameter("FlowName='f' is not deployed in PROD"), None),
    ],
)
def test_an_error_is_shown_beside_the_field_it_names(error, field) -> None:
    form = RunForm.read({"nodep.12": "$bizdate ${yyyymmdd+-}", "dagp.region": "${x"}, flow())
    assert error_field(error, form) == field
