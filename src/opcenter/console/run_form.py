"""The run form of a workflow's page: its fields, what they mean as a RunManualDagNodes call,
and which field an error of that call concerns.

Fields (form names):

    mode            "one" (BizDate) or "range" (StartBizDate..EndBizDate)
    bizdate         the business date, yyyy-mm-dd (the date input's form)
    start, end      the range, yyyy-mm-dd
    mark.<node id>  "run", "dry" (dry run: ExcludeNodeIds) or "none" (not chosen)
    dagp.<name>     a workflow parameter's value for this run (blank: its default)
    nodep.<id>      a node's parameters for this run (blank: the deployed ones)

The choices map to the API exactly: a node marked "dry" is in ExcludeNodeIds (TaskType SKIP);
when any node is "none", IncludeNodeIds lists the chosen ones ("run" and "dry"), so the others
run as not chosen (SKIP_UNCHOOSE); when none is, IncludeNodeIds is not sent (the whole workflow).
Only the parameters typed in are sent (DagParameters / NodeParameters), so a run without them
is the deployed workflow as it is. Nothing is decided here: the service checks everything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opcenter.errors import MissingParameter, OpcenterError
from opcenter.service.manual_flows import ManualFlow

__all__ = ["MARKS", "RunForm", "error_field"]

MARKS = ("run", "dry", "none")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _api_date(value: str) -> str | None:
    """`yyyy-mm-dd` → the API's `yyyy-MM-dd 00:00:00`; anything else is passed as typed (the
    service names what is wrong with it); blank → None."""
    value = value.strip()
    if not value:
        return None
    return f"{value} 00:00:00" if _DAY.fullmatch(value) else value


@dataclass
class RunForm:
    """The values of the form (as typed), for one workflow."""

    mode: str = "one"
    bizdate: str = ""
    start: str = ""
    end: str = ""
    marks: dict[int, str] = field(default_factory=dict)
    dag_params: dict[str, str] = field(default_factory=dict)
    node_params: dict[int, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, flow: ManualFlow, yesterday: dt.date) -> RunForm:
        """Every node runs, for yesterday (the latest business date there is)."""
        day = yesterday.isoformat()
        return cls(bizdate=day, start=day, end=day, marks={n.node_id: "run" for n in flow.nodes})

    @classmethod
    def read(cls, form: Mapping[str, str], flow: ManualFlow) -> RunForm:
        """The values POSTed; a node without a (known) mark runs."""
        marks = {}
        for n in flow.nodes:
            mark = form.get(f"mark.{n.node_id}", "run")
            marks[n.node_id] = mark if mark in MARKS else "run"
        return cls(
            mode="range" if form.get("mode") == "range" else "one",
            bizdate=form.get("bizdate", ""),
            start=form.get("start", ""),
            end=form.get("end", ""),
            marks=marks,
            dag_params={k[5:]: v for k, v in form.items() if k.startswith("dagp.")},
            node_params={
                int(k[6:]): v for k, v in form.items() if k.startswith("nodep.") and k[6:].isdigit()
            },
        )

    def selection(self) -> tuple[str | None, str | None]:
        """(IncludeNodeIds, ExcludeNodeIds) as the API takes them."""
        chosen = [n for n, m in sorted(self.marks.items()) if m != "none"]
        dry = [n for n, m in sorted(self.marks.items()) if m == "dry"]
        include = None if len(chosen) == len(self.marks) else ",".join(map(str, chosen))
        return include, (",".join(map(str, dry)) or None)

    def call(self) -> dict[str, Any]:
        """The keyword arguments of runs.start_manual_run / preview.preview_run (without the
        workspace, environment, workflow and caller)."""
        include, exclude = self.selection()
        dag = {k: v.strip() for k, v in self.dag_params.items() if v.strip()}
        nodes = {str(k): v.strip() for k, v in self.node_params.items() if v.strip()}
        dates: dict[str, str | None] = (
            {"start_biz_date": _api_date(self.start), "end_biz_date": _api_date(self.end)}
            if self.mode == "range"
            else {"biz_date": _api_date(self.bizdate)}
        )
        return {
            **dates,
            "include_node_ids": include,
            "exclude_node_ids": exclude,
            "dag_parameters": json.dumps(dag, ensure_ascii=False) if dag else None,
            "node_parameters": json.dumps(nodes, ensure_ascii=False) if nodes else None,
        }


# The parameter an error names → the field it concerns.
_DATE_FIELDS = {"BizDate": "bizdate", "StartBizDate": "start", "EndBizDate": "end"}
_NODE_ID = re.compile(r"(?:IncludeNodeIds|ExcludeNodeIds): node (?:id )?(\d+)")
_NODE_PARAM = re.compile(r"NodeParameters(?:: node id '|\[\")(\d+)")
_DAG_PARAM = re.compile(r'DagParameters parameter "([^"]+)"')
_PIECE = re.compile(r'^Invalid parameter "(.*?)"')


def error_field(error: OpcenterError, form: RunForm) -> str | None:
    """The field (`bizdate`, `start`, `end`, `mark.<id>`, `nodep.<id>`, `dagp.<name>`,
    `dagp`) whose value `error` names, or None (the error concerns the whole form)."""
    if isinstance(error, MissingParameter):
        return _DATE_FIELDS.get(error.parameter)
    message = error.message
    for parameter, name in _DATE_FIELDS.items():
        if message.startswith(f"{parameter}=") or message.startswith(f"{parameter} "):
            return name
    for pattern, prefix in ((_NODE_ID, "mark."), (_NODE_PARAM, "nodep."), (_DAG_PARAM, "dagp.")):
        found = pattern.search(message)
        if found:
            return prefix + found.group(1)
    return _piece_field(message, form)


def _piece_field(message: str, form: RunForm) -> str | None:
    """`Invalid parameter "<piece>"` names a piece as typed: the field holding it."""
    found = _PIECE.search(message)
    if message.startswith("DagParameters"):
        return "dagp"
    if found is None:
        return None
    piece = found.group(1)
    for node_id, text in form.node_params.items():
        if piece in text:
            return f"nodep.{node_id}"
    for name, value in form.dag_params.items():
        if piece in value or piece == f"{name}={value}":
            return f"dagp.{name}"
    return None
