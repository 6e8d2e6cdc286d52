"""Validation and normalisation of the authoring request fields (CreateFile, CreateBusiness).

Each function takes the value as the service received it and returns the form we store, or
raises `InvalidParameter` / `MissingParameter` naming the wire parameter and the bad value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opcenter.domain.params import parse_params, validate_params, validate_workflow_params
from opcenter.errors import InvalidParameter, MissingParameter

__all__ = [
    "DEPENDENT_TYPES",
    "FOLDER_ROOTS",
    "RERUN_MODES",
    "SCHEDULER_TYPES",
    "check_choice",
    "check_file_type",
    "check_name",
    "check_node_id_list",
    "check_para_value",
    "check_range",
    "check_workflow_parameters",
    "name_list",
    "parse_folder_path",
]

# The first segment of a FileFolderPath that ties a file to a workflow (docs/authoring.md).
FOLDER_ROOTS = ("Business Flow", "业务流程", "Business_process")
RERUN_MODES = ("ALL_ALLOWED", "FAILURE_ALLOWED", "ALL_DENIED")
SCHEDULER_TYPES = ("NORMAL", "MANUAL", "PAUSE", "SKIP")
DEPENDENT_TYPES = (
    "NONE",
    "SELF",
    "CHILD",
    "USER_DEFINE",
    "USER_DEFINE_AND_SELF",
    "CHILD_AND_SELF",
)
MAX_NAME_LENGTH = 256


def check_name(value: str | None, parameter: str) -> str:
    """A workflow or file name: non-empty, at most 256 characters, no `/` or `,`."""
    if value is None or not value.strip():
        raise MissingParameter(parameter)
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH or "/" in name or "," in name:
        raise InvalidParameter(
            f"{parameter}={value!r} must be at most {MAX_NAME_LENGTH} characters "
            "without '/' or ','."
        )
    return name


def parse_folder_path(path: str | None) -> tuple[str, str]:
    """Split a FileFolderPath into (normalised path, workflow name).

    `Business Flow/sales_daily/Shell/load` → workflow `sales_daily`; the rest is free.
    """
    if path is None or not path.strip():
        raise MissingParameter("FileFolderPath")
    segments = [s.strip() for s in path.split("/") if s.strip()]
    if len(segments) < 2 or segments[0] not in FOLDER_ROOTS:
        roots = ", ".join(repr(r) for r in FOLDER_ROOTS)
        raise InvalidParameter(
            f"FileFolderPath={path!r} must start with one of {roots} followed by the "
            "workflow name, e.g. 'Business Flow/<workflow>/...'."
        )
    return "/".join(segments), segments[1]


def name_list(value: str | Sequence[str] | None, parameter: str) -> tuple[str, ...]:
    """A comma-separated list (or a sequence) of output names, without blanks or repeats."""
    if value is None:
        return ()
    pieces: Iterable[str] = value.split(",") if isinstance(value, str) else value
    names: list[str] = []
    for piece in pieces:
        name = str(piece).strip()
        if not name:
            continue
        if "," in name:
            raise InvalidParameter(f"{parameter} entry {name!r} must not contain ','.")
        if name in names:
            raise InvalidParameter(f"{parameter} names {name!r} more than once.")
        names.append(name)
    return tuple(names)


def check_choice(value: str, choices: Sequence[str], parameter: str) -> str:
    if value not in choices:
        raise InvalidParameter(f"{parameter}={value!r} is not one of {', '.join(choices)}.")
    return value


def check_range(value: int, low: int, high: int, parameter: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"{parameter}={value!r} must be an integer from {low} to {high}.")
    return value


def check_file_type(value: int | None) -> int:
    """Any positive FileType code is stored; whether it can run is checked at submit."""
    if value is None:
        raise MissingParameter("FileType")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameter(f"FileType={value!r} must be a positive integer code.")
    return value


def check_para_value(text: str | None) -> str:
    """A node's `ParaValue`: `key=value` and positional pieces, every value a valid
    expression (the parameter language of `domain/params`)."""
    try:
        return str(validate_params(text or "")).strip()
    except InvalidParameter as exc:
        raise InvalidParameter(f"ParaValue: {exc.message}") from None


def check_workflow_parameters(text: str | None) -> str:
    """Workflow parameters with their default values: `key=value` pieces only."""
    try:
        params = parse_params(text or "")
        for piece in params.pieces:
            if piece.positional:
                raise InvalidParameter(
                    f'Invalid parameter "{piece.text}": a workflow parameter must be a '
                    "key=value piece"
                )
        checked = validate_workflow_params(params.named)
    except InvalidParameter as exc:
        raise InvalidParameter(f"Parameters: {exc.message}") from None
    return " ".join(f"{key}={value}" for key, value in checked.items())


def check_node_id_list(text: str | Sequence[int] | None) -> str:
    """`DependentNodeIdList`: comma-separated positive node ids (stored, shown, not used)."""
    if text is None:
        return ""
    pieces = text.split(",") if isinstance(text, str) else [str(p) for p in text]
    ids = [p.strip() for p in pieces if p.strip()]
    for piece in ids:
        if not piece.isdigit() or int(piece) <= 0:
            raise InvalidParameter(f"DependentNodeIdList entry {piece!r} is not a node id.")
    return ",".join(ids)
