"""Workflow definitions in the open DataWorks Spec form, both ways (docs/definitions.md).

    read_specs(document, ...)  dict (parsed JSON/YAML) -> SpecImport   every workflow + notes
    read_spec(document, ...)   the document's one workflow               validates everything
    to_spec(definition)        WorkflowDefinition -> dict                read_spec(to_spec(d)) == d

Forms read: version 1.0.0 (entities at the top level), 1.1.0 and 1.2.0 (under `spec`),
`spec.workflows[]` (several workflows, each with nodes, `dependencies`/`flow`, `strategy`,
`trigger`, `inputs`/`outputs`); kind ManualWorkflow, or CycleWorkflow when asked (`as_manual`).

    version, kind, metadata{owner, description}
    spec.name / workflows[].name    else the name given (the file's stem), else refused
    spec.variables[]        scope Workflow -> workflow parameters; others may be {{ref}}'d
    spec.scripts[] / files[] / runtimeResources[]   entities a node may {{ref}}
    spec.nodes[]            id, name (default: id), owner, description, script (inline or
                            {{ref}}), rerunMode, rerunTimes, rerunInterval (ms), timeout (hours)
                            (default: the workflow's strategy), outputs / inputs.nodeOutputs[].data,
                            runtimeResource.resourceGroup
    spec.flow[] / dependencies[]   nodeId, depends[{nodeId | output, type: Normal}]

A node without a script is a virtual node. A node type opcenter does not run is mapped onto a
kind (`KINDS`) by `type_map`, else becomes a virtual node (or with `strict` is refused). A
node's `runtimeResource.resourceGroup` (inline or {{ref}}'d) is kept: the Celery queue its
attempts run on. What opcenter has no place for (triggers, dependencies on outputs outside the
workflow, non-Normal dependencies of a CycleWorkflow, parameters of other scopes) is dropped;
each such change is an `ImportNote`. Script parameters become the node's `ParaValue` (§1.1): a
parameter named `1`, `2`, … is positional (its value alone, in numeric order, at the places the
numbered parameters take); any other name prints as `name=value`. Pure: no I/O. Problems raise
`InvalidParameter` naming the place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opcenter.domain.graph import CycleError, topological_order
from opcenter.domain.model import DEFAULT_AUTO_RERUN_INTERVAL_MILLIS, DEFAULT_AUTO_RERUN_TIMES
from opcenter.domain.params import parse_params
from opcenter.errors import InvalidParameter, MissingParameter

__all__ = [
    "COMMAND_CODES",
    "CYCLE_KIND",
    "KIND",
    "KINDS",
    "SPEC_VERSION",
    "ImportNote",
    "NodeDefinition",
    "SpecImport",
    "WorkflowDefinition",
    "command_code",
    "command_name",
    "para_value_from_parameters",
    "parameters_from_para_value",
    "read_spec",
    "read_specs",
    "to_spec",
    "workflow_parameter_string",
]

KIND = "ManualWorkflow"
SPEC_VERSION = "1.1.0"

# Command names of the spec (`CodeProgramType.java`) and their FileType codes (§2.6). Every one
# is accepted as a file; only the runnable ones (domain.model.FileType) pass SubmitFile.
COMMAND_CODES: dict[str, int] = {
    "SHELL": 2, "DIDE_SHELL": 6, "PERL": 31, "VIRTUAL_WORKFLOW": 97, "COMBINED_NODE": 98,
    "VIRTUAL": 99, "CONTROLLER_ASSIGNMENT": 1100, "CONTROLLER_BRANCH": 1101,
    "CONTROLLER_JOIN": 1102, "CONTROLLER_CYCLE": 1103, "CONTROLLER_CYCLE_START": 1104,
    "CONTROLLER_CYCLE_END": 1105, "CONTROLLER_TRAVERSE": 1106,
    "CONTROLLER_TRAVERSE_START": 1107, "CONTROLLER_TRAVERSE_END": 1108,
    "CONTROLLER_WAIT": 1109, "SCHEDULER_TRIGGER": 1114, "PARAM_HUB": 1115, "FTP_CHECK": 1320,
    "SSH": 1321, "CHECK": 19, "OSS_INSPECT": 239, "CROSS_TENANTS": 1089, "PYTHON": 1322,
    "DATA_PUSH": 1332, "DATA_QUALITY_MONITOR": 1333,
    "HIVE": 3, "ODPS_XLIB": 8, "ODPS_SQL": 10, "ODPS_MR": 11, "ODPS_SQL_SCRIPT": 24,
    "ODPS_SPARK_SQL": 226, "PYODPS3": 1221, "PY_ODPS": 221, "ODPS_SPARK": 225,
    "DATAX": 4, "DATAX2": 20, "DI": 23,
    "EMR_HIVE": 227, "EMR_SPARK": 228, "EMR_SPARK_SQL": 229, "EMR_MR": 230, "EMR_SHELL": 257,
    "EMR_PRESTO": 259, "EMR_IMPALA": 260, "CDH_HIVE": 270, "CDH_SPARK": 271,
    "CDH_SPARK_SQL": 272, "CDH_MR": 273, "CDH_SHELL": 276,
    "HOLOGRES_SQL": 1093, "CLICK_SQL": 1301, "POSTGRESQL": 1302, "MYSQL": 1303,
    "SQLSERVER": 1304, "ORACLE": 1305, "STARROCKS": 1306, "DORIS": 1308, "CUSTOM": 9999,
}  # fmt: skip
_CODE_NAMES = {code: name for name, code in COMMAND_CODES.items()}
_LANGUAGES = {2: "shell", 6: "shell", 10: "sql", 99: "none", 1322: "python3"}
_EXTENSIONS = {2: "sh", 6: "sh", 10: "sql", 1322: "py"}

# RerunMode: spec labels (matched case-insensitively, as LabelEnum does) <-> DataWorks values.
_RERUN_LABELS = {
    "ALL_ALLOWED": "Allowed",
    "ALL_DENIED": "Denied",
    "FAILURE_ALLOWED": "FailureAllowed",
}
_RERUN_MODES = {
    **{label.upper(): mode for mode, label in _RERUN_LABELS.items()},
    **{mode: mode for mode in _RERUN_LABELS},
}
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REF = re.compile(r"^\{\{\s*([^{}\s]+)\s*\}\}$")
_POSITIONAL_NAME = re.compile(r"^[1-9][0-9]*$")
_SPACE = re.compile(r"\s")
_WHOLE_FORM = re.compile(r'(?:^|\s)-p\s*"')
_BAD_NAME_CHARS = frozenset("${}[]()\"'`\\=")
_WHOLE_NAME = "-"  # the spec tooling's name for a -p"…" NoKvVariableExpression


@dataclass(frozen=True)
class NodeDefinition:
    """One node of a definition: it becomes one file of the workflow, named `name`.

    `depends` holds the local ids of the nodes it waits for; `timeout` is in hours (0: none);
    `outputs` are the node's output names when the document gives them (`outputs.nodeOutputs`),
    else empty: the service then derives the default one from the workspace and node name.
    """

    local_id: str
    name: str
    file_type: int
    content: str = ""
    para_value: str = ""
    depends: tuple[str, ...] = ()
    rerun_mode: str = "ALL_ALLOWED"
    auto_rerun_times: int = DEFAULT_AUTO_RERUN_TIMES
    auto_rerun_interval_millis: int = DEFAULT_AUTO_RERUN_INTERVAL_MILLIS
    timeout: int = 0
    owner: str = ""
    description: str = ""
    outputs: tuple[str, ...] = ()
    resource_group: str | None = None


@dataclass(frozen=True)
class WorkflowDefinition:
    """A manually triggered workflow as a definition file describes it.

    `parameters` are the workflow variables (scope `Workflow`), in document order.
    """

    name: str
    description: str = ""
    owner: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeDefinition] = field(default_factory=list)

    def node(self, local_id: str) -> NodeDefinition:
        return next(n for n in self.nodes if n.local_id == local_id)

    def topological_order(self) -> list[NodeDefinition]:
        """The nodes, each after all of its upstream ones (document order otherwise).

        Raises InvalidParameter naming the nodes on a cycle; `read_spec` leaves cycles alone
        (SubmitFile is where DataWorks rejects them), so callers that write check this first.
        """
        by_id = {n.local_id: n for n in self.nodes}
        try:
            order = topological_order(list(by_id), {n.local_id: n.depends for n in self.nodes})
        except CycleError as cycle:
            # Upstream first, from the node that comes first in the document, as SubmitFile
            # prints a cycle.
            names = " -> ".join(by_id[local_id].name for local_id in cycle.cycle)
            raise InvalidParameter(
                f"Invalid parameter spec.flow: the dependencies form a cycle: {names}"
            ) from None
        return [by_id[local_id] for local_id in order]


# ---------------------------------------------------------------------------------------------
# Small pure helpers (also used by the service)


def command_code(command: str, *, where: str = "command") -> int:
    """The FileType code of a spec command name (case-insensitive); InvalidParameter if unknown."""
    code = COMMAND_CODES.get(str(command).upper())
    if code is None:
        raise InvalidParameter(
            f'Invalid parameter {where}: unknown command "{command}" (known: '
            f"{', '.join(sorted(('DIDE_SHELL', 'ODPS_SQL', 'PYTHON', 'SHELL', 'VIRTUAL')))}, …)"
        )
    return code


def command_name(file_type: int) -> str | None:
    """The spec command name of a FileType code, or None for a code the spec table lacks."""
    return _CODE_NAMES.get(file_type)


def para_value_from_parameters(parameters: list[tuple[str, str]], *, where: str = "") -> str:
    """Print script parameters `(name, value)` as a ParaValue string (§1.1).

    Named ones print `name=value`; numbered ones (`1`, `2`, …, which must run 1..n) print their
    value alone, sorted by number, in the slots the numbered parameters occupy. A parameter
    named `-` (type NoKvVariableExpression: the -p"…" form) is the whole string, alone.
    """
    seen: set[str] = set()
    numbered: list[tuple[int, str]] = []
    for name, value in parameters:
        _check_parameter(name, value, where)
        if name in seen:
            raise InvalidParameter(
                f'Invalid parameter {where}: parameter "{name}" is declared twice'
            )
        seen.add(name)
        if _POSITIONAL_NAME.match(name):
            numbered.append((int(name), value))
    if _WHOLE_NAME in seen:
        return _whole_para_value(parameters, where)
    numbers = sorted(n for n, _ in numbered)
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidParameter(
            f"Invalid parameter {where}: positional parameters must be named 1..{len(numbers)} "
            f"without gaps, got {', '.join(str(n) for n in numbers)}"
        )
    in_order = iter(value for _, value in sorted(numbered))
    return " ".join(
        next(in_order) if _POSITIONAL_NAME.match(name) else f"{name}={value}"
        for name, value in parameters
    )


def _whole_para_value(parameters: list[tuple[str, str]], where: str) -> str:
    value = parameters[0][1] if len(parameters) == 1 else ""
    if not _WHOLE_FORM.search(value):
        raise InvalidParameter(
            f"Invalid parameter {where}: a NoKvVariableExpression parameter must be the only "
            'parameter and hold a -p"…" string'
        )
    return value.strip()


def parameters_from_para_value(para_value: str) -> list[tuple[str, str]]:
    """Read a ParaValue string back as `(name, value)` pairs: positional pieces named 1, 2, …"""
    pairs: list[tuple[str, str]] = []
    position = 0
    for piece in parse_params(para_value).pieces:
        if piece.whole:
            pairs.append((_WHOLE_NAME, piece.value))
        elif piece.key is None:
            position += 1
            pairs.append((str(position), piece.value))
        else:
            pairs.append((piece.key, piece.value))
    return pairs


def workflow_parameter_string(parameters: Mapping[str, str]) -> str:
    """The workflow's parameter string `k=v k2=v2` (the form Workflow.parameters stores)."""
    for name, value in parameters.items():
        _check_parameter(name, value, f'spec.variables "{name}"')
        if _POSITIONAL_NAME.match(name) or name == _WHOLE_NAME:
            raise InvalidParameter(
                f'Invalid parameter spec.variables: workflow variable "{name}" needs a name, '
                "not a position"
            )
    return " ".join(f"{name}={value}" for name, value in parameters.items())


def _check_parameter(name: str, value: str, where: str) -> None:
    if not name:
        raise InvalidParameter(f"Invalid parameter {where}: a parameter has no name")
    if name != _WHOLE_NAME and (_SPACE.search(name) or _BAD_NAME_CHARS.intersection(name)):
        raise InvalidParameter(
            f'Invalid parameter {where}: bad parameter name "{name}" (no spaces, = $ {{ }} [ ] '
            "( ) quotes or backslashes)"
        )
    if name == _WHOLE_NAME:
        return
    if not value or _SPACE.search(value) or "=" in value:
        raise InvalidParameter(
            f'Invalid parameter {where}: parameter "{name}" has value "{value}"; a value must be '
            "non-empty, without spaces or '=' (concatenate two parameters instead)"
        )


# ---------------------------------------------------------------------------------------------
# Reading a document


@dataclass(frozen=True)
class ImportNote:
    """One thing reading a document did that the document did not say as is.

    `action`: `named` (a name was supplied), `mapped` (a node type became a kind opcenter runs),
    `virtual` (an unmapped node type became a virtual node: a dry run), `dropped` (a field or
    dependency opcenter has no place for). `node` is empty for a note about the workflow."""

    workflow: str
    node: str
    action: str
    detail: str


@dataclass(frozen=True)
class SpecImport:
    """The workflows a document describes, and the notes of what reading them changed."""

    workflows: list[WorkflowDefinition]
    notes: list[ImportNote] = field(default_factory=list)


# What `--map TYPE=KIND` may name, and the FileType each kind is.
KINDS: dict[str, int] = {"shell": 6, "python": 1322, "sql": 10, "virtual": 99}
# Spec types opcenter runs as they are, without --map: the same job, locally.
_NATIVE = {"SHELL": "shell", "DIDE_SHELL": "shell", "PYTHON": "python", "ODPS_SQL": "sql",
           "VIRTUAL": "virtual"}  # fmt: skip
CYCLE_KIND = "CycleWorkflow"


def read_spec(document: Any, **options: Any) -> WorkflowDefinition:
    """The one workflow of a document (see `read_specs` for the options); a document with
    several workflows → InvalidParameter."""
    found = read_specs(document, **options)
    if len(found.workflows) != 1:
        raise InvalidParameter(
            f"Invalid parameter spec.workflows: the document holds {len(found.workflows)} "
            "workflows, one was expected"
        )
    return found.workflows[0]


def read_specs(
    document: Any,
    *,
    name: str = "",
    as_manual: bool = False,
    type_map: Mapping[str, str] | None = None,
    strict: bool = False,
) -> SpecImport:
    """Validate a parsed Spec document (any version) and return its workflows and notes.

    Forms read: version 1.0.0 (entities at the top level), 1.1.0 / 1.2.0 (`spec.…`), and
    `spec.workflows[]` (several workflows, each with its own nodes, dependencies and strategy).
    `name` is the name of a workflow that has none (several unnamed: `name_1`, `name_2`, …).
    `as_manual` reads a CycleWorkflow (triggers and cron dropped and noted). `type_map` maps a
    spec node type (ODPS_SQL, PYODPS3, …) onto a kind of `KINDS`; an unmapped type opcenter
    does not run becomes a virtual node, or with `strict` is refused.

    Raises InvalidParameter / MissingParameter naming the field. Cycles are left to SubmitFile.
    """
    doc = _mapping(document, "document")
    kind = doc.get("kind")
    if kind is None:
        raise MissingParameter("kind")
    cyclic = str(kind).lower() == CYCLE_KIND.lower()
    if cyclic and not as_manual:
        raise InvalidParameter(
            f'Invalid parameter kind: "{kind}" is a scheduled workflow; opcenter runs manual '
            "workflows: import it as one with `opcenter apply FILE --as-manual` (its triggers "
            "and cron are dropped and reported)"
        )
    if not cyclic and str(kind).lower() != KIND.lower():
        raise InvalidParameter(
            f'Invalid parameter kind: "{kind}" (only {KIND}, or {CYCLE_KIND} with --as-manual, '
            "is supported)"
        )
    kinds = _type_map(type_map or {})
    spec = doc.get("spec")
    spec = _mapping(spec, "spec") if spec is not None else doc  # 1.0.0: at the top level
    where = "spec" if spec is not doc else "document"
    metadata = _mapping(doc.get("metadata") or {}, "metadata")
    refs = _Refs(spec, where)
    notes: list[ImportNote] = []
    raw_workflows = spec.get("workflows")
    if raw_workflows is not None and spec.get("nodes") is None:
        containers = [
            (_mapping(w, f"{where}.workflows[{i}]"), f"{where}.workflows[{i}]")
            for i, w in enumerate(_list(raw_workflows, f"{where}.workflows"))
        ]
        for container, _ in containers:
            refs.add(container)
    else:
        containers = [(spec, where)]
    unnamed = [i for i, (c, _) in enumerate(containers) if not c.get("name")]
    wf_names: list[str] = []
    for index, (container, place) in enumerate(containers):
        wf_name = _text(container.get("name"), f"{place}.name")
        if not wf_name:
            if not name:
                raise MissingParameter(f"{place}.name")
            wf_name = name if len(unnamed) == 1 else f"{name}_{unnamed.index(index) + 1}"
            notes.append(ImportNote(wf_name, "", "named", "the workflow has no name in the file"))
        wf_names.append(wf_name)
    workflows: list[WorkflowDefinition] = []
    all_outputs = _all_outputs(containers, wf_names)
    for (container, place), wf_name in zip(containers, wf_names, strict=True):
        reader = _Reader(refs, kinds, strict, wf_name, notes, all_outputs, cyclic=cyclic)
        top = container is spec
        workflows.append(
            WorkflowDefinition(
                name=wf_name,
                description=_text(
                    container.get("description") or (metadata.get("description") if top else ""),
                    "description",
                ),
                owner=_text(
                    container.get("owner") or spec.get("owner") or metadata.get("owner"), "owner"
                ),
                parameters=_workflow_variables(container, place, refs),
                nodes=reader.nodes(container, place),
            )
        )
        reader.workflow_extras(container, place)
    return SpecImport(workflows=workflows, notes=notes)


def _type_map(type_map: Mapping[str, str]) -> dict[str, str]:
    kinds = dict(_NATIVE)
    for spec_type, kind in type_map.items():
        if kind.lower() not in KINDS:
            raise InvalidParameter(
                f'Invalid parameter map: "{spec_type}={kind}" (a kind is one of '
                f"{', '.join(KINDS)})"
            )
        if not _TYPE_NAME.match(str(spec_type)):
            raise InvalidParameter(f'Invalid parameter map: "{spec_type}={kind}" (bad TYPE)')
        kinds[str(spec_type).upper()] = kind.lower()
    return kinds


def _all_outputs(
    containers: list[tuple[Mapping[str, Any], str]], names: list[str]
) -> dict[str, str]:
    """output name -> name of the workflow whose node declares it (for cross-workflow notes)."""
    found: dict[str, str] = {}
    for (container, _), wf in zip(containers, names, strict=True):
        for raw in container.get("nodes") or []:
            if isinstance(raw, Mapping) and isinstance(raw.get("outputs"), Mapping):
                for item in raw["outputs"].get("nodeOutputs") or []:
                    if isinstance(item, Mapping) and item.get("data"):
                        found[str(item["data"])] = wf
    return found


class _Refs:
    """The entities of a spec that `{{id}}` / `{{type.id}}` may name, by collection."""

    COLLECTIONS = ("scripts", "files", "variables", "runtimeResources", "nodes")

    def __init__(self, spec: Mapping[str, Any], where: str = "spec") -> None:
        self.by_type: dict[str, dict[str, Any]] = {c: {} for c in self.COLLECTIONS}
        self.add(spec, where)

    def add(self, container: Mapping[str, Any], where: str = "spec") -> None:
        for collection in self.COLLECTIONS:
            raw = container.get(collection) or []
            if isinstance(raw, Mapping):  # grouped by kind of storage: {oss: [...], ...}
                raw = [item for group in raw.values() if isinstance(group, list) for item in group]
            items = _list(raw, f"{where}.{collection}")
            self.by_type[collection].update(
                {
                    str(item["id"]): item
                    for item in items
                    if isinstance(item, Mapping) and item.get("id") is not None
                }
            )

    def resolve(self, value: Any, collections: tuple[str, ...], where: str) -> Any:
        """Return the entity `value` names if it is a `{{ref}}`, else `value` itself."""
        if not isinstance(value, str):
            return value
        match = _REF.match(value)
        if not match:
            return value
        ref = match.group(1)
        kind, _, ident = ref.rpartition(".")
        if "." in kind or (kind and kind not in collections):
            raise InvalidParameter(f'Invalid parameter {where}: bad reference "{value}"')
        for collection in (kind,) if kind else collections:
            if ident in self.by_type[collection]:
                return self.by_type[collection][ident]
        raise InvalidParameter(f'Invalid parameter {where}: unknown reference "{value}"')


_STRATEGY_KEYS = ("rerunMode", "rerunTimes", "rerunInterval", "timeout")


class _Reader:
    """Reads the nodes and dependencies of one workflow, noting what it maps or drops."""

    def __init__(
        self,
        refs: _Refs,
        kinds: dict[str, str],
        strict: bool,
        workflow: str,
        notes: list[ImportNote],
        all_outputs: dict[str, str],
        *,
        cyclic: bool = False,
    ) -> None:
        self.cyclic = cyclic
        self.refs, self.kinds, self.strict = refs, kinds, strict
        self.workflow, self.notes, self.all_outputs = workflow, notes, all_outputs
        self.names: dict[str, str] = {}  # local id -> node name
        self.defaults: dict[str, Any] = {}

    def note(self, node: str, action: str, detail: str) -> None:
        self.notes.append(ImportNote(self.workflow, node, action, detail))

    def workflow_extras(self, container: Mapping[str, Any], where: str) -> None:
        trigger = container.get("trigger")
        if isinstance(trigger, Mapping) and str(trigger.get("type", "")).lower() != "manual":
            self.note("", "dropped", _trigger_text(trigger))
        for side in ("inputs", "outputs"):
            for data in _node_outputs(container.get(side), f"{where}.{side}"):
                self.note("", "dropped", f"workflow {side[:-1]} {data!r} (outside the file)")

    def nodes(self, container: Mapping[str, Any], where: str) -> list[NodeDefinition]:
        strategy = container.get("strategy")
        if isinstance(strategy, Mapping):
            self.defaults = {k: strategy[k] for k in _STRATEGY_KEYS if k in strategy}
        raw_nodes = _list(container.get("nodes") or [], f"{where}.nodes")
        ids: list[str] = []
        names: set[str] = set()
        outputs: dict[str, str] = {}  # output name -> local id of the node declaring it
        for index, raw in enumerate(raw_nodes):
            node = _mapping(raw, f"{where}.nodes[{index}]")
            local_id = _node_id(node, index, where)
            if local_id in ids:
                raise InvalidParameter(
                    f'Invalid parameter {where}.nodes[{index}].id: duplicate id "{local_id}"'
                )
            ids.append(local_id)
            name = _text(node.get("name"), f"{where}.nodes[{index}].name") or local_id
            if name in names:
                raise InvalidParameter(
                    f'Invalid parameter {where}.nodes[{index}].name: duplicate node name "{name}"'
                )
            names.add(name)
            self.names[local_id] = name
            for data in _node_outputs(node.get("outputs"), f"{where}.nodes[{index}].outputs"):
                if data in outputs:
                    raise InvalidParameter(
                        f'Invalid parameter {where}.nodes[{index}].outputs: output "{data}" is '
                        f'declared by node "{outputs[data]}" too'
                    )
                outputs[data] = local_id
        self.ids = ids
        depends = self._read_flow(container, where, raw_nodes, outputs)
        return [
            self._read_node(_mapping(raw, ""), ids[i], depends[ids[i]], f"{where}.nodes[{i}]")
            for i, raw in enumerate(raw_nodes)
        ]

    def _read_node(
        self, node: Mapping[str, Any], local_id: str, depends: list[str], where: str
    ) -> NodeDefinition:
        refs = self.refs
        name = self.names[local_id]
        group = _resource_group(refs, node.get("runtimeResource"), f"{where}.runtimeResource")
        trigger = node.get("trigger")
        if isinstance(trigger, Mapping) and str(trigger.get("type", "")).lower() not in (
            "",
            "manual",
        ):
            self.note(name, "dropped", _trigger_text(trigger))
        script = refs.resolve(node.get("script"), ("scripts", "files"), f"{where}.script")
        file_type, content, para_value = self._read_script(script, name, f"{where}.script")

        def setting(key: str) -> Any:
            return node.get(key, self.defaults.get(key))

        return NodeDefinition(
            local_id=local_id,
            name=name,
            file_type=file_type,
            content=content,
            para_value=para_value,
            depends=tuple(depends),
            rerun_mode=_rerun_mode(setting("rerunMode"), f"{where}.rerunMode"),
            auto_rerun_times=_int(
                setting("rerunTimes"), f"{where}.rerunTimes", DEFAULT_AUTO_RERUN_TIMES
            ),
            auto_rerun_interval_millis=_int(
                setting("rerunInterval"),
                f"{where}.rerunInterval",
                DEFAULT_AUTO_RERUN_INTERVAL_MILLIS,
            ),
            timeout=_int(setting("timeout"), f"{where}.timeout"),
            owner=_text(node.get("owner"), f"{where}.owner"),
            description=_text(node.get("description"), f"{where}.description"),
            outputs=tuple(_node_outputs(node.get("outputs"), f"{where}.outputs")),
            resource_group=group,
        )

    def _read_script(self, script: Any, node_name: str, where: str) -> tuple[int, str, str]:
        """(file type, content, ParaValue) of a node's script; no script: a virtual node."""
        if script is None:
            return COMMAND_CODES["VIRTUAL"], "", ""
        script = _mapping(script, where)
        runtime = _mapping(script.get("runtime") or {}, f"{where}.runtime")
        command, type_id = runtime.get("command"), runtime.get("commandTypeId")
        if command is not None:
            spec_type = _text(command, f"{where}.runtime.command").strip().upper()
            known = COMMAND_CODES.get(spec_type)
            if known is None:
                self._unknown(
                    spec_type,
                    f'Invalid parameter {where}.runtime.command of node "{node_name}": unknown '
                    f'command "{command}"',
                )
        elif type_id is not None:
            known = _int(type_id, f"{where}.runtime.commandTypeId")
            spec_type = _CODE_NAMES.get(known, str(known))
            if known not in _CODE_NAMES:
                self._unknown(
                    spec_type,
                    f'Invalid parameter {where}.runtime.commandTypeId of node "{node_name}": '
                    f"unknown command type {known}",
                )
                known = None
        else:
            if self.strict:
                raise MissingParameter(f"{where}.runtime.command")
            spec_type, known = "", None
            self.note(node_name, "virtual", "the script names no runtime.command (a dry run)")
        file_type = self._kind_of(spec_type, known, node_name) if spec_type else 99
        content = script.get("content", script.get("code"))
        parameters: list[tuple[str, str]] = []
        for i, p in enumerate(_list(script.get("parameters") or [], f"{where}.parameters")):
            place = f"{where}.parameters[{i}]"
            raw = self.refs.resolve(p, ("variables",), place)
            scope = str(_mapping(raw, place).get("scope") or "NodeParameter")
            if scope.lower() != "nodeparameter":
                self.note(node_name, "dropped", f"parameter {raw.get('name')!r} of scope {scope}")
                continue
            parameters.append(_read_parameter(raw, place))
        para_value = para_value_from_parameters(
            parameters, where=f'{where}.parameters of node "{node_name}"'
        )
        if isinstance(content, Mapping | list):  # a node's configuration (EMR, DI): kept as JSON
            content = json.dumps(content, ensure_ascii=False)
        return file_type, _text(content, f"{where}.content"), para_value

    def _unknown(self, spec_type: str, refusal: str) -> None:
        """A type the spec tables lack: refused with `strict` unless mapped (else it becomes a
        virtual node, noted as an unknown type)."""
        if self.strict and spec_type not in self.kinds:
            raise InvalidParameter(refusal)

    def _kind_of(self, spec_type: str, file_type: int | None, node_name: str) -> int:
        kind = self.kinds.get(spec_type)
        if kind is not None:
            mapped = KINDS[kind]
            if mapped != file_type:
                self.note(node_name, "mapped", f"{spec_type} -> {kind}")
            return mapped
        if self.strict:
            raise InvalidParameter(
                f'Invalid parameter node "{node_name}": type {spec_type} is not run by opcenter; '
                f"map it onto a kind ({', '.join(KINDS)}) with --map {spec_type}=KIND, or leave "
                "out --strict to import it as a virtual node"
            )
        known = "" if file_type is not None else "an unknown type, "
        self.note(node_name, "virtual", f"{spec_type} is {known}not run by opcenter (a dry run)")
        return COMMAND_CODES["VIRTUAL"]

    def _read_flow(
        self,
        container: Mapping[str, Any],
        where: str,
        raw_nodes: list[Any],
        outputs: dict[str, str],
    ) -> dict[str, list[str]]:
        """Upstream local ids per node, from `flow` / `dependencies` and `inputs.nodeOutputs`."""
        depends: dict[str, list[str]] = {local_id: [] for local_id in self.ids}

        def add(child: str, parent: str | None) -> None:
            if parent is not None and parent not in depends[child]:
                depends[child].append(parent)

        for key in ("flow", "dependencies"):
            for index, raw in enumerate(_list(container.get(key) or [], f"{where}.{key}")):
                place = f"{where}.{key}[{index}]"
                entry = _mapping(raw, place)
                child = self._node_ref(entry.get("nodeId"), f"{place}.nodeId")
                for j, dep in enumerate(_list(entry.get("depends") or [], f"{place}.depends")):
                    dep_where = f"{place}.depends[{j}]"
                    add(
                        child, self._dependency(_mapping(dep, dep_where), outputs, child, dep_where)
                    )
        for index, raw in enumerate(raw_nodes):
            inputs = raw.get("inputs") if isinstance(raw, Mapping) else None
            local_id = self.ids[index]
            for data in _node_outputs(inputs, f"{where}.nodes[{index}].inputs"):
                add(local_id, self._producer(data, outputs, local_id))
        return depends

    def _dependency(
        self, dep: Mapping[str, Any], outputs: dict[str, str], child: str, where: str
    ) -> str | None:
        dep_type = str(dep.get("type") or "Normal")
        if dep_type.lower() != "normal" and not self.cyclic:
            raise InvalidParameter(
                f'Invalid parameter {where}.type: "{dep_type}" (a manual workflow has only Normal '
                "dependencies)"
            )
        if dep_type.lower() != "normal":
            self.note(
                self.names[child],
                "dropped",
                f"{dep_type} dependency (a manual workflow has only Normal dependencies)",
            )
            return None
        if dep.get("nodeId") is not None:
            return self._node_ref(dep["nodeId"], f"{where}.nodeId")
        if dep.get("output") is not None:
            return self._producer(_text(dep["output"], f"{where}.output"), outputs, child)
        raise MissingParameter(f"{where}.nodeId")

    def _node_ref(self, value: Any, where: str) -> str:
        if value is None:
            raise MissingParameter(where)
        text = str(value)
        node = self.refs.resolve(text, ("nodes",), where)
        ident = text if node is text else str(node["id"])
        if ident not in self.names:
            raise InvalidParameter(f'Invalid parameter {where}: unknown node "{text}"')
        return ident

    def _producer(self, data: str, outputs: dict[str, str], child: str) -> str | None:
        if data in outputs:
            return outputs[data]
        other = self.all_outputs.get(data)
        where = f"of workflow {other!r}" if other else "outside the file"
        self.note(self.names[child], "dropped", f"dependency on output {data!r} ({where})")
        return None


def _read_parameter(raw: Any, where: str) -> tuple[str, str]:
    param = _mapping(raw, where)
    name = _text(param.get("name"), f"{where}.name")
    if str(param.get("type", "")).lower() == "nokvvariableexpression":
        name = _WHOLE_NAME
    value = param.get("value")
    if value is None:
        raise MissingParameter(f"{where}.value")
    return name, _text(value, f"{where}.value")


# A resource group names the Celery queue its node's attempts run on (service.files checks the
# same form for ResourceGroupIdentifier).
RESOURCE_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _resource_group(refs: _Refs, resource: Any, where: str) -> str | None:
    """`runtimeResource.resourceGroup` (inline or through a {{ref}}), else None."""
    if resource is None:
        return None
    resource = _mapping(refs.resolve(resource, ("runtimeResources",), where), where)
    group = _text(resource.get("resourceGroup"), f"{where}.resourceGroup")
    if not group:
        return None
    if not RESOURCE_GROUP.match(group):
        raise InvalidParameter(
            f"Invalid parameter {where}.resourceGroup: {group!r} must be 1 to 128 letters, "
            "digits, '_', '.' or '-' (it names the queue the node's attempts run on)"
        )
    return group


def _trigger_text(trigger: Mapping[str, Any]) -> str:
    cron = trigger.get("cron")
    kind = trigger.get("type") or "Scheduler"
    return f"{kind} trigger" + (f" (cron {cron!r})" if cron else "") + " (runs are manual)"


def _node_outputs(value: Any, where: str) -> list[str]:
    if not value:
        return []
    items = _list(_mapping(value, where).get("nodeOutputs") or [], f"{where}.nodeOutputs")
    return [
        _text(
            _mapping(item, f"{where}.nodeOutputs[{i}]").get("data"),
            f"{where}.nodeOutputs[{i}].data",
        )
        for i, item in enumerate(items)
    ]


def _workflow_variables(
    container: Mapping[str, Any], where: str = "spec", refs: _Refs | None = None
) -> dict[str, str]:
    params: dict[str, str] = {}
    raws = [
        (raw, f"{where}.variables[{i}]")
        for i, raw in enumerate(_list(container.get("variables") or [], f"{where}.variables"))
    ]
    script = container.get("script")
    if isinstance(script, Mapping):  # spec.workflows[]: the workflow's own script parameters
        raws += [
            (refs.resolve(raw, ("variables",), f"{where}.script.parameters[{i}]") if refs else raw,
             f"{where}.script.parameters[{i}]")
            for i, raw in enumerate(_list(script.get("parameters") or [], f"{where}.script"))
        ]  # fmt: skip
    for raw, place in raws:
        var = _mapping(raw, place)
        if str(var.get("scope", "")).lower() != "workflow":
            continue
        name = _text(var.get("name") or var.get("id"), f"{place}.name")
        if name in params:
            raise InvalidParameter(
                f'Invalid parameter {place}: workflow variable "{name}" is declared twice'
            )
        params[name] = _text(var.get("value"), f"{place}.value")
    workflow_parameter_string(params)  # validates names and values
    return params


def _node_id(node: Mapping[str, Any], index: int, where: str = "spec") -> str:
    raw = node.get("id")
    if raw is None or raw == "":
        raise MissingParameter(f"{where}.nodes[{index}].id")
    return _text(raw, f"{where}.nodes[{index}].id")


def _rerun_mode(value: Any, where: str) -> str:
    if value is None:
        return "ALL_ALLOWED"
    mode = _RERUN_MODES.get(str(value).upper())
    if mode is None:
        raise InvalidParameter(
            f'Invalid parameter {where}: "{value}" (one of Allowed, Denied, FailureAllowed)'
        )
    return mode


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise MissingParameter(where)
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"Invalid parameter {where}: expected an object, got {value!r}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        raise MissingParameter(where)
    if not isinstance(value, list):
        raise InvalidParameter(f"Invalid parameter {where}: expected a list, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidParameter(f"Invalid parameter {where}: expected text, got {value!r}")
    return str(value)


def _int(value: Any, where: str, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidParameter(f"Invalid parameter {where}: expected an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(
            f"Invalid parameter {where}: expected an integer, got {value!r}"
        ) from None
    if number < 0:
        raise InvalidParameter(f"Invalid parameter {where}: must not be negative, got {number}")
    return number


# ---------------------------------------------------------------------------------------------
# Writing a document


def to_spec(definition: WorkflowDefinition) -> dict[str, Any]:
    """The Spec document of a definition; `read_spec(to_spec(d)) == d` for ids equal to names."""
    spec: dict[str, Any] = {"name": definition.name}
    if definition.description:
        spec["description"] = definition.description
    if definition.owner:
        spec["owner"] = definition.owner
    if definition.parameters:
        spec["variables"] = [
            {
                "id": name,
                "name": name,
                "scope": "Workflow",
                "type": _var_type(value),
                "value": value,
            }
            for name, value in definition.parameters.items()
        ]
    spec["nodes"] = [_node_spec(definition.name, node) for node in definition.nodes]
    flow = [
        {
            "nodeId": f"{{{{{node.local_id}}}}}",
            "depends": [{"nodeId": f"{{{{{up}}}}}", "type": "Normal"} for up in node.depends],
        }
        for node in definition.nodes
        if node.depends
    ]
    if flow:
        spec["flow"] = flow
    metadata = {
        k: v for k, v in (("owner", definition.owner), ("description", definition.description)) if v
    }
    document: dict[str, Any] = {"version": SPEC_VERSION, "kind": KIND}
    if metadata:
        document["metadata"] = metadata
    document["spec"] = spec
    return document


def _node_spec(workflow_name: str, node: NodeDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.local_id, "name": node.name}
    if node.owner:
        out["owner"] = node.owner
    if node.description:
        out["description"] = node.description
    out["trigger"] = {"type": "Manual"}
    out["rerunMode"] = _RERUN_LABELS.get(node.rerun_mode, node.rerun_mode)
    for key, value in (
        ("rerunTimes", node.auto_rerun_times),
        ("rerunInterval", node.auto_rerun_interval_millis),
        ("timeout", node.timeout),
    ):
        if value:
            out[key] = value
    out["script"] = _script_spec(workflow_name, node)
    if node.resource_group:
        out["runtimeResource"] = {"resourceGroup": node.resource_group}
    if node.outputs:
        out["outputs"] = {
            "nodeOutputs": [{"artifactType": "NodeOutput", "data": data} for data in node.outputs]
        }
    return out


def _script_spec(workflow_name: str, node: NodeDefinition) -> dict[str, Any]:
    extension = _EXTENSIONS.get(node.file_type)
    script: dict[str, Any] = {
        "path": f"{workflow_name}/{node.name}" + (f".{extension}" if extension else ""),
    }
    if node.file_type in _LANGUAGES:
        script["language"] = _LANGUAGES[node.file_type]
    script["content"] = node.content
    name = command_name(node.file_type)
    runtime: dict[str, Any] = {"command": name} if name else {}
    runtime["commandTypeId"] = node.file_type
    script["runtime"] = runtime
    params = parameters_from_para_value(node.para_value)
    if params:
        script["parameters"] = [
            {
                "name": pname,
                "scope": "NodeParameter",
                "type": "NoKvVariableExpression" if pname == _WHOLE_NAME else _var_type(value),
                "value": value,
            }
            for pname, value in params
        ]
    return script


def _var_type(value: str) -> str:
    return "System" if "$" in value else "Constant"
