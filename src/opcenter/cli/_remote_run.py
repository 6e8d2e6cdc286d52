"""`opcenter run FLOW --endpoint HOST:PORT`: the run is sent to a running server as
RunManualDagNodes (signed with an AccessKey: same signature, authorization and audit as any SDK
call) and `--wait` follows it through the API, printing what the local `run` prints.

This path starts fast: it imports neither SQLAlchemy nor the official SDK (the client is
`_api_client`, on the standard library). `--wait` reads the run with ListDags every few
milliseconds at first, less and less often (2 ms growing to 200 ms: a short run is seen ending
at once, a long one costs the server little); the final table takes one ListManualDagInstances
(every succeeded Dag of a run has the same nodes, all SUCCESS) plus one per Dag that did not
succeed, and each failed Dag one ListInstances (its failed instances and their ErrorMessage).

Ctrl-C stops following only: the run goes on on the server (its engine drives it), as a run
started with the SDK does; the message names the run (OpSeq) to follow it again or stop it.
"""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace
from typing import Any

import click

from opcenter.cli._api_client import ApiClient, ApiRefused
from opcenter.cli._output import (
    EXIT_FAILURE,
    CommandFailed,
    _time_value,
    cli_words,
    console,
    echo_json,
    human_day,
    to_plain,
)
from opcenter.domain.model import DagStatus, InstanceStatus, TaskType

__all__ = ["run_remotely"]

FIRST_POLL_SECONDS = 0.002  # the first pause between two reads of a run's Dags
LAST_POLL_SECONDS = 0.2  # the longest
POLL_GROWTH = 1.25  # each pause this much longer than the one before


def run_remotely(
    *,
    endpoint: str,
    access_key_id: str | None,
    access_key_secret: str | None,
    fields: dict[str, str | None],
    dates: list[dt.date],
    typed: dict[str, str | None],
    wait: bool,
    as_json: bool,
) -> None:
    """Start the run on the server at `endpoint` (RunManualDagNodes with `fields`, the request
    as the local run sends it) and, with `wait`, follow it to its end; exit 1 unless every Dag
    succeeded. `dates`: the business dates asked for, in order (one Dag each)."""
    if not access_key_id or not access_key_secret:
        raise CommandFailed(
            "--endpoint needs an AccessKey: --access-key-id and --access-key-secret, or "
            "OPCENTER_ACCESS_KEY_ID and OPCENTER_ACCESS_KEY_SECRET."
        )
    client = ApiClient(endpoint, access_key_id, access_key_secret)
    env = fields["ProjectEnv"] or "PROD"
    dag_id: int | None = None
    op_seq: int | None = None
    try:
        dag_id = int(_ask(client, "RunManualDagNodes", fields, typed)["DagId"])
        first = _ask(client, "GetDag", {"DagId": str(dag_id), "ProjectEnv": env}, typed)["Data"]
        op_seq = int(first["OpSeq"])
        if not wait:
            _started(client, op_seq, env, dag_id, len(dates), as_json, typed)
            return
        run = _RemoteRun(client, op_seq, env, fields["ProjectName"] or "", dates, typed)
        ok = run.follow(as_json)
    except KeyboardInterrupt:
        if dag_id is not None:  # the run exists on the server: it is not stopped
            which = f"run {op_seq}" if op_seq is not None else f"the run of Dag {dag_id}"
            listing = f"--op-seq {op_seq}" if op_seq is not None else "-w WORKSPACE"
            click.echo(
                f"Interrupted: only following stopped; {which} goes on on the server at "
                f"{endpoint} (`opcenter dag list {listing}` there shows it, `opcenter instance "
                "stop` stops an instance).",
                err=True,
            )
        raise
    finally:
        client.close()
    if not ok:
        raise SystemExit(EXIT_FAILURE)


def _ask(
    client: ApiClient, action: str, params: dict[str, str | None], typed: dict[str, str | None]
) -> Any:
    """One call; a refusal in the words of the command line, the server's code first."""
    from opcenter.cli.running import _in_cli_words

    try:
        return client.call(action, params, retry=action != "RunManualDagNodes")
    except ApiRefused as exc:
        message = cli_words(_in_cli_words(exc.server_message, typed))
        raise CommandFailed(f"{exc.code}: {message}") from None


def _started(
    client: ApiClient,
    op_seq: int,
    env: str,
    dag_id: int,
    count: int,
    as_json: bool,
    typed: dict[str, str | None],
) -> None:
    if as_json:
        dags = _ask(client, "ListDags", {"OpSeq": str(op_seq), "ProjectEnv": env}, typed)
        dag_ids = [int(d["DagId"]) for d in dags["Data"]["Dags"]]
        echo_json({"DagId": dag_id, "OpSeq": op_seq, "DagIds": dag_ids})
    else:
        click.echo(f"Run {op_seq}: {count} Dag(s), first DagId {dag_id}.")


class _RemoteRun:
    """One run on the server, followed through the API."""

    def __init__(
        self,
        client: ApiClient,
        op_seq: int,
        env: str,
        workspace: str,
        dates: list[dt.date],
        typed: dict[str, str | None],
    ) -> None:
        self.client, self.op_seq, self.env, self.workspace = client, op_seq, env, workspace
        self.dates, self.typed = dates, typed
        self.started = time.monotonic()

    def ask(self, action: str, params: dict[str, str | None]) -> Any:
        return _ask(self.client, action, {**params, "ProjectEnv": self.env}, self.typed)

    def follow(self, as_json: bool) -> bool:
        """Follow the run to its end, then print it as the local `run --wait` does."""
        dags = self._until_done(live=not as_json and console().is_terminal)
        failed = [i for d in dags if d.status is DagStatus.FAILURE for i in self._failed(d)]
        if as_json:
            if dags and dags[0].workflow_id is None:
                self._workflow_id(dags)
            echo_json(
                {
                    "OpSeq": self.op_seq,
                    "Dags": [_plain(vars(d)) for d in dags],
                    "Failed": [_plain(vars(i)) for i in failed],
                }
            )
        else:
            from opcenter.cli.running import _failure_lines

            out = console()
            if not out.is_terminal:  # no live table was drawn: the final one
                out.print(self._table(dags))
            for line in _failure_lines(failed, self.env):  # type: ignore[arg-type]
                out.print(line, markup=False, highlight=False)
        return all(d.status is DagStatus.SUCCESS for d in dags)

    def _until_done(self, *, live: bool) -> list[SimpleNamespace]:
        from contextlib import nullcontext

        from opcenter.cli.running import REFRESH_SECONDS, _live_view

        pause, drawn = FIRST_POLL_SECONDS, 0.0
        with _live_view(console()) if live else nullcontext() as view:
            while True:
                dags = self._dags()
                statuses = [d.status for d in dags]
                done = all(s is DagStatus.SUCCESS for s in statuses) or (
                    DagStatus.FAILURE in statuses
                )
                if view is not None and (done or time.monotonic() - drawn >= REFRESH_SECONDS):
                    view.update(self._table(dags))
                    drawn = time.monotonic()
                if done:
                    return dags
                time.sleep(pause)
                pause = min(pause * POLL_GROWTH, LAST_POLL_SECONDS)

    def _dags(self) -> list[SimpleNamespace]:
        """The run's Dags (ListDags) with the fields of the local run's DagView."""
        answer = self.ask("ListDags", {"OpSeq": str(self.op_seq)})["Data"]["Dags"]
        dags = []
        for seq, d in enumerate(answer):
            biz_date = self.dates[seq] if len(answer) == len(self.dates) else None
            dags.append(
                SimpleNamespace(
                    dag_id=int(d["DagId"]),
                    name=d.get("Name"),
                    type=d.get("Type"),
                    status=DagStatus(d["Status"]),
                    bizdate=d.get("Bizdate"),
                    gmtdate=d.get("Gmtdate"),
                    start_time=d.get("StartTime"),
                    finish_time=d.get("FinishTime"),
                    create_time=d.get("CreateTime"),
                    modify_time=d.get("ModifyTime"),
                    create_user=d.get("CreateUser"),
                    op_seq=d.get("OpSeq"),
                    project_id=d.get("ProjectId"),
                    biz_date=biz_date or dt.date.fromisoformat(human_day(d["Bizdate"])),
                    seq=seq,
                    workflow_id=None,
                    env=self.env,
                )
            )
        return dags

    def _table(self, dags: list[SimpleNamespace]) -> Any:
        """The local run's table, its progress read through the API: every succeeded Dag has
        the first one's nodes, all SUCCESS (one read); any other Dag is read on its own."""
        from opcenter.cli.running import _render

        progress: dict[int, SimpleNamespace] = {}
        total: int | None = None
        for d in dags:
            if d.status is DagStatus.SUCCESS and total is not None:
                progress[d.dag_id] = SimpleNamespace(
                    total=total, succeeded=total, failed=0, running=(), suspended=()
                )
                continue
            instances = self.ask(
                "ListManualDagInstances", {"DagId": str(d.dag_id), "ProjectName": self.workspace}
            )["Instances"]
            progress[d.dag_id] = _progress(instances)
            total = len(instances)
        return _render(dags, progress, time.monotonic() - self.started)  # type: ignore[arg-type]

    def _failed(self, d: SimpleNamespace) -> list[SimpleNamespace]:
        """The failed instances of a failed Dag (ListInstances: ErrorMessage included)."""
        answer = self.ask(
            "ListInstances",
            {
                "ProjectId": str(d.project_id),
                "DagId": str(d.dag_id),
                "Status": InstanceStatus.FAILURE.value,
                "PageSize": "100",
                "OrderBy": "INSTANCE_ID_DESC",
            },
        )["Data"]["Instances"]
        found = [_instance(i, self.env) for i in reversed(answer)]  # by InstanceId, as locally
        if found:
            d.workflow_id = found[0].business_id
        return found

    def _workflow_id(self, dags: list[SimpleNamespace]) -> None:
        """The workflow's id (`workflow_id` of the JSON), which ListDags does not answer: the
        BusinessId of one of its instances."""
        answer = self.ask(
            "ListInstances",
            {"ProjectId": str(dags[0].project_id), "DagId": str(dags[0].dag_id), "PageSize": "1"},
        )["Data"]["Instances"]
        if answer:
            for d in dags:
                d.workflow_id = answer[0].get("BusinessId")


def _progress(instances: list[dict[str, Any]]) -> SimpleNamespace:
    """A Dag's progress (as service.instances.dag_progress counts it) from its instances."""
    ordered = sorted(instances, key=lambda i: int(i["InstanceId"]))
    status = [i["Status"] for i in ordered]
    return SimpleNamespace(
        total=len(ordered),
        succeeded=status.count(InstanceStatus.SUCCESS.value),
        failed=status.count(InstanceStatus.FAILURE.value),
        running=tuple(
            i["NodeName"] for i in ordered if i["Status"] == InstanceStatus.RUNNING.value
        ),
        suspended=tuple(i["NodeName"] for i in ordered if i["TaskType"] == TaskType.PAUSE.value),
    )


def _instance(i: dict[str, Any], env: str) -> SimpleNamespace:
    """An instance of ListInstances with the fields of the local run's InstanceView (those the
    API does not answer are None: file_type, attempt, stopped_by, version_id)."""
    return SimpleNamespace(
        instance_id=int(i["InstanceId"]),
        dag_id=i.get("DagId"),
        dag_type=i.get("DagType"),
        node_id=i.get("NodeId"),
        node_name=i.get("NodeName"),
        status=InstanceStatus(i["Status"]),
        task_type=i.get("TaskType"),
        bizdate=i.get("Bizdate"),
        cyc_time=i.get("CycTime"),
        create_time=i.get("CreateTime"),
        modify_time=i.get("ModifyTime"),
        create_user=i.get("CreateUser"),
        owner=i.get("Owner"),
        begin_wait_time_time=i.get("BeginWaitTimeTime"),
        begin_wait_res_time=i.get("BeginWaitResTime"),
        begin_running_time=i.get("BeginRunningTime"),
        finish_time=i.get("FinishTime"),
        param_values=i.get("ParamValues"),
        priority=i.get("Priority"),
        business_id=i.get("BusinessId"),
        project_id=i.get("ProjectId"),
        env=env,
        file_type=None,
        suspended=i.get("TaskType") == TaskType.PAUSE.value,
        attempt=None,
        stopped_by=None,
        repeatability=i.get("Repeatability"),
        repeat_interval=i.get("RepeatInterval"),
        task_rerun_time=i.get("TaskRerunTime"),
        connection=i.get("Connection") or "",
        error_message=i.get("ErrorMessage") or "",
        version_id=None,
    )


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """A view's fields as `--json` prints them locally (times as ISO 8601, dates as days)."""
    return {name: _time_value(name, to_plain(value), False) for name, value in fields.items()}
