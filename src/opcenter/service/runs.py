"""RunManualDagNodes and CreateManualDag: validate everything, then write a whole run at once.

A call is checked completely before anything is written (docs/running.md): the workspace and
environment, the flow and whether every one of its files is deployed there, the business dates,
the node ids of IncludeNodeIds / ExcludeNodeIds / NodeParameters, and every parameter
expression, evaluated for every instance. Then one transaction writes the run (`OpSeq`), one Dag
per business date, one instance per node per Dag (with its TaskType, its ParamValues and its
resolved parameters), and the instance edges, with bulk inserts; the engine is told afterwards.

Run parameters can change code (they are pasted into it), so a caller who may not edit the
workflow's files (`may_edit_code=False`) may pass only values of the safe set
(`domain/safe_params.py`); the adapter decides `may_edit_code` (the API asks the authorizer
whether the caller may UpdateFile in the workspace; the CLI, the store's local administrator,
passes True).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import DagStatus, Env, InstanceStatus, TaskType, UseType
from opcenter.domain.params import (
    EvalContext,
    ParamString,
    ResolvedParams,
    merge_params,
    parse_params,
    resolve_params,
    validate_params,
    validate_workflow_params,
)
from opcenter.domain.params._resolve import uses_ids
from opcenter.domain.planning import (
    business_dates,
    cyctime_of,
    day_start_ms,
    parse_json_object,
    parse_node_ids,
    select_task_types,
    timeout_seconds,
)
from opcenter.domain.safe_params import check_safe_run_parameters
from opcenter.engine.dispatch import encode_resolved
from opcenter.engine.view import SEED_INSTANCES_MAX, Seed, offer_seeds, wants_seeds
from opcenter.errors import InvalidParameter, MissingParameter, NotFound, not_found
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.flow_cache import CachedFlow, cached_flow
from opcenter.service.flows import DeployedNode, FlowGraph
from opcenter.service.instances import _env  # one ProjectEnv check for every query
from opcenter.service.lookup import check_paging, require_env, resolve_workspace, workspace_row
from opcenter.service.run_views import DAG_TYPE, DagView, RunCreated, dag_view
from opcenter.store.prepared import Prepared, executemany, row_type
from opcenter.store.tables import (
    Dag,
    Instance,
    InstanceEdge,
    Run,
    Workflow,
    Workspace,
)

if TYPE_CHECKING:
    from opcenter.service.views import Page  # imported by find_dags: ~7 ms `run` does not need

__all__ = [
    "RunPlan",
    "RunRequest",
    "create_manual_dag",
    "find_dags",
    "get_dag",
    "instance_params",
    "list_dags",
    "parse_run_request",
    "plan_run",
    "run_manual_dag_nodes",
    "start_manual_run",
]


@dataclass(frozen=True)
class RunRequest:
    """A RunManualDagNodes call checked without the store (parse_run_request)."""

    project_env: str
    project_name: str | None
    project_id: int | None
    flow_name: str
    dates: list[dt.date]
    node_parameters: dict[str, str]
    dag_parameters: dict[str, str]
    include: list[int] | None
    exclude: list[int] | None
    raw: dict[str, str]


def _required(value: object, name: str) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MissingParameter(name)


_OPTIONAL = (
    "project_name",
    "project_id",
    "biz_date",
    "start_biz_date",
    "end_biz_date",
    "node_parameters",
    "dag_parameters",
    "include_node_ids",
    "exclude_node_ids",
)


def parse_run_request(ctx: ServiceContext, *, may_edit_code: bool, **kw: Any) -> RunRequest:
    """Everything of a RunManualDagNodes call that can be checked without the store (the
    arguments of start_manual_run; those not given are None)."""
    for name in _OPTIONAL:
        kw.setdefault(name, None)
    _required(kw["project_env"], "ProjectEnv")
    if not kw["project_name"] and kw["project_id"] is None:
        raise MissingParameter("ProjectName")
    _required(kw["flow_name"], "FlowName")
    today = dt.datetime.now(ctx.settings.tz).date()
    dates = business_dates(
        biz_date=kw["biz_date"],
        start_biz_date=kw["start_biz_date"],
        end_biz_date=kw["end_biz_date"],
        today=today,
    )
    node_parameters = parse_json_object(kw["node_parameters"], "NodeParameters")
    dag_parameters = validate_workflow_params(
        parse_json_object(kw["dag_parameters"], "DagParameters")
    )
    if not may_edit_code:
        check_safe_run_parameters(dag_parameters, node_parameters, dates[0])
    return RunRequest(
        project_env=str(kw["project_env"]),
        project_name=kw["project_name"] or None,
        project_id=kw["project_id"],
        flow_name=str(kw["flow_name"]),
        dates=dates,
        node_parameters=node_parameters,
        dag_parameters=dag_parameters,
        include=parse_node_ids(kw["include_node_ids"], "IncludeNodeIds"),
        exclude=parse_node_ids(kw["exclude_node_ids"], "ExcludeNodeIds"),
        raw={
            "node_parameters": kw["node_parameters"] or "{}",
            "dag_parameters": kw["dag_parameters"] or "{}",
            "include": kw["include_node_ids"] or "",
            "exclude": kw["exclude_node_ids"] or "",
        },
    )


def run_manual_dag_nodes(
    ctx: ServiceContext,
    *,
    project_env: str,
    flow_name: str,
    project_name: str | None = None,
    project_id: int | None = None,
    biz_date: str | None = None,
    start_biz_date: str | None = None,
    end_biz_date: str | None = None,
    node_parameters: str | None = None,
    dag_parameters: str | None = None,
    include_node_ids: str | None = None,
    exclude_node_ids: str | None = None,
    caller: Caller = Caller(),
    may_edit_code: bool = True,
) -> int:
    """RunManualDagNodes: run a manually triggered workflow for `BizDate` or for every date of
    `StartBizDate..EndBizDate`; returns the first date's `DagId`. Raises MissingParameter,
    InvalidParameter (naming the value), NotFound (Project, Flow); writes nothing then.

    `may_edit_code=False` (the caller may not edit the workflow's files) restricts
    DagParameters / NodeParameters values to the safe set; any other → InvalidParameter."""
    return start_manual_run(
        ctx,
        project_env=project_env,
        flow_name=flow_name,
        project_name=project_name,
        project_id=project_id,
        biz_date=biz_date,
        start_biz_date=start_biz_date,
        end_biz_date=end_biz_date,
        node_parameters=node_parameters,
        dag_parameters=dag_parameters,
        include_node_ids=include_node_ids,
        exclude_node_ids=exclude_node_ids,
        caller=caller,
        may_edit_code=may_edit_code,
    ).dag_id


def create_manual_dag(
    ctx: ServiceContext,
    *,
    project_env: str,
    project_name: str,
    flow_name: str,
    biz_date: str,
    node_parameters: str | None = None,
    dag_parameters: str | None = None,
    include_node_ids: str | None = None,
    exclude_node_ids: str | None = None,
    caller: Caller = Caller(),
    may_edit_code: bool = True,
) -> int:
    """CreateManualDag: RunManualDagNodes for one required `BizDate`; returns the `DagId`."""
    _required(biz_date, "BizDate")
    return run_manual_dag_nodes(
        ctx,
        project_env=project_env,
        project_name=project_name,
        flow_name=flow_name,
        biz_date=biz_date,
        node_parameters=node_parameters,
        dag_parameters=dag_parameters,
        include_node_ids=include_node_ids,
        exclude_node_ids=exclude_node_ids,
        caller=caller,
        may_edit_code=may_edit_code,
    )


def start_manual_run(
    ctx: ServiceContext, *, caller: Caller = Caller(), may_edit_code: bool = True, **kw: Any
) -> RunCreated:
    """RunManualDagNodes returning the whole run (OpSeq, every DagId); same arguments."""
    request = parse_run_request(ctx, may_edit_code=may_edit_code, **kw)
    seeds: dict[int, Seed] = {}
    with ctx.db.transaction() as session:
        created = _create(session, ctx, request, caller, seeds)
    if seeds:  # this process's engine takes the new Dags' rows from here, once committed
        ctx.db.after_commit(lambda: offer_seeds(ctx.db, seeds))
    ctx.db.after_commit(ctx.notify)  # inside an API request's transaction: once it commits
    return created


# -- planning inside the transaction ----------------------------------------------------------


# Built once, run through the driver (store/prepared.py): every run asks it. The columns are
# integers and strings (no type processing); a row comes back with the mapped attribute names.
_WORKFLOW = Prepared(
    sa.select(Workflow.__table__).where(
        Workflow.__table__.c.workspace_id == sa.bindparam("workspace_id"),
        Workflow.__table__.c.name == sa.bindparam("name"),
        Workflow.__table__.c.deleted_at.is_(None),
    )
)
_WorkflowRow = row_type(Workflow.__table__)


def _flow(session: Session, ws: Workspace, env: Env, flow_name: str) -> tuple[Workflow, CachedFlow]:
    # On the session's connection: nothing of a run is pending in the ORM to flush first, and
    # the ORM's execution path costs more than the statement (the same below).
    conn = session.connection()
    found = _WORKFLOW.rows(conn, {"workspace_id": ws.id, "name": flow_name})
    if not found:
        raise NotFound(
            "Flow", f"The workflow FlowName={flow_name!r} does not exist in {ws.identifier!r}."
        )
    wf = cast(Workflow, _WorkflowRow(*found[0]))
    if wf.use_type != UseType.MANUAL_BIZ.value:
        raise InvalidParameter(
            f"FlowName={flow_name!r} is not a manually triggered workflow (UseType "
            f"{wf.use_type}); only MANUAL_BIZ workflows can be run."
        )
    # The deployed form, from this process's cache while the store's fingerprint of it holds
    # (service/flow_cache.py): a deploy, by any process, is seen by the next call.
    flow = cached_flow(session, wf.id, env.value)
    if not flow.has_files or flow.missing:
        missing = flow.missing
        what = f"file(s) {', '.join(missing)} have" if missing else "it has no files, so it has"
        raise InvalidParameter(
            f"FlowName={flow_name!r} is not deployed in {env.value}: {what} no version there "
            f"({'deploy' if env is Env.PROD else 'submit'} them first)."
        )
    return wf, flow


def _dry_run_offline(
    env: Env,
    graph: FlowGraph,
    offline: frozenset[int],
    types: dict[int, TaskType],
    include: list[int] | None,
) -> None:
    """A node taken offline in `env` (OfflineNode) runs as a dry run (SKIP); naming it in
    IncludeNodeIds is refused. `offline` comes with the cached flow: the flow cache's
    fingerprint covers the releases' offline times, so it is as fresh as a query."""
    for node_id in sorted(offline & set(graph.nodes)):
        if include is not None and node_id in include:
            raise InvalidParameter(
                f"IncludeNodeIds: node {node_id} ({graph.nodes[node_id].name!r}) is offline in "
                f"{env.value}; {'deploy' if env is Env.PROD else 'submit'} it again to run it."
            )
        if types[node_id] is TaskType.MANUAL:
            types[node_id] = TaskType.SKIP


def _node_overrides(request: RunRequest, graph: FlowGraph, flow: str) -> dict[int, ParamString]:
    overrides: dict[int, ParamString] = {}
    for key, text in request.node_parameters.items():
        node_id = int(key) if key.strip().isdigit() else None
        if node_id is None or node_id not in graph.nodes:
            raise InvalidParameter(
                f"NodeParameters: node id {key!r} is not a node of workflow {flow!r} in "
                f"{request.project_env}."
            )
        overrides[node_id] = validate_params(text)
    return overrides


def _merged_params(request: RunRequest, wf: Workflow, graph: FlowGraph) -> dict[int, ParamString]:
    workflow_params: dict[str, str] = dict(parse_params(wf.parameters or "").named)
    workflow_params.update(request.dag_parameters)
    overrides = _node_overrides(request, graph, wf.name)
    # Nodes that declare the same string share one parsed (immutable) ParamString, and with it
    # what is memoised on it (compiled values; whether it uses ids): most nodes of a workflow
    # declare the same few strings, often none.
    parsed: dict[str, ParamString] = {}
    merged: dict[int, ParamString] = {}
    for node_id, node in graph.nodes.items():
        text = node.para_value or ""
        deployed = parsed.get(text)
        if deployed is None:
            deployed = parsed[text] = parse_params(text)
        merged[node_id] = merge_params(deployed, overrides.get(node_id), workflow_params)
    return merged


_INSERT_RUN = sa.insert(Run.__table__).returning(Run.__table__.c.id)
_INSERT_DAG = sa.insert(Dag.__table__)


@dataclass(frozen=True)
class RunPlan:
    """What a run will write, decided inside its transaction: the workspace, environment and
    workflow, the deployed graph, every node's TaskType and merged parameter string."""

    ws: Workspace
    env: Env
    wf: Workflow
    graph: FlowGraph
    types: dict[int, TaskType]
    params: dict[int, ParamString]


def plan_run(session: Session, request: RunRequest) -> RunPlan:
    """Check `request` against the store and decide every node's TaskType and parameters
    (raises the errors RunManualDagNodes answers; writes nothing). The run and its preview
    (service/preview.py) both plan with this."""
    # Read only: the Core row, not the ORM object (see `workspace_row`).
    ws = workspace_row(session, project_id=request.project_id, project_name=request.project_name)
    env = require_env(ws, request.project_env)
    wf, flow = _flow(session, ws, env, request.flow_name)
    graph = flow.graph
    types = select_task_types(
        graph.nodes, include=request.include, exclude=request.exclude, flow_name=wf.name
    )
    _dry_run_offline(env, graph, flow.offline, types, request.include)
    return RunPlan(ws, env, wf, graph, types, _merged_params(request, wf, graph))


def instance_params(
    params: ParamString,
    day: dt.date,
    node_id: int,
    dag_id: int | None = None,
    instance_id: int | None = None,
) -> ResolvedParams:
    """One instance's resolved parameters for business date `day` (what the run stores, and
    what the preview shows: without ids yet, `$jobid` / `$taskid` stay as written)."""
    context = EvalContext(
        bizdate=day,
        cyctime=cyctime_of(day),
        node_id=node_id,
        dag_id=dag_id,
        instance_id=instance_id,
    )
    return resolve_params(params, context)


def _create(
    session: Session,
    ctx: ServiceContext,
    request: RunRequest,
    caller: Caller,
    seeds: dict[int, Seed] | None = None,
) -> RunCreated:
    """Write the run. `seeds`, when given, receives the rows of its Dags for this process's
    engine (engine/view.py `Seed`), if one drives the store."""
    plan = plan_run(session, request)
    now = ctx.clock()
    values = {
        "workspace_id": plan.ws.id,
        "workflow_id": plan.wf.id,
        "env": plan.env.value,
        "dag_parameters": request.raw["dag_parameters"],
        "node_parameters": request.raw["node_parameters"],
        "include_node_ids": request.raw["include"],
        "exclude_node_ids": request.raw["exclude"],
        "create_user": caller.name,
        "created_at": now,
    }
    # Core with RETURNING, like the bulk inserts below: an ORM object and a flush cost more.
    run_id = int(session.connection().execute(_INSERT_RUN, values).scalar_one())
    writer = _RunWriter(session, ctx, plan.ws, plan.wf, plan.env, run_id, caller.name, now)
    keep = seeds if seeds is not None and wants_seeds(ctx.db) else None
    dag_ids = writer.write(request.dates, plan.graph, plan.types, plan.params, keep)
    return RunCreated(run_id, tuple(dag_ids), tuple(request.dates))


class _RunWriter:
    """Builds every row of a run in memory (ids allocated up front), then bulk-inserts."""

    def __init__(
        self,
        session: Session,
        ctx: ServiceContext,
        ws: Workspace,
        wf: Workflow,
        env: Env,
        run_id: int,
        user: str,
        now: int,
    ) -> None:
        self.session, self.ws, self.wf, self.env = session, ws, wf, env
        self.run_id, self.user, self.now = run_id, user, now
        self.tz = ctx.settings.tz
        self._days: dict[dt.date, int] = {}

    def _day_ms(self, day: dt.date) -> int:
        """`day_start_ms`, once per date of the run (not twice per instance)."""
        if day not in self._days:
            self._days[day] = day_start_ms(day, self.tz)
        return self._days[day]

    def write(
        self,
        dates: list[dt.date],
        graph: FlowGraph,
        types: Mapping[int, TaskType],
        params: Mapping[int, ParamString],
        seeds: dict[int, Seed] | None = None,
    ) -> list[int]:
        """Every row of the run, built as plain tuples and written with one executemany per
        table: the per-row work SQLAlchemy does for a list of dicts (building each row's
        parameters) cost about as much as SQLite's inserts themselves. With `seeds`, each
        Dag's instances and edges as the engine's view reads them too, up to the engine's
        bound (`SEED_INSTANCES_MAX`)."""
        nodes = [graph.nodes[n] for n in sorted(graph.nodes)]
        dag_ids = _allocate_ids(self.session, "dag", len(dates))
        instance_ids = _allocate_ids(self.session, "instance", len(dates) * len(nodes))
        # What every instance of a node shares, whatever its date: computed once per node.
        fixed = [self._fixed(node, types[node.node_id]) for node in nodes]
        position = {node.node_id: k for k, node in enumerate(nodes)}
        parent_pairs = [
            (position[p], k)
            for k, node in enumerate(nodes)
            for p in graph.parents.get(node.node_id, ())
        ]
        ws_id, wf_id, env, now, user = self.ws.id, self.wf.id, self.env.value, self.now, self.user
        # An instance as the engine's view reads it (engine/view.py `_INSTANCES`): id, status,
        # task type, file type, suspended, attempt, retry_at, priority, stopped_by.
        seeded = [(f[5], f[4], f[3], f[6], f[7], None, f[12], None) for f in fixed]
        seed_room = SEED_INSTANCES_MAX if seeds is not None else 0
        dags: list[dict[str, Any]] = []
        instances: list[tuple[Any, ...]] = []
        edges: list[tuple[int, int, int]] = []
        for seq, (day, dag_id) in enumerate(zip(dates, dag_ids, strict=True)):
            dags.append(self._dag_row(dag_id, seq, day))
            ids = instance_ids[seq * len(nodes) : (seq + 1) * len(nodes)]
            bizdate_ms = self._day_ms(day)
            cyctime_ms = self._day_ms(day + dt.timedelta(days=1))
            per_date = (bizdate_ms, cyctime_ms, now, now, user)
            resolved: dict[ParamString, tuple[str, str]] = {}  # strings without ids, this date
            for k, node in enumerate(nodes):
                node_params = params[node.node_id]
                if uses_ids(node_params):
                    values = _resolved(node_params, day, node.node_id, dag_id, ids[k])
                else:
                    values = resolved.get(node_params)
                    if values is None:
                        values = resolved[node_params] = _resolved(node_params, day, node.node_id)
                row = (ids[k], dag_id, ws_id, wf_id, env, *fixed[k], *values, *per_date)
                instances.append(row)
            edges.extend((dag_id, ids[p], ids[c]) for p, c in parent_pairs)
            if seeds is not None and seed_room >= len(nodes):
                seed_room -= len(nodes)
                seeds[dag_id] = Seed(
                    [(iid, *s) for iid, s in zip(ids, seeded, strict=True)],
                    [(ids[p], ids[c]) for p, c in parent_pairs],
                    self.run_id,
                )
        self.session.connection().execute(_INSERT_DAG, dags)
        conn = self.session.connection()
        _insert_rows(conn, Instance.__tablename__, _INSTANCE_COLUMNS, instances)
        _insert_rows(conn, InstanceEdge.__tablename__, _EDGE_COLUMNS, edges)
        return dag_ids

    def _dag_row(self, dag_id: int, seq: int, day: dt.date) -> dict[str, Any]:
        return {
            "id": dag_id,
            "run_id": self.run_id,
            "seq": seq,
            "workspace_id": self.ws.id,
            "workflow_id": self.wf.id,
            "env": self.env.value,
            "name": self.wf.name,
            "type": DAG_TYPE,
            "status": DagStatus.CREATED.value,
            "biz_date": day,
            "bizdate_ms": self._day_ms(day),
            "gmtdate_ms": self._day_ms(day + dt.timedelta(days=1)),
            "start_time": None,
            "finish_time": None,
            "create_user": self.user,
            "created_at": self.now,
            "modified_at": self.now,
            "revision": 0,
        }

    @staticmethod
    def _fixed(node: DeployedNode, task_type: TaskType) -> tuple[Any, ...]:
        """The columns of `_INSTANCE_COLUMNS` from `node_id` to `error_message`, in order."""
        return (
            node.node_id,
            node.version_id,
            node.name,
            node.file_type,
            task_type.value,
            InstanceStatus.NOT_RUN.value,
            False,  # suspended
            0,  # attempt
            max(0, node.auto_rerun_times),
            max(0, node.auto_rerun_interval_millis),
            timeout_seconds(node.timeout_hours),
            node.rerun_mode or "ALL_ALLOWED",
            node.priority,
            node.owner,
            "",  # error_message
        )


def _resolved(
    params: ParamString,
    day: dt.date,
    node_id: int,
    dag_id: int | None = None,
    instance_id: int | None = None,
) -> tuple[str, str]:
    """An instance's `param_values` and `resolved_params` columns."""
    resolved = instance_params(params, day, node_id, dag_id, instance_id)
    return resolved.to_param_values(), encode_resolved(resolved)


# The instance columns a run writes, in the order `_RunWriter.write` builds each row; the ones
# left out start NULL (retry_at, stopped_by, the four time stamps, the process record).
_INSTANCE_COLUMNS = (
    "id",
    "dag_id",
    "workspace_id",
    "workflow_id",
    "env",
    # _RunWriter._fixed
    "node_id",
    "version_id",
    "node_name",
    "file_type",
    "task_type",
    "status",
    "suspended",
    "attempt",
    "auto_rerun_left",
    "auto_rerun_interval_millis",
    "timeout_seconds",
    "rerun_mode",
    "priority",
    "owner",
    "error_message",
    # _resolved
    "param_values",
    "resolved_params",
    # the date's, the run's
    "bizdate_ms",
    "cyctime_ms",
    "created_at",
    "modified_at",
    "create_user",
)
_EDGE_COLUMNS = ("dag_id", "parent_id", "child_id")


def _insert_rows(
    conn: sa.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """One plain positional INSERT through the driver's executemany (`?` for sqlite3, `%s` for
    psycopg): the rows go to the driver as tuples, without SQLAlchemy's per-row processing."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * len(columns))
    executemany(conn, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


# Built once per table (a run allocates dag and instance ids on every call).
_SQLITE_TOP = {
    table: Prepared(
        sa.text(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), "
            f"coalesce((SELECT max(id) FROM {table}), 0))"
        )
    )
    for table in ("dag", "instance")
}
_PG_NEXTVAL = Prepared(
    sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
)


def _allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """Reserve `count` new ids of `table` inside the current write transaction, so rows that
    refer to each other ($jobid, $taskid, edges) can be built before one bulk insert. Ids are
    never reused: SQLite's AUTOINCREMENT sequence follows the explicit ids inserted (the write
    lock of BEGIN IMMEDIATE is held), PostgreSQL's sequence hands them out."""
    if count == 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        ((top,),) = _SQLITE_TOP[table].rows(conn, {})
        start = int(top or 0) + 1
        return list(range(start, start + count))
    rows = _PG_NEXTVAL.rows(conn, {"t": table, "n": count})
    return sorted(int(r) for (r,) in rows)


# -- queries --------------------------------------------------------------------------------------


_D = Dag.__table__.c
# What GetDag / ListDags answer, in DagView's order (`_dag_view`): what a waiting client polls,
# so run through the driver (store/prepared.py) and built without a Row in between.
_VIEW_COLUMNS = (
    _D.id, _D.name, _D.type, _D.status, _D.bizdate_ms, _D.gmtdate_ms, _D.start_time,
    _D.finish_time, _D.created_at, _D.modified_at, _D.create_user, _D.run_id, _D.workspace_id,
    _D.biz_date, _D.seq, _D.workflow_id, _D.env,
)  # fmt: skip
_DAG_BY_ID = Prepared(sa.select(*_VIEW_COLUMNS).where(_D.id == sa.bindparam("dag_id")))


def _dag_view(row: tuple[Any, ...]) -> DagView:
    """A DagView from a row of `_VIEW_COLUMNS` (the driver's values: the Date column is text
    on SQLite, a date on PostgreSQL)."""
    biz_date = row[13]
    if not isinstance(biz_date, dt.date):
        biz_date = dt.date.fromisoformat(biz_date)
    return DagView(
        dag_id=row[0], name=row[1], type=row[2], status=DagStatus(row[3]), bizdate=row[4],
        gmtdate=row[5], start_time=row[6], finish_time=row[7], create_time=row[8],
        modify_time=row[9], create_user=row[10], op_seq=row[11], project_id=row[12],
        biz_date=biz_date, seq=row[14], workflow_id=row[15], env=row[16],
    )  # fmt: skip


def get_dag(ctx: ServiceContext, *, dag_id: int, project_env: str) -> DagView:
    """GetDag. An unknown DagId (or one of the other environment) → NotFound("Dag")."""
    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        rows = _DAG_BY_ID.rows(session.connection(), {"dag_id": dag_id})
    if not rows or rows[0][16] != env:
        raise not_found("DagId", dag_id, env)
    return _dag_view(rows[0])


_DAGS_OF_RUN = Prepared(
    sa.select(*_VIEW_COLUMNS)
    .where(_D.run_id == sa.bindparam("run_id"), _D.env == sa.bindparam("env"))
    .order_by(_D.seq)
)


def list_dags(ctx: ServiceContext, *, op_seq: int, project_env: str) -> list[DagView]:
    """ListDags: the Dags of one run (`OpSeq`), in date order; none → NotFound("Dag")."""
    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        rows = _DAGS_OF_RUN.rows(session.connection(), {"run_id": op_seq, "env": env})
    if not rows:
        raise not_found("OpSeq", op_seq, env)
    return [_dag_view(row) for row in rows]


def find_dags(
    ctx: ServiceContext,
    *,
    project_env: str,
    project_identifier: str | None = None,
    op_seq: int | None = None,
    workflow: str | None = None,
    biz_date: dt.date | None = None,
    begin_biz_date: dt.date | None = None,
    end_biz_date: dt.date | None = None,
    status: str | None = None,
    create_user: str | None = None,
    page_number: int = 1,
    page_size: int = 20,
) -> Page[DagView]:
    """The Dags of a workspace environment (or of one run, `op_seq`), filtered by workflow
    name, business date or range (both ends inclusive), status and operator (`create_user`, the
    run's CreateUser): newest run first, each run's
    Dags in date order. ListDags finds the Dags of one run only; this finds them without it.
    Either `project_identifier` or `op_seq` is required."""
    env = _env(project_env)
    offset, limit = check_paging(page_number, page_size)
    if status is not None and status not in DagStatus.__members__:
        raise InvalidParameter(f"Status={status!r} is not a Dag status.")
    if project_identifier is None and op_seq is None:
        raise MissingParameter("ProjectIdentifier")
    with ctx.db.transaction(readonly=True) as session:
        where: list[Any] = [Dag.env == env]
        if project_identifier is not None:
            ws = resolve_workspace(session, project_identifier=project_identifier)
            where.append(Dag.workspace_id == ws.id)
            if workflow:
                where.append(
                    Dag.workflow_id.in_(
                        sa.select(Workflow.id).where(
                            Workflow.workspace_id == ws.id, Workflow.name == workflow
                        )
                    )
                )
        elif workflow:
            where.append(Dag.name == workflow)
        if op_seq is not None:
            where.append(Dag.run_id == op_seq)
        if biz_date is not None:
            where.append(Dag.biz_date == biz_date)
        if begin_biz_date is not None:
            where.append(Dag.biz_date >= begin_biz_date)
        if end_biz_date is not None:
            where.append(Dag.biz_date <= end_biz_date)
        if status is not None:
            where.append(Dag.status == status)
        if create_user:
            where.append(Dag.create_user == create_user)
        query = sa.select(Dag).where(*where)
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Dag.run_id.desc(), Dag.seq).offset(offset).limit(limit)
        ).all()
        from opcenter.service.views import Page

        return Page(tuple(dag_view(d) for d in rows), page_number, page_size, total)
