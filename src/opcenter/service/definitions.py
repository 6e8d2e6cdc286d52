"""Definition files: apply workflows in the DataWorks Spec form, and export one back.

A document may be any version of the Spec and hold several workflows (`flowspec.read_specs`:
CycleWorkflow with `as_manual`, node types mapped with `type_map`, unmapped ones virtual unless
`strict`); the report's `notes` say what reading mapped, turned virtual or dropped, and `more`
holds the reports of the document's workflows after the first. `apply_definition` makes the
workspace hold what the file describes, through the authoring
operations a developer would call by hand (CreateBusiness/UpdateBusiness, CreateFile/UpdateFile,
SubmitFile, DeployFile), touching only what differs. Applying the same file twice therefore
changes nothing: no new version, no new deployment. Each node becomes one file:

    FileName        the node's name
    FileFolderPath  Business Flow/<workflow>/<kind>   (kind: Shell, Python, SQL, Virtual, ...)
    FileType        the code of the node's command (DIDE_SHELL 6, PYTHON 1322, ODPS_SQL 10, ...)
    ParaValue       the script parameters (flowspec.para_value_from_parameters)
    OutputList      the node's declared outputs, else `<workspace identifier>.<node name>`
    InputList       the outputs of the nodes it depends on, else `<identifier>_root`

Everything that can be checked before writing is checked first (the document, a cycle, an
unsupported node type, field forms and parameter expressions, a name taken by a file of another
workflow), so a rejected definition changes nothing. Files of the workflow that the definition
does not name are left as they are and listed in the report.

`export_definition` writes a workflow back in the same form; applying the export changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from opcenter.domain import flowspec
from opcenter.domain.flowspec import ImportNote, NodeDefinition, WorkflowDefinition
from opcenter.domain.model import RUNNABLE_FILE_TYPES, Env, FileType, UseType
from opcenter.domain.params import (
    EvalContext,
    merge_params,
    parse_params,
    render_code,
    resolve_params,
)
from opcenter.errors import InvalidParameter, NotFound
from opcenter.service import _fields as fields
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.deployments import deploy_file, submit_file
from opcenter.service.files import (
    MAX_AUTO_RERUN_INTERVAL_MILLIS,
    MAX_AUTO_RERUN_TIMES,
    MAX_TIMEOUT_HOURS,
    create_file,
    list_files,
    update_file,
)
from opcenter.service.flows import deployed_flow, root_output
from opcenter.service.lookup import require_env, resolve_workflow, resolve_workspace
from opcenter.service.views import BusinessView, FileView, ProjectView
from opcenter.service.workflows import create_business, get_business, update_business
from opcenter.service.workspaces import get_project
from opcenter.store.tables import FileVersion, NodeRelease

__all__ = [
    "WHAT_A_DEFINITION_HOLDS",
    "ApplyReport",
    "FileOutcome",
    "apply_definition",
    "export_definition",
    "load_document",
    "undeclared_names",
]

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
# The third segment of FileFolderPath, by FileType (the folders DataStudio shows).
_KIND_FOLDERS = {6: "Shell", 2: "Shell", 1322: "Python", 10: "SQL", 99: "Virtual"}
_PAGE = 100


@dataclass(frozen=True)
class FileOutcome:
    """What applying did to one node's file.

    `action` is created / updated / unchanged (the draft); `submitted` says a new version was
    committed, `deployed` that DeployFile released a version to PROD."""

    node: str
    file_id: int
    action: str
    submitted: bool = False
    deployed: bool = False
    node_id: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class ApplyReport:
    """What `apply_definition` did; `changed` is False when the workspace already matched.

    `undeclared` maps a node to the `${name}`s its parameters or code use that neither it nor
    the workflow declares (see `undeclared_names`)."""

    workspace: str
    workflow: str
    business_id: int
    workflow_action: str
    files: tuple[FileOutcome, ...]
    not_in_definition: tuple[str, ...] = field(default=())
    undeclared: dict[str, list[str]] = field(default_factory=dict)
    notes: tuple[ImportNote, ...] = field(default=())
    more: tuple[ApplyReport, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return (
            self.workflow_action != UNCHANGED
            or any(f.action != UNCHANGED or f.submitted or f.deployed for f in self.files)
            or any(other.changed for other in self.more)
        )

    @property
    def reports(self) -> tuple[ApplyReport, ...]:
        """This workflow's report, then those of the document's other workflows."""
        return (self, *self.more)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: `notes` of every workflow of the document are in the
        first one's; `more` holds the reports of the other workflows, in document order."""
        data = {k: v for k, v in asdict(self).items() if k != "more"}
        data["more"] = [other.as_dict() for other in self.more]
        return {**data, "changed": self.changed}


# ---------------------------------------------------------------------------------------------
# Loading


def load_document(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The parsed document: a mapping as given, or a JSON / YAML file read from a path.

    A file named `*.json` is read as JSON, anything else as YAML (which also reads most JSON).
    An unreadable or unparsable file → InvalidParameter naming the path and the problem.
    """
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"Cannot read definition file {str(path)!r}: {exc}") from None
    try:
        as_json = path.suffix.lower() == ".json"
        document = json.loads(text) if as_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise InvalidParameter(
            f"Definition file {str(path)!r} is not valid {_format_of(path)}: {detail}"
        ) from None
    if document is None:
        raise InvalidParameter(
            f"Definition file {str(path)!r} is empty: {WHAT_A_DEFINITION_HOLDS}."
        )
    if not isinstance(document, Mapping):
        raise InvalidParameter(
            f"Definition file {str(path)!r} holds a {_kind_of_value(document)}, not a "
            f"definition: {WHAT_A_DEFINITION_HOLDS}."
        )
    return document


# What a file must hold, said where a file holds none (empty, a list, no `kind`).
WHAT_A_DEFINITION_HOLDS = (
    "a definition file holds workflows in DataWorks Spec form: `kind: ManualWorkflow` (or "
    "`CycleWorkflow`, imported with --as-manual) and the workflows' `nodes`, under `spec` or at "
    "the top level (see docs/definitions.md; `opcenter export` writes one from an existing "
    "workflow)"
)


def _kind_of_value(value: Any) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _format_of(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


# ---------------------------------------------------------------------------------------------
# Applying


@dataclass(frozen=True)
class _Desired:
    """The draft fields one node asks for, as CreateFile/UpdateFile take them."""

    node: NodeDefinition
    folder: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]


def apply_definition(
    ctx: ServiceContext,
    *,
    path_or_document: str | Path | Mapping[str, Any],
    workspace: str,
    deploy: bool = False,
    caller: Caller = Caller(),
    name: str | None = None,
    as_manual: bool = False,
    type_map: Mapping[str, str] | None = None,
    strict: bool = False,
) -> ApplyReport:
    """Create or update the workflows and their files from a definition, submit, and deploy.

    `workspace` is the workspace identifier. Only what differs is written: unchanged drafts
    are not updated, unchanged files are not submitted again, and with `deploy` only files whose
    latest version PROD does not run yet are deployed. `name` names a workflow the document
    leaves unnamed (default: the file's stem); `as_manual`, `type_map` and `strict` are those of
    `flowspec.read_specs`. The report is that of the document's first workflow, the others in
    `more`; `notes` says what reading mapped, turned virtual or dropped. Raises
    InvalidParameter / MissingParameter for a bad definition, `Invalid.Project.NotExists` for
    an unknown workspace, `Invalid.File.Duplicate` when a node's name is a file of another
    workflow.
    """
    if name is None and isinstance(path_or_document, str | Path):
        name = Path(path_or_document).stem
    found = flowspec.read_specs(
        load_document(path_or_document),
        name=name or "",
        as_manual=as_manual,
        type_map=type_map,
        strict=strict,
    )
    project = get_project(ctx, project_identifier=workspace, caller=caller)
    identifier = project.project_identifier
    _check_document(found.workflows)
    checked = []
    for definition in found.workflows:  # every check before any write
        order = definition.topological_order()
        _preflight(definition)
        wf_view = _find_workflow(ctx, identifier, definition.name, caller)
        existing = _check_file_names(ctx, project, definition, wf_view, caller)
        checked.append((definition, order, wf_view, existing))
    reports = [
        _apply_one(ctx, project, definition, order, wf_view, existing, deploy, caller)
        for definition, order, wf_view, existing in checked
    ]
    first = reports[0]
    return ApplyReport(
        **{k: getattr(first, k) for k in ("workspace", "workflow", "business_id")},
        workflow_action=first.workflow_action,
        files=first.files,
        not_in_definition=first.not_in_definition,
        undeclared=first.undeclared,
        notes=tuple(found.notes),
        more=tuple(reports[1:]),
    )


def _check_document(workflows: list[WorkflowDefinition]) -> None:
    """Names unique across the document: each workflow once, each node (file) once."""
    seen: dict[str, str] = {}
    names: set[str] = set()
    for definition in workflows:
        if definition.name in names:
            raise InvalidParameter(
                f"Invalid parameter spec.workflows: workflow {definition.name!r} is declared twice"
            )
        names.add(definition.name)
        for node in definition.nodes:
            if node.name in seen:
                raise InvalidParameter(
                    f'Node "{node.name}": it is a node of workflows {seen[node.name]!r} and '
                    f"{definition.name!r}; a file name is unique in a workspace"
                )
            seen[node.name] = definition.name


def _apply_one(
    ctx: ServiceContext,
    project: ProjectView,
    definition: WorkflowDefinition,
    order: list[NodeDefinition],
    wf_view: BusinessView | None,
    existing: dict[str, FileView],
    deploy: bool,
    caller: Caller,
) -> ApplyReport:
    identifier = project.project_identifier
    desired = _desired(definition, identifier)
    workflow, wf_action = _apply_workflow(ctx, identifier, definition, wf_view, caller)
    drafts: dict[str, tuple[FileView, str]] = {}
    # Drafts in document order (an export lists them so); inputs are checked only at submit.
    for node in definition.nodes:
        drafts[node.name] = _apply_file(
            ctx, identifier, desired[node.name], existing.get(node.name), caller
        )
    outcomes = _submit_and_deploy(ctx, project, workflow, order, drafts, deploy, caller)
    others = _files_of(ctx, identifier, workflow.business_id, caller)
    names = {n.name for n in definition.nodes}
    return ApplyReport(
        workspace=identifier,
        workflow=workflow.business_name,
        business_id=workflow.business_id,
        workflow_action=wf_action,
        files=tuple(outcomes[n.name] for n in definition.nodes),
        not_in_definition=tuple(f.file_name for f in others if f.file_name not in names),
        undeclared=undeclared_names(definition),
    )


def undeclared_names(definition: WorkflowDefinition) -> dict[str, list[str]]:
    """For each node, the `${name}`s in its parameter values or its code that neither the node
    nor the workflow declares, in order of appearance.

    They are found as a run finds them (the node's parameters merged with the workflow's, then
    evaluated for yesterday and pasted into the code): at run time each stays as written and
    the instance log warns about it, unless the run passes it as a workflow parameter
    (DagParameters). `${N}` for an existing positional parameter and the `bdp.system.*` names
    are not reported."""
    workflow = dict(definition.parameters)
    when = EvalContext(dt.date.today() - dt.timedelta(days=1))
    found: dict[str, list[str]] = {}
    for node in definition.nodes:
        try:
            resolved = resolve_params(
                merge_params(parse_params(node.para_value), None, workflow), when
            )
        except InvalidParameter:  # refused earlier with its own message; nothing to add here
            continue
        rendered = render_code(node.content or "", resolved)
        names = list(dict.fromkeys([*resolved.undefined, *rendered.undefined]))
        if names:
            found[node.name] = names
    return found


def _preflight(definition: WorkflowDefinition) -> None:
    """The checks CreateFile/SubmitFile would make one file at a time, made before any write."""
    fields.check_name(definition.name, "BusinessName")
    # Also runs validate_workflow_params on the same names and values.
    fields.check_workflow_parameters(flowspec.workflow_parameter_string(definition.parameters))
    for node in definition.nodes:
        try:
            _check_node(node)
        except InvalidParameter as exc:
            raise InvalidParameter(f'Node "{node.name}": {exc.message}') from None


def _check_node(node: NodeDefinition) -> None:
    fields.check_name(node.name, "FileName")
    if node.file_type not in RUNNABLE_FILE_TYPES:
        supported = ", ".join(f"{t.name} ({int(t)})" for t in sorted(FileType))
        command = flowspec.command_name(node.file_type) or node.file_type
        raise InvalidParameter(
            f"command {command} (FileType={node.file_type}) is not supported for running; "
            f"supported: {supported}."
        )
    fields.check_para_value(node.para_value)  # parses and validates every expression
    fields.name_list(node.outputs, "OutputList")
    fields.check_range(node.auto_rerun_times, 0, MAX_AUTO_RERUN_TIMES, "rerunTimes")
    fields.check_range(
        node.auto_rerun_interval_millis, 0, MAX_AUTO_RERUN_INTERVAL_MILLIS, "rerunInterval"
    )
    fields.check_range(node.timeout, 0, MAX_TIMEOUT_HOURS, "timeout (hours)")


def _find_workflow(
    ctx: ServiceContext, identifier: str, name: str, caller: Caller
) -> BusinessView | None:
    try:
        found = get_business(ctx, business_name=name, project_identifier=identifier, caller=caller)
    except NotFound as exc:
        if exc.kind != "Business":
            raise
        return None
    if found.use_type is not UseType.MANUAL_BIZ:
        raise InvalidParameter(
            f"BusinessName={name!r} is a workflow with UseType={found.use_type.value}; a "
            "ManualWorkflow definition describes a MANUAL_BIZ workflow."
        )
    return found


def _files_of(
    ctx: ServiceContext, identifier: str, business_id: int | None, caller: Caller
) -> Iterator[FileView]:
    """Every live file of the workspace (of one workflow when `business_id` is given)."""
    page = 1
    while True:
        batch = list_files(
            ctx,
            project_identifier=identifier,
            business_id=business_id,
            page_number=page,
            page_size=_PAGE,
            caller=caller,
        )
        yield from batch.items
        if page * _PAGE >= batch.total_count:
            return
        page += 1


def _check_file_names(
    ctx: ServiceContext,
    project: ProjectView,
    definition: WorkflowDefinition,
    workflow: BusinessView | None,
    caller: Caller,
) -> dict[str, FileView]:
    """The files that already carry the nodes' names; refuses those of another workflow and
    a change of type (UpdateFile cannot change a FileType)."""
    wanted = {n.name: n for n in definition.nodes}
    found: dict[str, FileView] = {}
    for file in _files_of(ctx, project.project_identifier, None, caller):
        node = wanted.get(file.file_name)
        if node is None:
            continue
        if workflow is None or file.business_id != workflow.business_id:
            raise InvalidParameter(
                f'Node "{node.name}": FileName={node.name!r} is already a file of another '
                f"workflow of workspace {project.project_identifier!r} "
                f"(FileFolderPath={file.file_folder_path!r}); rename the node or move the file."
            )
        if file.file_type != node.file_type:
            raise InvalidParameter(
                f'Node "{node.name}": the file has FileType={file.file_type} and the definition '
                f"asks for {node.file_type}; a file's type cannot change: delete the file "
                "or rename the node."
            )
        found[file.file_name] = file
    return found


def _desired(definition: WorkflowDefinition, identifier: str) -> dict[str, _Desired]:
    outputs = {n.local_id: n.outputs or (f"{identifier}.{n.name}",) for n in definition.nodes}
    desired: dict[str, _Desired] = {}
    for node in definition.nodes:
        inputs = tuple(o for up in node.depends for o in outputs[up])
        kind = _KIND_FOLDERS.get(node.file_type) or flowspec.command_name(node.file_type) or "Other"
        desired[node.name] = _Desired(
            node=node,
            folder=f"{fields.FOLDER_ROOTS[0]}/{definition.name}/{kind}",
            outputs=outputs[node.local_id],
            inputs=inputs or (root_output(identifier),),
        )
    return desired


def _apply_workflow(
    ctx: ServiceContext,
    identifier: str,
    definition: WorkflowDefinition,
    current: BusinessView | None,
    caller: Caller,
) -> tuple[BusinessView, str]:
    parameters = flowspec.workflow_parameter_string(definition.parameters)
    if current is None:
        created = create_business(
            ctx,
            business_name=definition.name,
            use_type=UseType.MANUAL_BIZ,
            description=definition.description,
            owner=definition.owner or None,
            parameters=parameters,
            project_identifier=identifier,
            caller=caller,
        )
        return created, CREATED
    changes: dict[str, Any] = {}
    if current.description != definition.description:
        changes["description"] = definition.description
    if definition.owner and current.owner != definition.owner:
        changes["owner"] = definition.owner
    if parse_params(current.parameters) != parse_params(parameters):
        changes["parameters"] = parameters
    if not changes:
        return current, UNCHANGED
    updated = update_business(
        ctx,
        business_id=current.business_id,
        project_identifier=identifier,
        caller=caller,
        **changes,
    )
    return updated, UPDATED


def _file_changes(file: FileView, want: _Desired) -> dict[str, Any]:
    """UpdateFile arguments for what differs between a draft and what the node asks for."""
    node = want.node
    changes: dict[str, Any] = {}
    wanted = {
        "content": (file.content, node.content),
        "para_value": (file.para_value, node.para_value),
        "output_list": (file.output_list, want.outputs),
        "input_list": (file.input_list, want.inputs),
        "rerun_mode": (file.rerun_mode, node.rerun_mode),
        "auto_rerun_times": (file.auto_rerun_times, node.auto_rerun_times),
        "auto_rerun_interval_millis": (
            file.auto_rerun_interval_millis,
            node.auto_rerun_interval_millis,
        ),
        "timeout": (file.timeout, node.timeout),
        "file_description": (file.file_description, node.description),
        "resource_group": (file.resource_group or None, node.resource_group),
    }
    for name, (have, want_value) in wanted.items():
        if have != want_value:
            changes[name] = want_value
    if "resource_group" in changes:
        changes["resource_group"] = node.resource_group or ""  # "": the group is cleared
    if node.owner and file.owner != node.owner:
        changes["owner"] = node.owner
    return changes


def _apply_file(
    ctx: ServiceContext,
    identifier: str,
    want: _Desired,
    current: FileView | None,
    caller: Caller,
) -> tuple[FileView, str]:
    node = want.node
    if current is None:
        created = create_file(
            ctx,
            file_name=node.name,
            file_folder_path=want.folder,
            file_type=node.file_type,
            content=node.content,
            para_value=node.para_value,
            output_list=want.outputs,
            input_list=want.inputs,
            rerun_mode=node.rerun_mode,
            auto_rerun_times=node.auto_rerun_times,
            auto_rerun_interval_millis=node.auto_rerun_interval_millis,
            timeout=node.timeout,
            file_description=node.description,
            owner=node.owner or None,
            resource_group=node.resource_group,
            project_identifier=identifier,
            caller=caller,
        )
        return created, CREATED
    changes = _file_changes(current, want)
    if not changes:
        return current, UNCHANGED
    updated = update_file(
        ctx, file_id=current.file_id, project_identifier=identifier, caller=caller, **changes
    )
    return updated, UPDATED


def _submit_and_deploy(
    ctx: ServiceContext,
    project: ProjectView,
    workflow: BusinessView,
    order: list[NodeDefinition],
    drafts: dict[str, tuple[FileView, str]],
    deploy: bool,
    caller: Caller,
) -> dict[str, FileOutcome]:
    """Submit drafts that differ from their latest version, then deploy what PROD lacks.

    Both go in dependency order, so each file's upstream files are already at their new
    versions when SubmitFile/DeployFile check the graph for cycles."""
    identifier = project.project_identifier
    versions: dict[str, tuple[int | None, int | None, bool]] = {}
    for node in order:
        draft, _ = drafts[node.name]
        if draft.commit_status == 1:
            versions[node.name] = (draft.node_id, draft.current_version, False)
            continue
        dep = submit_file(ctx, file_id=draft.file_id, project_identifier=identifier, caller=caller)
        versions[node.name] = (dep.node_id, dep.file_version, True)
    prod = _prod_versions(ctx, identifier, workflow.business_id) if deploy else {}
    outcomes: dict[str, FileOutcome] = {}
    for node in order:
        draft, action = drafts[node.name]
        node_id, version, submitted = versions[node.name]
        deployed = False
        if deploy and prod.get(draft.file_id) != version:
            deploy_file(ctx, file_id=draft.file_id, project_identifier=identifier, caller=caller)
            deployed = True
        outcomes[node.name] = FileOutcome(
            node=node.name,
            file_id=draft.file_id,
            action=action,
            submitted=submitted,
            deployed=deployed,
            node_id=node_id,
            version=version,
        )
    return outcomes


def _prod_versions(ctx: ServiceContext, identifier: str, business_id: int) -> dict[int, int]:
    """file id -> the version number PROD runs, for the workflow's released nodes."""
    with ctx.db.transaction() as session:
        ws = resolve_workspace(session, project_identifier=identifier)
        wf = resolve_workflow(session, ws, business_id=business_id)
        rows = session.execute(
            sa.select(NodeRelease.file_id, FileVersion.version)
            .join(FileVersion, FileVersion.id == NodeRelease.version_id)
            .where(NodeRelease.workflow_id == wf.id, NodeRelease.env == Env.PROD.value)
        ).all()
        return {file_id: version for file_id, version in rows}


# ---------------------------------------------------------------------------------------------
# Exporting


def export_definition(
    ctx: ServiceContext,
    *,
    workspace: str,
    workflow_name: str,
    env: str | Env | None = None,
    caller: Caller = Caller(),
) -> dict[str, Any]:
    """The workflow as a Spec document (`kind: ManualWorkflow`).

    `env` None exports the drafts (what `apply` writes); `DEV` or `PROD` the nodes as
    released in that environment. Node ids are the node names; outputs are written only when
    they differ from the default `<identifier>.<name>`. Applying the result changes nothing.
    """
    workflow = get_business(
        ctx, business_name=workflow_name, project_identifier=workspace, caller=caller
    )
    if env is None:
        files = list(_files_of(ctx, workspace, workflow.business_id, caller))
        rows = [_Row.of_file(f) for f in files]
    else:
        rows = _released_rows(ctx, workspace, workflow.business_id, env)
    definition = WorkflowDefinition(
        name=workflow.business_name,
        description=workflow.description,
        owner=workflow.owner,
        parameters=_workflow_parameters(workflow.parameters),
        nodes=_node_definitions(rows, workspace),
    )
    return flowspec.to_spec(definition)


@dataclass(frozen=True)
class _Row:
    """One file (draft) or released node, in the fields a definition carries."""

    name: str
    file_type: int
    content: str
    para_value: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    rerun_mode: str
    auto_rerun_times: int
    auto_rerun_interval_millis: int
    timeout: int
    owner: str
    description: str
    resource_group: str | None

    @classmethod
    def of_file(cls, f: FileView) -> _Row:
        return cls(
            name=f.file_name,
            file_type=f.file_type,
            content=f.content,
            para_value=f.para_value,
            outputs=f.output_list,
            inputs=f.input_list,
            rerun_mode=f.rerun_mode,
            auto_rerun_times=f.auto_rerun_times,
            auto_rerun_interval_millis=f.auto_rerun_interval_millis,
            timeout=f.timeout,
            owner=f.owner,
            description=f.file_description,
            resource_group=f.resource_group,
        )


def _released_rows(
    ctx: ServiceContext, identifier: str, business_id: int, env: str | Env
) -> list[_Row]:
    with ctx.db.transaction() as session:
        ws = resolve_workspace(session, project_identifier=identifier)
        which = require_env(ws, env)
        wf = resolve_workflow(session, ws, business_id=business_id)
        graph = deployed_flow(session, wf.id, which.value)
        return [
            _Row(
                name=n.name,
                file_type=n.file_type,
                content=n.content,
                para_value=n.para_value,
                outputs=n.outputs,
                inputs=n.inputs,
                rerun_mode=n.rerun_mode,
                auto_rerun_times=n.auto_rerun_times,
                auto_rerun_interval_millis=n.auto_rerun_interval_millis,
                timeout=n.timeout_hours,
                owner=n.owner,
                description=n.description,
                resource_group=n.resource_group,
            )
            for n in sorted(graph.nodes.values(), key=lambda n: n.file_id)
        ]


def _node_definitions(rows: list[_Row], identifier: str) -> list[NodeDefinition]:
    producer = {output: row.name for row in rows for output in row.outputs}
    nodes = []
    for row in rows:
        depends: list[str] = []
        for name in row.inputs:
            up = producer.get(name)
            if up is not None and up != row.name and up not in depends:
                depends.append(up)
        default = (f"{identifier}.{row.name}",)
        nodes.append(
            NodeDefinition(
                local_id=row.name,
                name=row.name,
                file_type=row.file_type,
                content=row.content,
                para_value=row.para_value,
                depends=tuple(depends),
                rerun_mode=row.rerun_mode,
                auto_rerun_times=row.auto_rerun_times,
                auto_rerun_interval_millis=row.auto_rerun_interval_millis,
                timeout=row.timeout,
                owner=row.owner,
                description=row.description,
                outputs=() if row.outputs == default else row.outputs,
                resource_group=row.resource_group or None,
            )
        )
    return nodes


def _workflow_parameters(text: str) -> dict[str, str]:
    return parse_params(text).named
