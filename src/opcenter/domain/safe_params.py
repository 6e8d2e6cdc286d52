"""The safe set of run-parameter values: what a caller who may not edit code may pass. Pure.

Run parameters (`DagParameters`, `NodeParameters` of RunManualDagNodes / CreateManualDag) are
pasted into code (`${name}`) and into argument lists. A caller who may not edit the workflow's
files must not be able to change that code through them, so each value it passes must be
*safe*: after evaluation (a scheduling-parameter expression such as `$bizdate`,
`${yyyymmdd-1}` or `$[yyyymmdd-1]` is evaluated first), it holds only

    ASCII letters, ASCII digits, and  _ - . : / @ + ,

A `${name}` that refers to another parameter, or to nothing, stays as written, so it is not
safe (its `$`, `{`, `}`); neither is the whole-string `-p"…"` form (its quotes and spaces).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping

from opcenter.domain.params import EvalContext, Piece, compile_expr, parse_params
from opcenter.errors import InvalidParameter

__all__ = ["SAFE_CHARACTERS", "check_safe_run_parameters", "is_safe_value"]

_SAFE_PUNCTUATION = "_-.:/@+,"
SAFE_CHARACTERS = frozenset(string.ascii_letters + string.digits + _SAFE_PUNCTUATION)
# Expressions are evaluated with these ids; every id is digits, whatever the run's real ones.
_SAMPLE_ID = 1


def _sample_context(bizdate: dt.date) -> EvalContext:
    return EvalContext(
        bizdate=bizdate, node_id=_SAMPLE_ID, dag_id=_SAMPLE_ID, instance_id=_SAMPLE_ID
    )


def is_safe_value(value: str, ctx: EvalContext) -> bool:
    """True when `value`, evaluated in `ctx`, holds only `SAFE_CHARACTERS`.

    A date expression's result differs between business dates in its digits only, so one
    context decides for every date of a run.
    """
    if set(value) <= SAFE_CHARACTERS:
        return True  # no `$`: nothing to evaluate
    return set(compile_expr(value).evaluate(ctx)) <= SAFE_CHARACTERS


def _refusal(where: str, value: str) -> InvalidParameter:
    return InvalidParameter(
        f"{where}: the value {value!r} is not allowed. Without the right to edit the "
        "workflow's files (dataworks:UpdateFile in the workspace), a run parameter may hold "
        f"only letters, digits and {' '.join(_SAFE_PUNCTUATION)}, or scheduling-parameter "
        "expressions ($bizdate, ${yyyymmdd-1}, $[yyyymmdd-1], ...) whose results do."
    )


def _piece_name(node: str, index: int, piece: Piece) -> str:
    if piece.key is not None:
        return f'NodeParameters["{node}"] parameter "{piece.key}"'
    return f'NodeParameters["{node}"] positional parameter {index}'


def check_safe_run_parameters(
    dag_parameters: Mapping[str, str],
    node_parameters: Mapping[str, str],
    bizdate: dt.date,
) -> None:
    """Raise InvalidParameter naming the first value that is not safe (see the module).

    `dag_parameters` maps a name to its value; `node_parameters` a node id to its parameter
    string (`k=v` pieces and positional values). `bizdate` is the run's first business date.
    """
    ctx = _sample_context(bizdate)
    for name, value in dag_parameters.items():
        if not is_safe_value(value, ctx):
            raise _refusal(f'DagParameters parameter "{name}"', value)
    for node, text in node_parameters.items():
        position = 0
        for piece in parse_params(text).pieces:
            position += piece.key is None
            if piece.whole or not is_safe_value(piece.value, ctx):
                raise _refusal(_piece_name(node, position, piece), piece.value)
