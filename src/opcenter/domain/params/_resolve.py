"""Evaluate a whole parameter string for one instance, and render code with the result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from opcenter.domain.params._context import EvalContext
from opcenter.domain.params._expr import CompiledExpr, ExprError, compile_value
from opcenter.domain.params._strings import ParamString, Piece, parse_params, workflow_pieces
from opcenter.errors import InvalidParameter

__all__ = [
    "RenderResult",
    "ResolvedParams",
    "render_code",
    "resolve_params",
    "uses_ids",  # not re-exported by the package (its names are a contract): for runs.py
    "validate_params",
    "validate_workflow_params",
]

_CODE_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_POSITION = re.compile(r"[0-9]{1,9}")
# A chain a=${b}, b=${c}, … deeper than this is refused rather than followed.
_MAX_REFERENCE_DEPTH = 32


@dataclass(frozen=True)
class ResolvedParams:
    """Evaluated parameters of one instance.

    `named` and `positional` hold the values; `undefined` lists `${name}` references inside
    values that named no parameter (left as written); `system` holds the legacy names code may
    use without declaring them (`bdp.system.bizdate`, `bdp.system.cyctime`).
    """

    named: dict[str, str]
    positional: list[str]
    undefined: list[str] = field(default_factory=list)
    system: dict[str, str] = field(default_factory=dict)
    # Piece order: a name, or the index of a positional value.
    order: tuple[str | int, ...] = ()

    def to_param_values(self) -> str:
        """The space-separated `k=v` string stored on the instance (`ParamValues`), in the
        order of the parameter string; positional values appear bare, in place."""
        order = self.order or (*self.named, *range(len(self.positional)))
        return " ".join(
            self.positional[item] if isinstance(item, int) else f"{item}={self.named[item]}"
            for item in order
        )


@dataclass(frozen=True)
class RenderResult:
    """Code with parameters substituted. `undefined` names the `${...}` left as written (for the
    one warning line of the instance log); `argv` holds the positional values (`$1 $2 …` of a
    Shell node, `sys.argv[1:]` of a Python node)."""

    code: str
    undefined: list[str]
    argv: list[str]


class _Resolver:
    """Evaluates named values on demand, following `${name}` references between them."""

    def __init__(self, compiled: dict[str, tuple[Piece, CompiledExpr]], ctx: EvalContext) -> None:
        self._compiled = compiled
        self._ctx = ctx
        self._done: dict[str, str] = {}
        self._stack: list[str] = []
        self.undefined: list[str] = []

    def value(self, name: str) -> str:
        if name in self._done:
            return self._done[name]
        piece, expr = self._compiled[name]
        if len(self._stack) >= _MAX_REFERENCE_DEPTH:
            raise InvalidParameter(f'Invalid parameter "{piece.text}": references nest too deep')
        self._stack.append(name)
        try:
            result = expr.evaluate(self._ctx, self.lookup)
        finally:
            self._stack.pop()
        self._done[name] = result
        return result

    def lookup(self, name: str) -> str | None:
        if name not in self._compiled or (self._stack and self._stack[-1] == name):
            # Undefined, or `x=${x}`: the reference stays as written.
            if name not in self.undefined:
                self.undefined.append(name)
            return None
        if name in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(name) :], name])
            piece = self._compiled[self._stack[-1]][0]
            raise InvalidParameter(f'Invalid parameter "{piece.text}": circular reference {cycle}')
        return self.value(name)


def _compile_piece(piece: Piece) -> CompiledExpr:
    try:
        return compile_value(piece.value, piece.whole)
    except ExprError as exc:
        raise InvalidParameter(exc.message(piece.text)) from None


@dataclass(frozen=True)
class _Plan:
    """What resolving one parameter string needs, computed once per (immutable) string."""

    pieces: list[tuple[Piece, CompiledExpr]]
    by_name: dict[str, tuple[Piece, CompiledExpr]]
    order: tuple[str | int, ...]
    has_references: bool


def _plan(params: ParamString) -> _Plan:
    plan = params.memo.get("plan")
    if plan is None:
        pieces = [(p, _compile_piece(p)) for p in params.pieces]
        by_name = {p.key: (p, e) for p, e in pieces if p.key is not None}
        order: list[str | int] = []
        for piece, _ in pieces:
            order.append(piece.key if piece.key is not None else sum(map(_is_int, order)))
        referencing = any(e.has_references for _, e in pieces)
        plan = params.memo["plan"] = _Plan(pieces, by_name, tuple(order), referencing)
    return plan  # type: ignore[return-value]


_IDS = frozenset({"jobid", "nodeid", "taskid"})


def uses_ids(params: ParamString) -> frozenset[str]:
    """The id built-ins (`$jobid`, `$nodeid`, `$taskid`) any value of `params` uses. A string
    that uses none resolves the same for every instance of one business date, so a run of many
    instances resolves it once per date (service/runs.py)."""
    used = params.memo.get("ids")
    if used is None:
        used = params.memo["ids"] = frozenset(
            name for _, expr in _plan(params).pieces for name in expr.builtins & _IDS
        )
    return used  # type: ignore[return-value]


def _is_int(item: str | int) -> bool:
    return isinstance(item, int)


def resolve_params(params: ParamString, ctx: EvalContext) -> ResolvedParams:
    """Evaluate every value of `params` in `ctx`.

    A `${name}` inside a value refers to another parameter of the same string (after merging,
    workflow parameters included) and takes its evaluated value; a name that is not defined,
    or a parameter referring to itself, stays as written and is listed in `.undefined`. A
    circular reference between parameters raises InvalidParameter, as does a malformed value
    or a date outside years 1..9999.
    """
    plan = _plan(params)
    # Most strings reference nothing: evaluate them without the resolver's bookkeeping.
    resolver = _Resolver(plan.by_name, ctx) if plan.has_references else None
    named: dict[str, str] = {}
    positional: list[str] = []
    for piece, expr in plan.pieces:
        lookup = resolver.lookup if resolver is not None and expr.has_references else None
        if piece.key is None:
            positional.append(expr.evaluate(ctx, lookup))
        elif lookup is not None and resolver is not None:
            named[piece.key] = resolver.value(piece.key)
        else:
            named[piece.key] = expr.evaluate(ctx)
    system = {
        "bdp.system.bizdate": ctx.builtin("bizdate"),
        "bdp.system.cyctime": ctx.builtin("cyctime"),
    }
    undefined = resolver.undefined if resolver is not None else []
    return ResolvedParams(named, positional, undefined, system, plan.order)


def render_code(code: str, resolved: ResolvedParams) -> RenderResult:
    """Replace `${name}` in `code` for every defined name (one pass: substituted values are not
    scanned again). Other `${...}` stay as written and are listed in `.undefined`, except
    `${N}` for a positional parameter that exists (the shell expands it from argv)."""
    undefined: list[str] = []
    positions = len(resolved.positional)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = resolved.named.get(name)
        if value is None:
            value = resolved.system.get(name)
        if value is not None:
            return value
        positional = _POSITION.fullmatch(name) is not None and 1 <= int(name) <= positions
        if not positional and name not in undefined:
            undefined.append(name)
        return match.group(0)

    rendered = _CODE_REFERENCE.sub(substitute, code)
    return RenderResult(rendered, undefined, list(resolved.positional))


def validate_params(text: str) -> ParamString:
    """Parse `text` and compile every value. Raises InvalidParameter naming the bad piece and
    saying what is wrong (bad name, name declared twice, unknown token, bad offset arithmetic,
    forbidden offset). Returns the parsed string."""
    params = parse_params(text)
    for piece in params.pieces:
        _compile_piece(piece)
    return params


def validate_workflow_params(workflow: Mapping[str, str]) -> dict[str, str]:
    """Check workflow parameters (DagParameters): names, values and expressions."""
    checked = workflow_pieces(workflow)
    for key, value in checked.items():
        _compile_piece(Piece.named_piece(key, value))
    return checked
