"""Compile and evaluate one parameter value.

A value is a concatenation of constants and expressions:

    $bizdate $cyctime $gmtdate $bizmonth $jobid $nodeid $taskid      built-ins
    ${<date format>[<offset>]}      business date; offset in the format's smallest unit
    $[<time format>[<offset>]]      scheduled time; offset in days, fractions allowed
    $[add_months(<time format>,<months>)]
    ${name}                         a reference to another parameter (not a date format)

Compilation turns the text into a tuple of segments once (cached); evaluation only shifts a
date and formats it. Every problem with the text is reported as `InvalidParameter`; no other
exception escapes for any input string.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import TypeVar

from opcenter.domain.params._context import BUILTINS, EvalContext
from opcenter.errors import InvalidParameter

__all__ = ["CompiledExpr", "ExprError", "add_months", "compile_expr", "compile_value", "evaluate"]

Lookup = Callable[[str], "str | None"]

_DATE_TOKENS = frozenset({"yyyy", "yy", "mm", "dd"})
# Longest first, so `yyyy` wins over `yy` and `hh24` over `hh`.
_TOKENS = ("yyyy", "yy", "mm", "dd", "hh24", "hh12", "hh", "mi", "ss")
_FINE_TOKENS = frozenset({"dd", "hh24", "hh12", "hh", "mi", "ss"})  # day or finer
# `{0}` is the instant, `{1}` its two-digit year, `{2}` its 12-hour-clock hour.
_TOKEN_FORMAT = {
    "yyyy": "{0.year:04d}",
    "yy": "{1:02d}",
    "mm": "{0.month:02d}",
    "dd": "{0.day:02d}",
    "hh24": "{0.hour:02d}",
    "hh12": "{2:02d}",
    "hh": "{2:02d}",
    "mi": "{0.minute:02d}",
    "ss": "{0.second:02d}",
}
_LEGACY = {"bdp.system.bizdate": "bizdate", "bdp.system.cyctime": "cyctime"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
_LETTERS = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+")
# Two or more glued tokens led by a date token (`yyyymm…`); `mi`/`ss`/`hh` lead real words.
_TOKEN_RUN = re.compile(r"(?:yyyy|yy|mm|dd)(?:yyyy|yy|mm|dd|hh24|hh12|hh|mi|ss)+")
_MAX_DIGITS = 9
# Offsets beyond about a thousand years cannot be meant; refusing them keeps arithmetic small.
_MAX_DAYS, _MAX_MONTHS, _MAX_YEARS = 366_000, 12_000, 1_000
_SECONDS_PER_DAY = 86_400


class ExprError(Exception):
    """Internal: what is wrong (`reason`) and in which expression (`expression`)."""

    def __init__(self, reason: str, expression: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.expression = expression

    def message(self, subject: str) -> str:
        """The user-facing message for a problem found while reading `subject`."""
        where = f' in "{self.expression}"' if self.expression and self.expression != subject else ""
        return f'Invalid parameter "{subject}": {self.reason}{where}'


# --- segments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    text: str

    def render(self, ctx: EvalContext, lookup: Lookup | None) -> str:
        return self.text


@dataclass(frozen=True)
class _Builtin:
    name: str

    def render(self, ctx: EvalContext, lookup: Lookup | None) -> str:
        return ctx.builtin(self.name)


@dataclass(frozen=True)
class _Reference:
    name: str
    raw: str

    def render(self, ctx: EvalContext, lookup: Lookup | None) -> str:
        value = lookup(self.name) if lookup is not None else None
        return self.raw if value is None else value


@dataclass(frozen=True)
class _BizDate:
    """`${format±N}`: the business date shifted by N units of the format's smallest token."""

    raw: str
    fmt: str
    unit: str  # "day" | "month" | "year"
    offset: int

    def render(self, ctx: EvalContext, lookup: Lookup | None) -> str:
        day = ctx.bizdate
        try:
            if self.offset and self.unit == "day":
                day = day + dt.timedelta(days=self.offset)
            elif self.offset:
                months = self.offset if self.unit == "month" else 12 * self.offset
                day = add_months(day, months)
        except (OverflowError, ValueError):
            raise _out_of_range(self.raw, ctx) from None
        return self.fmt.format(day, day.year % 100, 0)


@dataclass(frozen=True)
class _CycTime:
    """`$[format±D]` / `$[add_months(format,N)]`: the scheduled time shifted, then formatted."""

    raw: str
    fmt: str
    seconds: int
    months: int

    def render(self, ctx: EvalContext, lookup: Lookup | None) -> str:
        when = ctx._cyctime
        try:
            if self.seconds:
                when = when + dt.timedelta(seconds=self.seconds)
            if self.months:
                when = add_months(when, self.months)
        except (OverflowError, ValueError):
            raise _out_of_range(self.raw, ctx) from None
        return self.fmt.format(when, when.year % 100, (when.hour % 12) or 12)


def _out_of_range(raw: str, ctx: EvalContext) -> InvalidParameter:
    return InvalidParameter(
        f'Invalid parameter "{raw}": the result for business date {ctx.bizdate} is out of range'
    )


_D = TypeVar("_D", dt.date, dt.datetime)


def add_months(value: _D, months: int) -> _D:
    """`value` moved by whole months; a day the target month lacks becomes its last day
    (2025-03-31 minus one month is 2025-02-28). Raises ValueError outside years 1..9999."""
    years, month0 = divmod(value.month - 1 + months, 12)
    year = value.year + years
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    day = min(value.day, calendar.monthrange(year, month0 + 1)[1])
    return value.replace(year=year, month=month0 + 1, day=day)


_Segment = _Literal | _Builtin | _Reference | _BizDate | _CycTime


@dataclass(frozen=True)
class CompiledExpr:
    """A parameter value turned into segments; evaluate it against any number of contexts."""

    text: str
    segments: tuple[_Segment, ...]

    @cached_property
    def has_references(self) -> bool:
        return any(isinstance(s, _Reference) for s in self.segments)

    @cached_property
    def builtins(self) -> frozenset[str]:
        """The `$name` built-ins the value uses."""
        return frozenset(s.name for s in self.segments if isinstance(s, _Builtin))

    @property
    def references(self) -> tuple[str, ...]:
        """Names referenced as `${name}` (in order, without repeats)."""
        names = (s.name for s in self.segments if isinstance(s, _Reference))
        return tuple(dict.fromkeys(names))

    def evaluate(self, ctx: EvalContext, lookup: Lookup | None = None) -> str:
        """The value in `ctx`. `lookup(name)` resolves `${name}` references; a reference it
        cannot resolve (returns None), or any reference when there is no lookup, stays as
        written. Raises InvalidParameter when a date falls outside years 1..9999."""
        segments = self.segments
        if len(segments) == 1:
            return segments[0].render(ctx, lookup)
        return "".join(s.render(ctx, lookup) for s in segments)


# --- compilation ---------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def compile_value(text: str, lenient: bool = False) -> CompiledExpr:
    """Compile a value; raises ExprError (internal). `lenient` is the `-p"…"` whole-string
    form: spaces are allowed inside brackets and an unknown `$word` is kept as text."""
    segments: list[_Segment] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        segment, i = _dollar(text, j, lenient)
        if segment is None:
            literal.append(text[j:i])
            continue
        if literal:
            _flush(literal, segments)
        segments.append(segment)
    _flush(literal, segments)
    return CompiledExpr(text, tuple(segments))


def _flush(literal: list[str], segments: list[_Segment]) -> None:
    text = "".join(literal)
    literal.clear()
    if text:
        segments.append(_Literal(text))


def _dollar(text: str, j: int, lenient: bool) -> tuple[_Segment | None, int]:
    """Read what starts at the `$` at `j`; return (segment or None for plain text, next index)."""
    opener = text[j + 1 : j + 2]
    if opener in ("{", "["):
        closer = "}" if opener == "{" else "]"
        end = text.find(closer, j + 2)
        raw = text[j:] if end < 0 else text[j : end + 1]
        if end < 0:
            raise ExprError(f'"${opener}" is not closed by "{closer}"', raw)
        body = text[j + 2 : end]
        if lenient:
            body = body.strip()
        reader = _brace if opener == "{" else _bracket
        return reader(body, raw), end + 1
    match = _IDENT.match(text, j + 1)
    if match is None:
        return None, j + 1  # a lone `$`, `$$`, `$1`: plain text
    word = match.group()
    for name in BUILTINS:
        if word.startswith(name):
            # `$bizdate_x` is `$bizdate` followed by `_x`, as text replacement would read it.
            return _Builtin(name), j + 1 + len(name)
    if not lenient:
        _reject_misspelt_builtin(word)
    return None, match.end()


def _reject_misspelt_builtin(word: str) -> None:
    lowered = word.lower()
    if any(lowered.startswith(name) for name in BUILTINS):
        raise ExprError("built-in parameter names are lowercase", f"${word}")
    import difflib  # only for a misspelt name: ~5 ms of every run's start-up otherwise

    close = difflib.get_close_matches(lowered, BUILTINS, n=1, cutoff=0.8)
    if close:
        raise ExprError(f'unknown built-in parameter (did you mean "${close[0]}"?)', f"${word}")


def _brace(body: str, raw: str) -> _Segment:
    """`${...}`: a legacy name, a business-date format, or a reference to a parameter."""
    if body in _LEGACY:
        return _Builtin(_LEGACY[body])
    if not body:
        raise ExprError('empty "${}"', raw)
    try:
        tokens, fmt, offset = _read_format(body, raw)
    except ExprError:
        if _NAME.fullmatch(body) and not _looks_like_format(body):
            return _Reference(body, raw)
        raise
    timed = [t for t in tokens if t not in _DATE_TOKENS]
    if timed:
        raise ExprError(
            f'"{timed[0]}" is not supported in ${{...}} (day precision); use $[...]', raw
        )
    return _BizDate(raw, fmt, *_bizdate_offset(tokens, offset, raw))


def _looks_like_format(body: str) -> bool:
    """A mistyped date format rather than a parameter name: made only of the letters y, m, d
    (`${ymd}`), or a word that starts with two or more tokens, the first a date token, and goes
    on with other letters (`${yyyymmdq}`). `${mm_count}`, `${missing}` stay references."""
    letters = "".join(_LETTERS.findall(body))
    if letters and set(letters.lower()) <= set("ymd"):
        return True
    word = _WORD.match(body)
    run = _TOKEN_RUN.match(body)
    return word is not None and run is not None and run.end() < word.end()


def _bizdate_offset(tokens: list[str], offset: str | None, raw: str) -> tuple[str, int]:
    unit = "day" if "dd" in tokens else "month" if "mm" in tokens else "year"
    if offset is None:
        return unit, 0
    if "/" in offset:
        raise ExprError(
            "hour/minute offsets (N/24, N/24/60) are not supported in ${...} (day precision);"
            " use $[...]",
            raw,
        )
    value = _arith(offset, raw)  # no division, so an integer
    limit = {"day": _MAX_DAYS, "month": _MAX_MONTHS, "year": _MAX_YEARS}[unit]
    if abs(value) > limit:
        raise ExprError(f'offset "{offset}" is too large (at most {limit} {unit}s)', raw)
    return unit, int(value)


def _bracket(body: str, raw: str) -> _Segment:
    """`$[...]`: a scheduled-time format with a day offset, or add_months(format,N)."""
    if body.startswith("add_months(") or body.startswith("add_months "):
        return _add_months(body, raw)
    if not body:
        raise ExprError('empty "$[]"', raw)
    tokens, fmt, offset = _read_format(body, raw)
    if offset is None:
        return _CycTime(raw, fmt, 0, 0)
    if "/" not in offset and not _FINE_TOKENS.intersection(tokens):
        raise ExprError(
            "year/month offsets are not supported in $[...] (the offset is in days);"
            " use $[add_months(yyyymmdd,N)]",
            raw,
        )
    days = _arith(offset, raw)
    if abs(days) > _MAX_DAYS:
        raise ExprError(f'offset "{offset}" is too large (at most {_MAX_DAYS} days)', raw)
    return _CycTime(raw, fmt, _round_seconds(days * _SECONDS_PER_DAY), 0)


def _round_seconds(value: Fraction) -> int:
    """Nearest whole second, halves away from zero (N/24 and N/24/60 are always exact)."""
    rounded = int(abs(value) + Fraction(1, 2))
    return rounded if value >= 0 else -rounded


def _add_months(body: str, raw: str) -> _Segment:
    opening = body.find("(")
    if opening < 0 or body[len("add_months") : opening].strip() or not body.endswith(")"):
        raise ExprError('write add_months(<format>,<months>) with nothing after ")"', raw)
    inner = body[opening + 1 : -1]
    if inner.count(",") != 1:
        raise ExprError("add_months takes two arguments: a format and a number of months", raw)
    fmt_text, months_text = (part.strip() for part in inner.split(","))
    if not fmt_text:
        raise ExprError("add_months needs a time format as its first argument", raw)
    _, fmt, offset = _read_format(fmt_text, raw)
    if offset is not None:
        raise ExprError(f'no offset is allowed inside add_months: "{offset}"', raw)
    months_clean = "".join(months_text.split())
    if not months_clean:
        raise ExprError("add_months needs a number of months as its second argument", raw)
    if "/" in months_clean:
        raise ExprError(f'the number of months must be whole: "{months_text}"', raw)
    signed = months_clean if months_clean[0] in "+-" else "+" + months_clean
    months = _arith(signed, raw)
    if abs(months) > _MAX_MONTHS:
        raise ExprError(f'"{months_text}" months is too large (at most {_MAX_MONTHS})', raw)
    return _CycTime(raw, fmt, 0, int(months))


def _read_format(body: str, raw: str) -> tuple[list[str], str, str | None]:
    """Split `body` into format tokens, the str.format template, and the offset text (or None).

    The offset starts at the first `+`/`-` that is not followed by a format token, so
    `yyyy-mm-dd-7` is the format `yyyy-mm-dd` with the offset `-7`.
    """
    tokens: list[str] = []
    parts: list[str] = []
    i, n = 0, len(body)
    while i < n:
        token = next((t for t in _TOKENS if body.startswith(t, i)), None)
        if token is not None:
            tokens.append(token)
            parts.append(_TOKEN_FORMAT[token])
            i += len(token)
            continue
        char = body[i]
        if char in "+-" and not any(body.startswith(t, i + 1) for t in _TOKENS):
            return _finish(tokens, parts, raw), "".join(parts), _clean_offset(body[i:])
        if char.isalnum():
            raise ExprError(_unknown_token(body, i), raw)
        parts.append(char.replace("{", "{{").replace("}", "}}"))
        i += 1
    return _finish(tokens, parts, raw), "".join(parts), None


def _finish(tokens: list[str], parts: list[str], raw: str) -> list[str]:
    if not tokens:
        raise ExprError("no date/time format (expected tokens such as yyyymmdd)", raw)
    while parts and parts[-1].isspace():  # `$[yyyymmdd hh24 - 1/24]` in the -p form
        parts.pop()
    return tokens


def _clean_offset(text: str) -> str:
    return "".join(text.split())


def _unknown_token(body: str, i: int) -> str:
    digits = _DIGITS.match(body, i)
    if digits is not None:
        return f'unexpected "{digits.group()}" in the format (a number belongs in an offset: -1)'
    match = _LETTERS.match(body, i)
    word = match.group() if match is not None else body[i]
    hint = ""
    if word != word.lower() and all(c in "ymdhis24" for c in word.lower()):
        hint = " (format tokens are lowercase)"
    return f'unknown token "{word}"{hint}; known tokens: yyyy yy mm dd hh24 hh12 hh mi ss'


def _arith(offset: str, raw: str) -> Fraction:
    """Evaluate `±term(±term)*`, term = number ((*|/) number)*, exactly."""
    text = offset
    total = Fraction(0)
    i, n = 0, len(text)
    if n == 0:
        raise ExprError(f'bad offset arithmetic "{offset}"', raw)
    while i < n:
        sign = text[i]
        if sign not in "+-":
            raise ExprError(f'bad offset arithmetic "{offset}"', raw)
        term, i = _term(text, i + 1, offset, raw)
        total = total + term if sign == "+" else total - term
    return total


def _term(text: str, i: int, offset: str, raw: str) -> tuple[Fraction, int]:
    value, i = _number(text, i, offset, raw)
    while i < len(text) and text[i] in "*/":
        operator = text[i]
        operand, i = _number(text, i + 1, offset, raw)
        if operator == "*":
            value *= operand
        elif operand == 0:
            raise ExprError(f'division by zero in offset "{offset}"', raw)
        else:
            value /= operand
    return value, i


def _number(text: str, i: int, offset: str, raw: str) -> tuple[Fraction, int]:
    match = _DIGITS.match(text, i)
    if match is None:
        raise ExprError(f'bad offset arithmetic "{offset}"', raw)
    digits = match.group()
    if len(digits) > _MAX_DIGITS:
        raise ExprError(f'number "{digits}" in offset "{offset}" is too large', raw)
    return Fraction(int(digits)), match.end()


# --- public entry points -------------------------------------------------------------------


def compile_expr(text: str) -> CompiledExpr:
    """Compile one parameter value (cached). Raises InvalidParameter naming the expression
    and saying what is wrong (unknown token, bad offset arithmetic, forbidden offset)."""
    if not isinstance(text, str):
        raise InvalidParameter(f"Invalid parameter {text!r}: not a string")
    try:
        return compile_value(text)
    except ExprError as exc:
        raise InvalidParameter(exc.message(text)) from None


def evaluate(text: str, ctx: EvalContext) -> str:
    """The value of `text` in `ctx`; `${name}` references stay as written."""
    return compile_expr(text).evaluate(ctx)
