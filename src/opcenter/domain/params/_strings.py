"""Parameter strings (`ParaValue`, `NodeParameters`): parse, print back, merge.

key=value pieces separated by whitespace          dt=$bizdate region=cn
a piece without exactly one `=` with non-empty    $bizdate ${yyyymmdd} $[hh24]
  sides is positional ($1, $2, … in order)
a string containing -p"…" is one whole piece      -p"-Dbizdate=$bizdate -Dh=$[hh24]"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from opcenter.errors import InvalidParameter

__all__ = ["ParamString", "Piece", "merge_params", "parse_params", "workflow_pieces"]

# The MR/PAI form of the DataWorks spec tooling (`VariableUtils`): kept whole, never split.
_WHOLE_FORM = re.compile(r'(?:^|\s)-p\s*"')
_SPACES = re.compile(r"\s+")
_BAD_NAME_CHARS = frozenset("${}[]()\"'`\\")


@dataclass(frozen=True)
class Piece:
    """One piece of a parameter string: `key=value`, or positional (`key` is None)."""

    text: str
    key: str | None = None
    value: str = ""
    whole: bool = False  # the -p"…" form: the whole string, spaces and all

    @classmethod
    def read(cls, text: str) -> Piece:
        """Classify one whitespace-free piece; raises InvalidParameter for a bad name."""
        key, sep, value = text.partition("=")
        if not sep or not key or not value or "=" in value:
            return cls(text, None, text)
        if _BAD_NAME_CHARS.intersection(key):
            raise InvalidParameter(
                f'Invalid parameter "{text}": bad parameter name "{key}" (a name may not '
                "contain $ { } [ ] ( ) quotes or backslashes)"
            )
        return cls(text, key, value)

    @classmethod
    def named_piece(cls, key: str, value: str) -> Piece:
        return cls(f"{key}={value}", key, value)

    @property
    def positional(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class ParamString:
    """An ordered parameter string. `str()`/`render()` print a parsed string back unchanged;
    two strings are equal when they hold the same pieces in the same order (whitespace aside).
    """

    pieces: tuple[Piece, ...] = ()
    # Whitespace before each piece and after the last one, as parsed (None: single spaces).
    separators: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for piece in self.pieces:
            if piece.key is None:
                continue
            if piece.key in seen:
                raise InvalidParameter(
                    f'Invalid parameter "{piece.text}": "{piece.key}" is declared twice'
                )
            seen.add(piece.key)

    @cached_property
    def memo(self) -> dict[str, object]:
        """Scratch space for data derived from this (immutable) string, e.g. compiled values."""
        return {}

    @cached_property
    def _named(self) -> dict[str, str]:
        return {p.key: p.value for p in self.pieces if p.key is not None}

    @property
    def named(self) -> dict[str, str]:
        """`key -> value` in declaration order (a fresh dict)."""
        return dict(self._named)

    @property
    def positional(self) -> list[str]:
        """Positional values: `$1`, `$2`, … (a fresh list)."""
        return [p.value for p in self.pieces if p.key is None]

    @property
    def whole(self) -> bool:
        """True when the string holds a -p"…" whole-string piece."""
        return any(p.whole for p in self.pieces)

    def render(self) -> str:
        if self.separators is None:
            return " ".join(p.text for p in self.pieces)
        out = [sep + piece.text for sep, piece in zip(self.separators, self.pieces, strict=False)]
        out.append(self.separators[-1])
        return "".join(out)

    def __str__(self) -> str:
        return self.render()

    def __bool__(self) -> bool:
        return bool(self.pieces)


def parse_params(text: str) -> ParamString:
    """Parse a parameter string; `str(result) == text` always holds.

    Raises InvalidParameter naming the piece for a bad parameter name (`${x}=1`) or a name
    declared twice. Values are not compiled here: `validate_params` does both.
    """
    if not isinstance(text, str):
        raise InvalidParameter(f"Invalid parameter {text!r}: a parameter string must be text")
    if _WHOLE_FORM.search(text):
        stripped = text.strip()
        start = text.index(stripped[0])
        piece = Piece(stripped, None, stripped, whole=True)
        return ParamString((piece,), (text[:start], text[start + len(stripped) :]))
    if not text.strip():
        return ParamString((), (text,))
    words = _SPACES.split(text.strip())
    separators = _SPACES.findall(text.strip())
    leading = text[: len(text) - len(text.lstrip())]
    trailing = text[len(text.rstrip()) :]
    pieces = tuple(Piece.read(word) for word in words)
    return ParamString(pieces, (leading, *separators, trailing))


def workflow_pieces(workflow: Mapping[str, str]) -> dict[str, str]:
    """Check workflow (DagParameters) names and values as pieces; returns them as a dict.

    A name or value may not be empty or contain whitespace or `=`: every workflow parameter
    must print as one `key=value` piece. Values are compiled by the caller.
    """
    checked: dict[str, str] = {}
    for key, value in workflow.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameter(
                f"Invalid parameter DagParameters {key!r}: {value!r}: names and values must be "
                "strings"
            )
        text = f"{key}={value}"
        if not key or not value or _SPACES.search(text) or text.count("=") != 1:
            raise InvalidParameter(
                f'Invalid parameter "{text}": a workflow parameter needs a non-empty name and '
                "value without spaces or '='"
            )
        checked[key] = Piece.read(text).value
    return checked


def merge_params(
    deployed: ParamString,
    node_override: ParamString | None,
    workflow: Mapping[str, str],
) -> ParamString:
    """The parameters an instance runs with: workflow > node override > deployed.

    - Named pieces merge key by key, keeping the deployed order; names only the override
      declares follow, then names only the workflow declares. So a workflow parameter is
      always present in the result (`.named`), and code can reference `${name}` for it even
      when the node does not declare it.
    - If the override has positional pieces, they replace the deployed positional list as a
      whole (at the position of the first deployed positional piece).
    - Workflow names and values are checked (`workflow_pieces`); values are not evaluated.
    Unchanged input (no override, no workflow) returns `deployed` itself, whitespace and all.
    """
    wf = workflow_pieces(workflow)
    override = node_override if node_override else ParamString()
    if not wf and not override:
        return deployed
    replacement = [p for p in override.pieces if p.positional] or None
    values = {**deployed.named, **override.named, **wf}
    pieces: list[Piece] = []
    for piece in deployed.pieces:
        if piece.positional:
            if replacement is None:
                pieces.append(piece)
            elif replacement:
                pieces.extend(replacement)
                replacement = []  # inserted once
            continue
        pieces.append(_with_value(piece, values[piece.key]))  # type: ignore[index]
    if replacement:
        pieces.extend(replacement)
    declared = set(deployed.named)
    pieces.extend(_new_named(override.named, values, declared))
    pieces.extend(_new_named(wf, values, declared | set(override.named)))
    return ParamString(tuple(pieces))


def _with_value(piece: Piece, value: str) -> Piece:
    return piece if piece.value == value else Piece.named_piece(piece.key or "", value)


def _new_named(names: Iterable[str], values: Mapping[str, str], declared: set[str]) -> list[Piece]:
    return [Piece.named_piece(key, values[key]) for key in names if key not in declared]
