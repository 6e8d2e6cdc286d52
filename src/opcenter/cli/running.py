"""`opcenter run`, `opcenter dag …`, `opcenter instance …`: the Operation Center from a shell.

Every command calls the same service functions as the API. `run --wait` follows the run live.
When a server's engine leads the store, it only watches (reading the store); when none does, it
runs an engine scoped to its own run (every other Dag is left alone) until the run ends.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opcenter.cli._output import (
    EXIT_FAILURE,
    CommandFailed,
    DateParam,
    UpperChoice,
    cli_words,
    collect_garbage,
    console,
    current_caller,
    data_dir_given,
    data_dir_option,
    echo_json,
    emit,
    env_option,
    group_data_dir_option,
    human_day,
    human_time,
    json_option,
    one_line_errors,
    page_line,
    paging_options,
    service_context,
    workspace_option,
)
from opcenter.cli._remote import endpoint_options_saying
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.errors import OpcenterError

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from opcenter.service.context import ServiceContext
    from opcenter.service.run_views import DagView, InstanceView, RunCreated

__all__ = ["dag", "instance", "run"]

REFRESH_SECONDS = 0.25  # how often the live table is redrawn
POLL_SECONDS = 0.02  # how often the run's Dags are checked: a cheap read, and a short tail
LEAD_RETRY_SECONDS = 1.0  # how often `run --wait` tries to drive its run when another engine leads
DRAIN_SECONDS = 10.0  # on exit, how long this run's running attempts may finish before a stop
DRIVING_HERE = (
    "No opcenter server is running on this store: running this run's Dags here until they end."
)
NO_ENGINE = (
    "Warning: no opcenter engine serves this store: the run waits for `opcenter serve` "
    "(or use --wait to run it here)."
)


def _node_params(values: tuple[str, ...]) -> str | None:
    return _json_pairs(values, "ID='k=v …'", "--node-param")


def _dag_params(values: tuple[str, ...]) -> str | None:
    return _json_pairs(values, "k=v", "--dag-param")


def _json_pairs(values: tuple[str, ...], shape: str, option: str) -> str | None:
    """`KEY=text` options as a JSON object (None when there are none)."""
    import json

    params: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not {shape}", param_hint=option)
        params[key.strip()] = text
    return json.dumps(params) if params else None


def _api_date(day: dt.date | None) -> str | None:
    """A date as the API takes a business date, `yyyy-MM-dd 00:00:00`."""
    return None if day is None else f"{day.isoformat()} 00:00:00"


def _dates(bizdate: dt.date | None, start: dt.date | None, end: dt.date | None) -> None:
    """The date options of a run, checked as the user typed them."""
    if bizdate is not None and (start is not None or end is not None):
        raise click.UsageError("Give --bizdate, or --from and --to, not both.")
    if bizdate is None and start is None and end is None:
        raise click.UsageError("Give the business date: --bizdate DATE, or --from DATE --to DATE.")
    if (start is None) != (end is None):
        raise click.UsageError("Give both --from and --to (the range includes both dates).")
    if start is not None and end is not None and start > end:
        raise click.UsageError(f"--from {start} is after --to {end}.")


# The request fields of RunManualDagNodes the service names in its errors, and the flag each
# comes from: an error then names what the user typed (`--bizdate '2999-01-01'`).
_RUN_FIELDS = {
    "StartBizDate": "--from",
    "EndBizDate": "--to",
    "BizDate": "--bizdate",
    "IncludeNodeIds": "--include",
    "ExcludeNodeIds": "--exclude",
    "NodeParameters": "--node-param",
    "DagParameters": "--dag-param",
    "ProjectName": "--workspace",
    "ProjectEnv": "--env",
    "FlowName": "FLOW",
}
_NAMES = "|".join(_RUN_FIELDS)
_FIELD_VALUE = re.compile(rf"\b({_NAMES})=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,:;]+)")
_FIELD = re.compile(rf"\b({_NAMES})\b")


def _in_cli_words(message: str, typed: dict[str, str | None]) -> str:
    """A service error about a run, in the words of the command line: each request field
    becomes its flag, with the value as typed (the workflow and the workspace are named as
    such); API date forms become `yyyy-mm-dd`."""

    def field_value(match: re.Match[str]) -> str:
        flag = _RUN_FIELDS[match.group(1)]
        value = typed.get(flag)
        noun = _NOUNS.get(flag)
        if noun is not None:
            return f"{noun} {value!r}" if value is not None else noun
        return f"{flag} {value!r}" if value is not None else flag

    text = _FIELD_VALUE.sub(field_value, message)
    text = _FIELD.sub(lambda m: _RUN_FIELDS[m.group(1)], text)
    for noun in _NOUNS.values():
        text = text.replace(f"{noun} {noun} ", f"{noun} ")  # "The workflow workflow 'x'"
    text = text.replace("yyyy-MM-dd 00:00:00", "yyyy-mm-dd")
    return re.sub(r"(\d{4}-\d{2}-\d{2}) 00:00:00", r"\1", text)


_NOUNS = {"FLOW": "workflow", "--workspace": "workspace"}


def _engine_serves(ctx: ServiceContext) -> bool:
    """Whether an engine leads the store now (a server's, or another `run --wait`): a
    non-blocking try of the engine lock, released at once when it was free."""
    from opcenter.engine.leader import Leadership

    probe = Leadership(ctx.db, ctx.settings)
    if not probe.acquire():
        return True
    probe.release()
    return False


# -- opcenter run ---------------------------------------------------------------------------------


@click.command(short_help="Run a manually triggered workflow.")
@click.argument("flow")
@workspace_option(required=True)
@env_option()
@click.option("--bizdate", type=DateParam(), help="Business date (at most yesterday).")
@click.option("--from", "start", type=DateParam(), help="First business date of a range.")
@click.option("--to", "end", type=DateParam(), help="Last business date of a range (inclusive).")
@click.option("--include", metavar="IDS", help="Comma-separated node ids to run (others dry-run).")
@click.option("--exclude", metavar="IDS", help="Comma-separated node ids to dry-run.")
@click.option("--node-param", multiple=True, help="ID='k=v …' parameters of one node.")
@click.option("--dag-param", multiple=True, help="k=v workflow parameter (repeatable).")
@click.option("--wait", is_flag=True, help="Follow the run; exit 0 only if every Dag succeeds.")
@json_option
@data_dir_option
@endpoint_options_saying(
    "Send the run to the opcenter server at HOST:PORT (RunManualDagNodes) and follow it "
    "there, instead of the local store (--data-dir is then not used)."
)
@one_line_errors
def run(
    flow: str,
    workspace: str,
    project_env: str,
    bizdate: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    include: str | None,
    exclude: str | None,
    node_param: tuple[str, ...],
    dag_param: tuple[str, ...],
    wait: bool,
    as_json: bool,
    data_dir: Path | None,
    endpoint: str | None,
    access_key_id: str | None,
    access_key_secret: str | None,
) -> None:
    """Run the manually triggered workflow FLOW (RunManualDagNodes) for --bizdate DATE, or for
    every date from --from DATE to --to DATE (one Dag per date, in date order).

    Dates are yyyy-mm-dd or yyyymmdd. Without --wait it prints the run's OpSeq and returns; an
    engine (`opcenter serve`) runs it, and a one-line warning says when none serves the store.
    With --wait it shows the run live, runs it here when no server does, and ends by naming
    each failed instance and the command that prints its log.

    With --endpoint HOST:PORT the run is sent to that server (RunManualDagNodes, signed with
    the AccessKey) and --wait follows it there; Ctrl-C then stops following only: the run goes
    on on the server."""
    _dates(bizdate, start, end)
    typed = {
        "--bizdate": str(bizdate) if bizdate else None,
        "--from": str(start) if start else None,
        "--to": str(end) if end else None,
        "--include": include,
        "--exclude": exclude,
        "--workspace": workspace,
        "--env": project_env,
        "FLOW": flow,
    }
    if endpoint is not None:
        _run_remotely(
            endpoint, access_key_id, access_key_secret, typed, wait=wait, as_json=as_json,
            fields={"ProjectEnv": project_env, "ProjectName": workspace, "FlowName": flow,
                    "BizDate": _api_date(bizdate), "StartBizDate": _api_date(start),
                    "EndBizDate": _api_date(end), "IncludeNodeIds": include,
                    "ExcludeNodeIds": exclude, "NodeParameters": _node_params(node_param),
                    "DagParameters": _dag_params(dag_param)},
            dates=[bizdate] if bizdate is not None else _days(start, end),
        )  # fmt: skip
        return
    from opcenter.service.runs import start_manual_run

    with service_context(data_dir, collect=False) as ctx:
        try:
            created = start_manual_run(
                ctx,
                project_env=project_env,
                project_name=workspace,
                flow_name=flow,
                biz_date=_api_date(bizdate),
                start_biz_date=_api_date(start),
                end_biz_date=_api_date(end),
                node_parameters=_node_params(node_param),
                dag_parameters=_dag_params(dag_param),
                include_node_ids=include,
                exclude_node_ids=exclude,
                caller=current_caller(),
            )
        except OpcenterError as exc:
            raise CommandFailed(cli_words(_in_cli_words(exc.message, typed))) from None
        if not wait:
            if not _engine_serves(ctx):
                click.echo(NO_ENGINE, err=True)
            if as_json:
                echo_json({"DagId": created.dag_id, "OpSeq": created.op_seq,
                           "DagIds": list(created.dag_ids)})  # fmt: skip
            else:
                click.echo(
                    f"Run {created.op_seq}: {len(created.dag_ids)} Dag(s), first DagId "
                    f"{created.dag_id}."
                )
            return
        ok = _wait(ctx, created, project_env, as_json)
    if not ok:
        raise SystemExit(EXIT_FAILURE)


def _days(start: dt.date | None, end: dt.date | None) -> list[dt.date]:
    """Every date from `start` to `end`, both included."""
    assert start is not None and end is not None
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def _run_remotely(
    endpoint: str,
    access_key_id: str | None,
    access_key_secret: str | None,
    typed: dict[str, str | None],
    **request: Any,
) -> None:
    from opcenter.cli._remote_run import run_remotely

    run_remotely(
        endpoint=endpoint,
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        typed=typed,
        **request,
    )


def _wait(ctx: ServiceContext, created: RunCreated, env: str, as_json: bool) -> bool:
    """Follow the run until every Dag succeeded or one failed (later dates then wait), driving
    it here when no other engine leads the store; a failed run ends naming its failures."""
    driver = _RunDriver(ctx, created.op_seq)
    try:
        dags = _follow(ctx, created, env, driver, live=not as_json)
    except KeyboardInterrupt:
        driver.interrupt()
        raise
    finally:
        driver.stop()
    failed = _failed_instances(ctx, dags, env)
    if as_json:
        echo_json({"OpSeq": created.op_seq, "Dags": dags, "Failed": failed})
    else:
        out = console()
        if not out.is_terminal:  # no live table was drawn: the final one
            out.print(_render_here(ctx, dags, time.monotonic() - driver.started))
        for line in _failure_lines(failed, env):
            out.print(line, markup=False, highlight=False)
    return all(d.status is DagStatus.SUCCESS for d in dags)


def _follow(
    ctx: ServiceContext, created: RunCreated, env: str, driver: _RunDriver, *, live: bool
) -> list[DagView]:
    """The run's Dags once it has ended, redrawing the live table meanwhile on a terminal."""
    live = live and console().is_terminal  # `--json` imports no rich
    drawn = 0.0
    with _live_view(console()) if live else nullcontext() as view:
        while True:
            driver.lead_if_free()
            collect_garbage()  # (once) the run is created and its engine started
            driver.changed.clear()  # before the read: a change committed after it wakes us
            dags, done = _progress(ctx, created, env)
            if view is not None and (done or time.monotonic() - drawn >= REFRESH_SECONDS):
                view.update(_render_here(ctx, dags, time.monotonic() - driver.started))
                drawn = time.monotonic()
            if done:
                return dags
            driver.wait(REFRESH_SECONDS)


def _live_view(out: Any) -> Any:
    from rich.live import Live  # only on a terminal: a piped run prints the final table alone

    return Live(console=out, refresh_per_second=8, transient=False)


def _failed_instances(ctx: ServiceContext, dags: list[DagView], env: str) -> list[InstanceView]:
    """The instances that failed, Dag by Dag (in date order)."""
    from opcenter.service.instances import get_manual_dag_instances

    failed: list[InstanceView] = []
    for d in dags:
        if d.status is DagStatus.FAILURE:
            rows = get_manual_dag_instances(ctx, dag_id=d.dag_id, project_env=env)
            failed.extend(i for i in rows if i.status is InstanceStatus.FAILURE)
    return failed


def _failure_lines(failed: list[InstanceView], env: str) -> list[str]:
    """One line per failed instance (id, node, date, why), then how to read its log."""
    if not failed:
        return []
    options = "" if env == "PROD" else f" --env {env}"
    data_dir = data_dir_given()
    if data_dir is not None:
        options += f" --data-dir {_shell_word(str(data_dir))}"
    lines = [f"{len(failed)} instance(s) failed:"]
    for i in failed:
        why = f": {i.error_message}" if i.error_message else ""
        lines.append(
            f"  instance {i.instance_id}, node {i.node_name}, business date "
            f"{human_day(i.bizdate)}{why}"
        )
        lines.append(f"    its log: opcenter instance log {i.instance_id}{options}")
    return lines


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


class _RunDriver:
    """This run's own engine (`Engine(ctx, runs={run})`: it drives only this run's Dags), started
    when no other engine leads the store. While a server leads, it stays None and the run is
    only watched; another `run --wait` may lead for a while, so taking the lead is retried."""

    def __init__(self, ctx: ServiceContext, run_id: int) -> None:
        self.ctx, self.run_id = ctx, run_id
        self.engine: Any = None
        self.started = time.monotonic()
        self._tried = -LEAD_RETRY_SECONDS
        self._never = threading.Event()  # `changed` while no engine of ours drives the run

    def lead_if_free(self) -> None:
        from opcenter.engine.scheduler import Engine, EngineBusy

        if self.engine is not None or time.monotonic() - self._tried < LEAD_RETRY_SECONDS:
            return
        self._tried = time.monotonic()
        # Kept before it starts: a Ctrl-C that lands while it starts still finds it to drain.
        self.engine = Engine(self.ctx, runs={self.run_id})
        try:
            self.engine.start()
        except EngineBusy:
            self.engine = None
            return
        engine = self.engine
        click.echo(DRIVING_HERE, err=True)
        sandbox = getattr(engine.executor, "sandbox", None)
        if sandbox is not None and not sandbox.isolated:
            click.echo(sandbox.describe(), err=True)

    @property
    def changed(self) -> threading.Event:
        """Set when this process's engine may have ended the run: a Dag failed, or it has no
        Dag left to drive."""
        return self.engine.dags_settled if self.engine is not None else self._never

    def wait(self, at_most: float) -> None:
        """Until the next look at the run: told by this process's engine when the run may have
        ended (`at_most` bounds the wait: the live table's clock, an operator's change from
        elsewhere); polled every POLL_SECONDS while another engine drives it. Told, it looks
        once when the last Dag is done, where polling read the run's Dags every 20 ms beside
        the engine (the GIL shared) and noticed the end 10 ms late on average."""
        if self.engine is None:
            time.sleep(POLL_SECONDS)
        else:
            self.engine.dags_settled.wait(at_most)

    def interrupt(self) -> None:
        """Ctrl-C: this run's running attempts get a short while to finish, then are stopped."""
        if self.engine is not None:
            click.echo(
                f"Interrupted: this run's running instances get {DRAIN_SECONDS:g} s to finish, then"
                " are killed; the next opcenter engine on this store records them as interrupted"
                " and continues the run.",
                err=True,
            )
            self.stop()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop(drain=True, timeout=DRAIN_SECONDS)
            self.engine = None


def _progress(ctx: ServiceContext, created: RunCreated, env: str) -> tuple[list[DagView], bool]:
    from opcenter.service.runs import list_dags

    dags = list_dags(ctx, op_seq=created.op_seq, project_env=env)
    statuses = [d.status for d in dags]
    done = all(s is DagStatus.SUCCESS for s in statuses) or DagStatus.FAILURE in statuses
    return dags, done


def _render_here(ctx: ServiceContext, dags: list[DagView], elapsed: float) -> Group:
    """The live table of a run in the local store."""
    from opcenter.service.instances import dag_progress

    return _render(dags, dag_progress(ctx, [d.dag_id for d in dags]), elapsed)  # one query


def _render(dags: list[Any], progress: Mapping[int, Any], elapsed: float) -> Group:
    """The live table: one row per Dag, narrow enough for 80 columns (the date and the status
    are never cut; the names of the running nodes wrap, suspended ones marked so). `dags` are
    DagViews (or objects with their fields), `progress` each one's DagProgress by DagId
    (`opcenter run --endpoint` builds both from the API's answers)."""
    from rich.console import Group
    from rich.table import Table

    table = Table(title=None, expand=False)
    for header in ("DagId", "date", "status", "done", "failed"):
        table.add_column(header, no_wrap=True)
    table.add_column("running", overflow="fold", ratio=1)
    table.add_column("elapsed", no_wrap=True, justify="right")
    for d in dags:
        p = progress[d.dag_id]
        # A suspended instance holds its Dag back: named, so a run that waits says why.
        running = ", ".join([*p.running, *(f"{name} (suspended)" for name in p.suspended)])
        table.add_row(
            str(d.dag_id),
            d.biz_date.isoformat(),
            d.status.value,
            f"{p.succeeded}/{p.total}",
            str(p.failed),
            running or "-",
            _elapsed(d),
        )
    return Group(table, f"elapsed {_duration(elapsed)}")


def _elapsed(d: DagView) -> str:
    if d.start_time is None:
        return "-"
    end = d.finish_time or int(time.time() * 1000)
    return _duration((end - d.start_time) / 1000)


def _duration(seconds: float) -> str:
    """`4.2 s`, `12m05s`, `3h07m`: short enough for a narrow column."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_ms = human_time  # epoch milliseconds as a table shows them


# -- opcenter dag ---------------------------------------------------------------------------------


@click.group(short_help="Find and show Dags: runs of a workflow for one date.")
@group_data_dir_option
def dag() -> None:
    """Dags: one run of a workflow for one business date."""


@dag.command("show", short_help="Show a Dag and its instances.")
@click.argument("dag_id", type=int)
@env_option()
@json_option
@data_dir_option
@one_line_errors
def dag_show(dag_id: int, project_env: str, as_json: bool, data_dir: Path | None) -> None:
    """Show Dag DAG_ID (GetDag) and its instances (ListManualDagInstances)."""
    from opcenter.service.instances import get_manual_dag_instances
    from opcenter.service.runs import get_dag

    with service_context(data_dir) as ctx:
        view = get_dag(ctx, dag_id=dag_id, project_env=project_env)
        rows = get_manual_dag_instances(ctx, dag_id=dag_id, project_env=project_env)
    if as_json:
        echo_json({"Dag": view, "Instances": rows})
        return
    out = console()
    out.print(
        f"Dag {view.dag_id} {view.name} · business date {view.biz_date} · {view.status.value}"
        f" · OpSeq {view.op_seq} · started {_ms(view.start_time)} · finished "
        f"{_ms(view.finish_time)}"
    )
    out.print(_instances_table(rows))


def _instances_table(rows: list[InstanceView], *, with_dag: bool = False) -> Table:
    from rich.table import Table

    headers = ["InstanceId", "node", "NodeId", "TaskType", "status", "started", "finished"]
    if with_dag:
        headers = ["InstanceId", "node", "DagId", "date", "status", "started", "finished"]
    table = Table(*headers)
    for i in rows:
        status = "SUSPENDED" if i.suspended else i.status.value  # TaskType shows PAUSE
        middle = (
            [str(i.dag_id), human_day(i.bizdate)]
            if with_dag
            else [str(i.node_id), i.task_type.value]
        )
        table.add_row(
            str(i.instance_id),
            i.node_name,
            *middle,
            status,
            _ms(i.begin_running_time),
            _ms(i.finish_time),
        )
    return table


_DAG_STATUSES = UpperChoice([s.value for s in DagStatus], "a Dag status")
_INSTANCE_STATUSES = UpperChoice([s.value for s in InstanceStatus], "an instance status")


@dag.command("list", short_help="Find Dags by run, workflow, date or status.")
@workspace_option()
@click.option("--op-seq", type=int, help="Only the Dags of this run (OpSeq).")
@click.option("--workflow", help="Only the Dags of this workflow.")
@click.option("--bizdate", type=DateParam(), help="Only this business date.")
@click.option("--from", "start", type=DateParam(), help="Only business dates from this one on.")
@click.option("--to", "end", type=DateParam(), help="Only business dates up to this one.")
@click.option("--status", type=_DAG_STATUSES, help="Only Dags with this status.")
@env_option()
@paging_options
@json_option
@data_dir_option
@one_line_errors
def dag_list(
    workspace: str | None,
    op_seq: int | None,
    workflow: str | None,
    bizdate: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    status: str | None,
    project_env: str,
    page_number: int,
    page_size: int,
    as_json: bool,
    data_dir: Path | None,
) -> None:
    """List the Dags of a workspace (-w), or of one run (--op-seq): newest run first, each run's
    Dags in date order. Filter by workflow, business date (--bizdate, or --from and/or --to)
    and status; dates are yyyy-mm-dd or yyyymmdd."""
    from opcenter.service.runs import find_dags

    if workspace is None and op_seq is None:
        raise click.UsageError("Give the workspace (-w IDENTIFIER) or the run (--op-seq N).")
    if bizdate is not None and (start is not None or end is not None):
        raise click.UsageError("Give --bizdate, or --from and/or --to, not both.")
    with service_context(data_dir) as ctx:
        page = find_dags(
            ctx,
            project_env=project_env,
            project_identifier=workspace,
            op_seq=op_seq,
            workflow=workflow,
            biz_date=bizdate,
            begin_biz_date=start,
            end_biz_date=end,
            status=status,
            page_number=page_number,
            page_size=page_size,
        )
    if as_json:
        echo_json(page)
        return
    from rich.table import Table

    out = console()
    if not page.items:
        out.print("(none)")
    else:
        table = Table("DagId", "OpSeq", "workflow", "date", "status", "started", "finished")
        for d in page.items:
            table.add_row(
                str(d.dag_id), str(d.op_seq), d.name, d.biz_date.isoformat(), d.status.value,
                _ms(d.start_time), _ms(d.finish_time),
            )  # fmt: skip
        out.print(table)
    out.print(page_line(page_number, page_size, len(page.items), page.total_count), style="dim")


# -- opcenter instance ----------------------------------------------------------------------------


@click.group(short_help="Find, show, read and operate node instances.")
@group_data_dir_option
def instance() -> None:
    """Node instances: find, show, read the log, and the operator operations."""


@instance.command("list", short_help="Find instances by workflow, date or status.")
@workspace_option(required=True)
@click.option("--workflow", help="Only the instances of this workflow.")
@click.option("--node", "node_name", help="Only the instances of the node with this name.")
@click.option("--dag-id", type=int, help="Only the instances of this Dag.")
@click.option("--bizdate", type=DateParam(), help="Only this business date.")
@click.option("--from", "start", type=DateParam(), help="Only business dates from this one on.")
@click.option("--to", "end", type=DateParam(), help="Only business dates up to this one.")
@click.option("--status", type=_INSTANCE_STATUSES, help="Only instances with this status.")
@env_option()
@paging_options
@json_option
@data_dir_option
@one_line_errors
def instance_list(
    workspace: str,
    workflow: str | None,
    node_name: str | None,
    dag_id: int | None,
    bizdate: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    status: str | None,
    project_env: str,
    page_number: int,
    page_size: int,
    as_json: bool,
    data_dir: Path | None,
) -> None:
    """List the instances of a workspace (ListInstances), newest first. Filter by workflow,
    node name, Dag, business date (--bizdate, or --from and/or --to) and status; dates are
    yyyy-mm-dd or yyyymmdd."""
    from opcenter.service.instances import list_instances
    from opcenter.service.lookup import resolve_workspace

    if bizdate is not None and (start is not None or end is not None):
        raise click.UsageError("Give --bizdate, or --from and/or --to, not both.")
    with service_context(data_dir) as ctx:
        with ctx.db.transaction(readonly=True) as session:
            project_id = resolve_workspace(session, project_identifier=workspace).id
        page = list_instances(
            ctx,
            project_env=project_env,
            project_id=project_id,
            dag_id=dag_id,
            node_name=node_name,
            status=status,
            bizdate=_api_date(bizdate),
            begin_bizdate=_api_date(start),
            end_bizdate=_api_date(end),
            biz_name=workflow,
            page_number=page_number,
            page_size=page_size,
        )
    if as_json:
        echo_json(page)
        return
    out = console()
    out.print(_instances_table(page.instances, with_dag=True) if page.instances else "(none)")
    out.print(page_line(page_number, page_size, len(page.instances), page.total_count), style="dim")


@instance.command("show", short_help="Show an instance.")
@click.argument("instance_id", type=int)
@env_option()
@json_option
@data_dir_option
@one_line_errors
def instance_show(instance_id: int, project_env: str, as_json: bool, data_dir: Path | None) -> None:
    """Show instance INSTANCE_ID (GetInstance)."""
    from opcenter.service.instances import get_instance

    with service_context(data_dir) as ctx:
        view = get_instance(ctx, instance_id=instance_id, project_env=project_env)
    emit(view, as_json)


@instance.command("log", short_help="Print an instance's log, or a part of it.")
@click.argument("instance_id", type=int)
@click.option("--attempt", type=int, help="Attempt number (default: the latest).")
@click.option("--offset", type=click.IntRange(min=0), help="Start at this byte of the log.")
@click.option("--limit", type=click.IntRange(min=1), help="Print at most this many bytes.")
@click.option(
    "--tail", type=click.IntRange(min=1), help="Print only the last N bytes (from a line start)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the instance runs.")
@env_option()
@data_dir_option
@one_line_errors
def instance_log(
    instance_id: int,
    attempt: int | None,
    offset: int | None,
    limit: int | None,
    tail: int | None,
    follow: bool,
    project_env: str,
    data_dir: Path | None,
) -> None:
    """Print the log of instance INSTANCE_ID: all of it, a window, or the tail.

    The log is read in pages, never loaded whole: all of it by default, from byte --offset, at
    most --limit bytes, or the last --tail bytes."""
    from opcenter.service import logs

    if tail is not None and offset is not None:
        raise click.UsageError("--tail and --offset exclude each other.")
    page_bytes = logs.DEFAULT_LOG_PAGE_BYTES
    with service_context(data_dir) as ctx:
        read = functools.partial(
            logs.read_instance_log, ctx, instance_id=instance_id, project_env=project_env
        )
        at = offset or 0
        if tail is not None:
            page = read(attempt=attempt, limit=tail, tail=True)
            _write(page.text)
            at, attempt = page.next_offset, page.attempt
        left = limit
        while left is None or left > 0:
            done = follow and _finished(ctx, instance_id, project_env)  # before the read
            page = read(attempt=attempt, offset=at, limit=min(left or page_bytes, page_bytes))
            _write(page.text)
            attempt = page.attempt  # a rerun meanwhile does not switch logs under --follow
            at = page.next_offset
            left = None if left is None else left - (page.next_offset - page.offset)
            if at < page.size and page.text:
                continue  # more is there already
            if not follow or done:
                return
            time.sleep(REFRESH_SECONDS)
        if at < page.size:
            click.echo(f"(the log goes on: --offset {at})", err=True)


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _finished(ctx: ServiceContext, instance_id: int, project_env: str) -> bool:
    from opcenter.service.instances import get_instance

    view = get_instance(ctx, instance_id=instance_id, project_env=project_env)
    return view.status.finished


def _operation(
    name: str, function_name: str, done: str, short_help: str, help_text: str
) -> click.Command:
    @click.command(name, short_help=short_help, help=help_text)
    @click.argument("instance_id", type=int)
    @env_option()
    @data_dir_option
    @one_line_errors
    def command(instance_id: int, project_env: str, data_dir: Path | None) -> None:
        from opcenter.service import instances

        function: Callable[..., bool] = getattr(instances, function_name)
        with service_context(data_dir) as ctx:
            function(ctx, instance_id=instance_id, project_env=project_env, caller=current_caller())
        click.echo(f"Instance {instance_id} {done}.")

    return command


@instance.command(
    "rerun",
    short_help="Run a failed or succeeded instance again (--downstream: and all after it).",
    help="Run instance INSTANCE_ID again (RestartInstance), as a new attempt.\n\n"
    "A FAILURE instance (a stopped one too) or a SUCCESS one (not a dry run) goes back to "
    "NOT_RUN, as its node's RerunMode allows, and runs again with its stored parameters and "
    "code; with --latest, with the node's latest deployed version (its parameters resolved "
    "again). A RUNNING instance is refused.\n\n"
    "With --downstream, every finished instance after it in its Dag goes back to NOT_RUN too, "
    "in the same step, and runs again after its upstream; refused as a whole while one of them "
    "is on its way (WAIT_TIME, WAIT_RESOURCE, RUNNING) or may not be rerun.",
)
@click.argument("instance_id", type=int)
@click.option(
    "--latest",
    is_flag=True,
    help="Run the node's latest deployed version, not the one the run started with.",
)
@click.option(
    "--downstream",
    is_flag=True,
    help="Rerun every instance after it in its Dag as well, in one step.",
)
@env_option()
@data_dir_option
@one_line_errors
def instance_rerun(
    instance_id: int, latest: bool, downstream: bool, project_env: str, data_dir: Path | None
) -> None:
    from opcenter.service import instances
    from opcenter.service.reruns import released_version, version_label

    with service_context(data_dir) as ctx:
        rerun = instances.rerun_with_downstream if downstream else instances.restart_instance
        done = rerun(
            ctx,
            instance_id=instance_id,
            project_env=project_env,
            caller=current_caller(),
            use_latest=latest,
        )
        view = instances.get_instance(ctx, instance_id=instance_id, project_env=project_env)
        runs = f" with {version_label(ctx, view.version_id)}" if view.version_id else ""
        newer = None if latest else released_version(ctx, view.node_id, project_env)
        if newer is not None and newer != view.version_id:
            runs += f"; {version_label(ctx, newer)} is deployed: --latest runs it"
    click.echo(f"Instance {instance_id} will run again{runs}.")
    if isinstance(done, list) and len(done) > 1:
        after = ", ".join(str(i) for i in done[1:])
        click.echo(f"Downstream instances that will run again after it: {after}.")


instance.add_command(
    _operation(
        "set-success",
        "set_success_instance",
        "set to SUCCESS",
        "Set a failed instance to SUCCESS.",
        "Set instance INSTANCE_ID to SUCCESS (SetSuccessInstance).\n\n"
        "It may be FAILURE, or NOT_RUN held back by a failed upstream instance. Its downstream "
        "instances may then run, and its Dag is RUNNING again.",
    )
)
instance.add_command(
    _operation(
        "stop",
        "stop_instance",
        "stopped",
        "Stop an instance; it ends as FAILURE.",
        "Stop instance INSTANCE_ID (StopInstance).\n\n"
        "A waiting instance (NOT_RUN, WAIT_TIME or WAIT_RESOURCE) becomes FAILURE at once. A "
        "RUNNING one stays RUNNING until the engine has ended its processes (SIGTERM, a grace "
        "period, then SIGKILL), and then becomes FAILURE. Its log and its ErrorMessage end with "
        "'Stopped by <who>.'.",
    )
)
instance.add_command(
    _operation(
        "suspend",
        "suspend_instance",
        "suspended",
        "Hold a waiting instance: it does not start.",
        "Suspend instance INSTANCE_ID (SuspendInstance).\n\n"
        "A waiting instance (NOT_RUN, WAIT_TIME or WAIT_RESOURCE) keeps its status but does not "
        "start, and its downstream instances wait for it, until `opcenter instance resume`.",
    )
)
instance.add_command(
    _operation(
        "resume",
        "resume_instance",
        "resumed",
        "Let a suspended instance start again.",
        "Resume instance INSTANCE_ID (ResumeInstance): a suspended instance may start again.",
    )
)
