"""`opcenter run`, `opcenter dag …`, `opcenter instance …`: the Operation Center from a shell.

Every command calls the same service functions as the API. `run --wait` follows the run live.
When a server's engine leads the store, it only watches (reading the store); when none does, it
runs an engine scoped to its own run (every other Dag is left alone) until the run ends.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table

from opcenter.cli._output import (
    EXIT_FAILURE,
    console,
    current_caller,
    one_line_errors,
    service_context,
    to_plain,
)
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.service import instances as ops
from opcenter.service import logs
from opcenter.service.context import ServiceContext
from opcenter.service.reruns import released_version, version_label
from opcenter.service.run_views import DagView, InstanceView, RunCreated
from opcenter.service.runs import get_dag, list_dags, start_manual_run

__all__ = ["dag", "instance", "run"]

REFRESH_SECONDS = 0.25  # how often the live table is redrawn
POLL_SECONDS = 0.02  # how often the run's Dags are checked: a cheap read, and a short tail
LEAD_RETRY_SECONDS = 1.0  # how often `run --wait` tries to drive its run when another engine leads
DRAIN_SECONDS = 10.0  # on exit, how long this run's running attempts may finish before a stop
DRIVING_HERE = (
    "No opcenter server is running on this store: running this run's Dags here until they end."
)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(to_plain(value), indent=2, ensure_ascii=False))


def _biz_date(value: str | None) -> str | None:
    """`yyyy-mm-dd` (or already `yyyy-MM-dd 00:00:00`) → the API form."""
    if value is None:
        return None
    text = value.strip()
    if len(text) == 10:
        return f"{text} 00:00:00"
    return text


def _json_pairs(values: tuple[str, ...], shape: str, option: str) -> str | None:
    """`KEY=text` options as a JSON object (None when there are none)."""
    params: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not {shape}", param_hint=option)
        params[key.strip()] = text
    return json.dumps(params) if params else None


def _node_params(values: tuple[str, ...]) -> str | None:
    return _json_pairs(values, "ID='k=v …'", "--node-param")


def _dag_params(values: tuple[str, ...]) -> str | None:
    return _json_pairs(values, "k=v", "--dag-param")


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: OPCENTER_DATA_DIR, else ./.opcenter).",
)
_env_option = click.option(
    "--env",
    "project_env",
    type=click.Choice(["PROD", "DEV"]),
    default="PROD",
    show_default=True,
    help="Operation Center environment (ProjectEnv).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# -- opcenter run ---------------------------------------------------------------------------------


@click.command()
@click.argument("flow")
@click.option("--workspace", "-w", required=True, help="Workspace identifier (ProjectName).")
@_env_option
@click.option("--bizdate", help="Business date, yyyy-mm-dd (at most yesterday).")
@click.option("--from", "start", help="First business date of a range, yyyy-mm-dd.")
@click.option("--to", "end", help="Last business date of a range (inclusive), yyyy-mm-dd.")
@click.option("--include", help="Comma-separated node ids to run (the others dry-run).")
@click.option("--exclude", help="Comma-separated node ids to dry-run.")
@click.option("--node-param", multiple=True, help="ID='k=v …' parameters of one node.")
@click.option("--dag-param", multiple=True, help="k=v workflow parameter (repeatable).")
@click.option("--wait", is_flag=True, help="Follow the run; exit 0 only if every Dag succeeds.")
@_json_option
@_data_dir_option
@one_line_errors
def run(
    flow: str,
    workspace: str,
    project_env: str,
    bizdate: str | None,
    start: str | None,
    end: str | None,
    include: str | None,
    exclude: str | None,
    node_param: tuple[str, ...],
    dag_param: tuple[str, ...],
    wait: bool,
    as_json: bool,
    data_dir: Path | None,
) -> None:
    """Run the manually triggered workflow FLOW (RunManualDagNodes) for --bizdate D, or for
    every date of --from D1 --to D2 (one Dag per date, in date order)."""
    with service_context(data_dir) as ctx:
        created = start_manual_run(
            ctx,
            project_env=project_env,
            project_name=workspace,
            flow_name=flow,
            biz_date=_biz_date(bizdate),
            start_biz_date=_biz_date(start),
            end_biz_date=_biz_date(end),
            node_parameters=_node_params(node_param),
            dag_parameters=_dag_params(dag_param),
            include_node_ids=include,
            exclude_node_ids=exclude,
            caller=current_caller(),
        )
        if not wait:
            if as_json:
                _echo_json({"DagId": created.dag_id, "OpSeq": created.op_seq,
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


def _wait(ctx: ServiceContext, created: RunCreated, env: str, as_json: bool) -> bool:
    """Follow the run until every Dag succeeded or one failed (later dates then wait), driving
    it here when no other engine leads the store."""
    driver = _RunDriver(ctx, created.op_seq)
    try:
        dags = _follow(ctx, created, env, as_json, driver)
    except KeyboardInterrupt:
        driver.interrupt()
        raise
    finally:
        driver.stop()
    return all(d.status is DagStatus.SUCCESS for d in dags)


def _follow(
    ctx: ServiceContext, created: RunCreated, env: str, as_json: bool, driver: _RunDriver
) -> list[DagView]:
    started = time.monotonic()
    out = console()
    live = out.is_terminal and not as_json
    drawn = 0.0
    with (
        Live(console=out, refresh_per_second=8, transient=False) if live else nullcontext() as view
    ):
        while True:
            driver.lead_if_free()
            dags, done = _progress(ctx, created, env)
            if view is not None and (done or time.monotonic() - drawn >= REFRESH_SECONDS):
                view.update(_render(ctx, dags, env, time.monotonic() - started))
                drawn = time.monotonic()
            if done:
                break
            time.sleep(POLL_SECONDS)
    if as_json:
        _echo_json({"OpSeq": created.op_seq, "Dags": dags})
    elif not live:
        out.print(_render(ctx, dags, env, time.monotonic() - started))
    return dags


class _RunDriver:
    """This run's own engine (`Engine(ctx, runs={run})`: it drives only this run's Dags), started
    when no other engine leads the store. While a server leads, it stays None and the run is
    only watched; another `run --wait` may lead for a while, so taking the lead is retried."""

    def __init__(self, ctx: ServiceContext, run_id: int) -> None:
        self.ctx, self.run_id = ctx, run_id
        self.engine: Any = None
        self._tried = -LEAD_RETRY_SECONDS

    def lead_if_free(self) -> None:
        from opcenter.engine.scheduler import Engine, EngineBusy

        if self.engine is not None or time.monotonic() - self._tried < LEAD_RETRY_SECONDS:
            return
        self._tried = time.monotonic()
        engine = Engine(self.ctx, runs={self.run_id})
        try:
            engine.start()
        except EngineBusy:
            return
        self.engine = engine
        click.echo(DRIVING_HERE, err=True)
        sandbox = getattr(engine.executor, "sandbox", None)
        if sandbox is not None and not sandbox.isolated:
            click.echo(sandbox.describe(), err=True)

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
    dags = list_dags(ctx, op_seq=created.op_seq, project_env=env)
    statuses = [d.status for d in dags]
    done = all(s is DagStatus.SUCCESS for s in statuses) or DagStatus.FAILURE in statuses
    return dags, done


def _render(ctx: ServiceContext, dags: list[DagView], env: str, elapsed: float) -> Group:
    table = Table("DagId", "date", "status", *(s.value for s in _SHOWN), "running", "elapsed")
    for d in dags:
        rows = ops.get_manual_dag_instances(ctx, dag_id=d.dag_id, project_env=env)
        counts = {s: sum(1 for i in rows if i.status is s) for s in _SHOWN}
        running = ", ".join(i.node_name for i in rows if i.status is InstanceStatus.RUNNING)
        table.add_row(
            str(d.dag_id),
            d.biz_date.isoformat(),
            d.status.value,
            *(str(counts[s]) for s in _SHOWN),
            running or "-",
            _elapsed(d),
        )
    return Group(table, f"elapsed {elapsed:.1f} s")


_SHOWN = (
    InstanceStatus.NOT_RUN,
    InstanceStatus.WAIT_RESOURCE,
    InstanceStatus.RUNNING,
    InstanceStatus.SUCCESS,
    InstanceStatus.FAILURE,
)


def _elapsed(d: DagView) -> str:
    if d.start_time is None:
        return "-"
    end = d.finish_time or int(time.time() * 1000)
    return f"{(end - d.start_time) / 1000:.1f} s"


def _ms(value: int | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


# -- opcenter dag ---------------------------------------------------------------------------------


@click.group()
def dag() -> None:
    """Dags: one run of a workflow for one business date."""


@dag.command("show")
@click.argument("dag_id", type=int)
@_env_option
@_json_option
@_data_dir_option
@one_line_errors
def dag_show(dag_id: int, project_env: str, as_json: bool, data_dir: Path | None) -> None:
    """A Dag (GetDag) and its instances (ListManualDagInstances)."""
    with service_context(data_dir) as ctx:
        view = get_dag(ctx, dag_id=dag_id, project_env=project_env)
        rows = ops.get_manual_dag_instances(ctx, dag_id=dag_id, project_env=project_env)
    if as_json:
        _echo_json({"Dag": view, "Instances": rows})
        return
    out = console()
    out.print(
        f"Dag {view.dag_id} {view.name} · business date {view.biz_date} · {view.status.value}"
        f" · OpSeq {view.op_seq} · started {_ms(view.start_time)} · finished "
        f"{_ms(view.finish_time)}"
    )
    out.print(_instances_table(rows))


def _instances_table(rows: list[InstanceView]) -> Table:
    table = Table("InstanceId", "node", "NodeId", "TaskType", "status", "started", "finished")
    for i in rows:
        status = "SUSPENDED" if i.suspended else i.status.value  # TaskType shows PAUSE
        table.add_row(
            str(i.instance_id),
            i.node_name,
            str(i.node_id),
            i.task_type.value,
            status,
            _ms(i.begin_running_time),
            _ms(i.finish_time),
        )
    return table


@dag.command("list")
@click.option("--op-seq", type=int, required=True, help="The run (OpSeq) whose Dags to list.")
@_env_option
@_json_option
@_data_dir_option
@one_line_errors
def dag_list(op_seq: int, project_env: str, as_json: bool, data_dir: Path | None) -> None:
    """The Dags of one run, in date order (ListDags)."""
    with service_context(data_dir) as ctx:
        dags = list_dags(ctx, op_seq=op_seq, project_env=project_env)
    if as_json:
        _echo_json(dags)
        return
    table = Table("DagId", "date", "status", "started", "finished")
    for d in dags:
        table.add_row(
            str(d.dag_id), d.biz_date.isoformat(), d.status.value, _ms(d.start_time),
            _ms(d.finish_time),
        )  # fmt: skip
    console().print(table)


# -- opcenter instance ----------------------------------------------------------------------------


@click.group()
def instance() -> None:
    """Node instances: show, log, and the operator operations."""


@instance.command("show")
@click.argument("instance_id", type=int)
@_env_option
@_json_option
@_data_dir_option
@one_line_errors
def instance_show(instance_id: int, project_env: str, as_json: bool, data_dir: Path | None) -> None:
    """An instance (GetInstance)."""
    with service_context(data_dir) as ctx:
        view = ops.get_instance(ctx, instance_id=instance_id, project_env=project_env)
    if as_json:
        _echo_json(view)
        return
    table = Table("field", "value", show_header=False)
    for key, value in to_plain(view).items():
        shown = _ms(value) if key.endswith(("_time", "time_time")) and value else value
        table.add_row(key, "-" if shown is None else str(shown))
    console().print(table)


@instance.command("log")
@click.argument("instance_id", type=int)
@click.option("--attempt", type=int, help="Attempt number (default: the latest).")
@click.option("--offset", type=click.IntRange(min=0), help="Start at this byte of the log.")
@click.option("--limit", type=click.IntRange(min=1), help="Print at most this many bytes.")
@click.option(
    "--tail", type=click.IntRange(min=1), help="Print only the last N bytes (from a line start)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the instance runs.")
@_env_option
@_data_dir_option
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
    """The log of an instance, read in pages: all, a window, or the tail.

    The log is never loaded whole: all of it by default, from byte --offset, at most --limit
    bytes, or the last --tail bytes."""
    if tail is not None and offset is not None:
        raise click.UsageError("--tail and --offset exclude each other.")
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
            page = read(attempt=attempt, offset=at, limit=min(left or _PAGE, _PAGE))
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


_PAGE = logs.DEFAULT_LOG_PAGE_BYTES


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _finished(ctx: ServiceContext, instance_id: int, project_env: str) -> bool:
    view = ops.get_instance(ctx, instance_id=instance_id, project_env=project_env)
    return view.status.finished


def _operation(name: str, function: Callable[..., bool], done: str) -> click.Command:
    @click.command(name)
    @click.argument("instance_id", type=int)
    @_env_option
    @_data_dir_option
    @one_line_errors
    def command(instance_id: int, project_env: str, data_dir: Path | None) -> None:
        with service_context(data_dir) as ctx:
            function(ctx, instance_id=instance_id, project_env=project_env, caller=current_caller())
        click.echo(f"Instance {instance_id} {done}.")

    command.help = function.__doc__.split("\n")[0] if function.__doc__ else None
    return command


@instance.command("rerun")
@click.argument("instance_id", type=int)
@click.option(
    "--latest",
    is_flag=True,
    help="Run the node's latest deployed version, not the one the run started with.",
)
@_env_option
@_data_dir_option
@one_line_errors
def instance_rerun(instance_id: int, latest: bool, project_env: str, data_dir: Path | None) -> None:
    """Run a finished instance again (RestartInstance), as a new attempt."""
    with service_context(data_dir) as ctx:
        ops.restart_instance(
            ctx,
            instance_id=instance_id,
            project_env=project_env,
            caller=current_caller(),
            use_latest=latest,
        )
        view = ops.get_instance(ctx, instance_id=instance_id, project_env=project_env)
        runs = f" with {version_label(ctx, view.version_id)}" if view.version_id else ""
        newer = None if latest else released_version(ctx, view.node_id, project_env)
        if newer is not None and newer != view.version_id:
            runs += f"; {version_label(ctx, newer)} is deployed: --latest runs it"
    click.echo(f"Instance {instance_id} will run again{runs}.")


instance.add_command(_operation("set-success", ops.set_success_instance, "set to SUCCESS"))
instance.add_command(_operation("stop", ops.stop_instance, "stopped"))
instance.add_command(_operation("suspend", ops.suspend_instance, "suspended"))
instance.add_command(_operation("resume", ops.resume_instance, "resumed"))
