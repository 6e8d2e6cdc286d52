"""The DataWorks scheduling-parameter language: parse, merge, evaluate, render.

    parse_params / validate_params   text -> ParamString (ordered pieces; prints back unchanged)
    merge_params                     workflow > NodeParameters > deployed
    EvalContext                      bizdate, cyctime (default bizdate + 1 day 00:00:00), ids
    compile_expr / evaluate          one value: constants, $bizdate…, ${...}, $[...]
    resolve_params                   every value of a ParamString -> ResolvedParams
    render_code                      ${name} in code -> values; argv for Shell/Python

Pure: no I/O. Every problem a user can cause raises `opcenter.errors.InvalidParameter`.
See docs/parameters.md for the language and the decisions taken where DataWorks is silent.
"""

from __future__ import annotations

from opcenter.domain.params._context import BUILTINS, EvalContext
from opcenter.domain.params._expr import CompiledExpr, compile_expr, evaluate
from opcenter.domain.params._resolve import (
    RenderResult,
    ResolvedParams,
    render_code,
    resolve_params,
    validate_params,
    validate_workflow_params,
)
from opcenter.domain.params._strings import ParamString, Piece, merge_params, parse_params

__all__ = [
    "BUILTINS",
    "CompiledExpr",
    "EvalContext",
    "ParamString",
    "Piece",
    "RenderResult",
    "ResolvedParams",
    "compile_expr",
    "evaluate",
    "merge_params",
    "parse_params",
    "render_code",
    "resolve_params",
    "validate_params",
    "validate_workflow_params",
]
