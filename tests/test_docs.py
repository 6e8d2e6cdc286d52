"""The user documentation is self-contained, and docs/api.md lists exactly the served operations.

Self-contained: README.md, docs/, examples/ and the CLI's help texts cite nothing outside the
repository (no `decisions.md`, no `../shared`, no `spec/` path), and every relative link names a
file of the repository (and, for a `#anchor` into a Markdown file, one of its headings).

The operation list: docs/api.md has one table per group of operations, with the header
`| Operation | Request | Answer | Notes |` (see `OPERATION_HEADER`). Each row's first cell names an
operation in backticks (operations answered alike may share a row: `` `A` / `B` ``). The checks:
the rows name every operation of the server's registry once and nothing else; every parameter
a handler reads is named in its Request cell; every field named in backticks is one of the
official SDK's request model (Request) or response model (Answer) of that operation, unless
marked † (opcenter's own); an operation marked † (`` `A`† ``) is opcenter's own and has no model.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from opcenter.api.rpc import Operation, load_operations

ROOT = Path(__file__).resolve().parents[1]
API_MD = ROOT / "docs" / "api.md"

# --- self-contained -----------------------------------------------------------------------------


def _user_facing_files() -> list[Path]:
    """What users read: the README, docs/, examples/ and the CLI (its help texts)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    files += sorted(p for p in (ROOT / "examples").rglob("*") if p.is_file())
    files += sorted((ROOT / "src" / "opcenter" / "cli").rglob("*.py"))
    return files


# A citation of something that is not in the repository: the design notes the project was
# written from (`spec/decisions.md`, `../shared/...`).
OUTSIDE = re.compile(r"decisions\.md|\.\./shared\b|(?<![\w.])shared/spec\b")
SPEC_PATH = re.compile(r"(?<![\w./-])spec/[\w./-]*[\w/]")


def _outside_citations(path: Path, root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.relative_to(root)}:{number}"
        found += [f"{where}: {m.group(0)}" for m in OUTSIDE.finditer(line)]
        found += [
            f"{where}: {m.group(0)}"
            for m in SPEC_PATH.finditer(line)
            if not (root / m.group(0)).exists()
        ]
    return found


def test_user_docs_cite_nothing_outside_the_repository() -> None:
    cited = [c for path in _user_facing_files() for c in _outside_citations(path)]
    assert cited == [], "state the decision in the docs instead of citing it:\n" + "\n".join(cited)


FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _anchors(markdown: str) -> set[str]:
    """The ids GitHub gives the headings of `markdown` (duplicates get -1, -2, …)."""
    seen: Counter[str] = Counter()
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def _broken_links(path: Path, root: Path = ROOT) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    broken: list[str] = []
    for target in targets:
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto:, …
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: ({target})"
        if not linked.is_relative_to(root) or not linked.exists():
            broken.append(f"{where}: no such file in the repository")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in _anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{where}: no heading #{anchor} in {linked.relative_to(root)}")
    return broken


def test_relative_links_of_the_docs_name_files_of_the_repository() -> None:
    markdown = [p for p in _user_facing_files() if p.suffix == ".md"]
    broken = [b for path in markdown for b in _broken_links(path)]
    assert broken == [], "\n".join(broken)


def test_the_anchor_rule_follows_github() -> None:
    # Given headings as the docs write them
    markdown = "# A\n## 3. Precedence: workflow > NodeParameters > deployed\n"
    markdown += "## `opcenter run --wait`\n```\n# not a heading\n```\n## A\n"
    # Then their anchors are GitHub's
    assert _anchors(markdown) == {
        "a",
        "a-1",
        "3-precedence-workflow--nodeparameters--deployed",
        "opcenter-run---wait",
    }


def test_a_link_to_a_missing_file_or_heading_or_outside_is_reported(tmp_path: Path) -> None:
    # Given a repository whose doc links to what is not there and cites what is outside
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "api.md").write_text("# The API\n", encoding="utf-8")
    (tmp_path / "outside.md").write_text("# Outside\n", encoding="utf-8")
    doc = root / "docs" / "guide.md"
    doc.write_text(
        "[ok](api.md#the-api) [gone](nowhere.md) [up](../../outside.md) [bad](api.md#nope)\n"
        "[web](https://example.com/x.md) [self](#here) [ref]\n\n# Here\n\n"
        "See spec/decisions.md, ../shared/x and spec/README.md.\n\n[ref]: ../missing.md\n",
        encoding="utf-8",
    )
    # When the doc is checked
    broken = [b.split(": ", 1)[1] for b in _broken_links(doc, root)]
    cited = [c.split(": ", 1)[1] for c in _outside_citations(doc, root)]
    # Then each broken link is named, and only those
    assert broken == [
        "(nowhere.md): no such file in the repository",
        "(../../outside.md): no such file in the repository",
        "(api.md#nope): no heading #nope in docs/api.md",
        "(../missing.md): no such file in the repository",
    ]
    # And each citation of something outside the repository
    assert cited == ["decisions.md", "../shared", "spec/decisions.md", "spec/README.md"]


# --- docs/api.md against the registry -----------------------------------------------------------

OPERATION_HEADER = ("Operation", "Request", "Answer", "Notes")
TICKED = re.compile(r"`([^`]+)`((?:\\?\*|†)*)")
# Words of a Request cell that stand for several parameters (docs/api.md, "Conventions").
WORKSPACE_PARAMS = {"ProjectId", "ProjectIdentifier", "ProjectName"}
PAGING_PARAMS = {"PageNumber", "PageSize"}
READERS = {"str", "int", "bool", "choice", "json", "int_list", "has"}
SDK_MODELS = "alibabacloud_dataworks_public20200518.models"


@dataclass(frozen=True)
class Row:
    """One row of an operation table of docs/api.md."""

    line: int
    names: tuple[str, ...]
    request: str
    answer: str
    own: frozenset[str] = frozenset()  # operations marked † (opcenter's own: no SDK model)


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def _operation_rows(markdown: str) -> Iterator[Row]:
    """The rows of every table whose header is `OPERATION_HEADER`."""
    lines = markdown.splitlines()
    in_table = False
    for number, line in enumerate(lines, start=1):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if tuple(cells) == OPERATION_HEADER:
            in_table = True
            continue
        if not in_table or set(line) <= set("|-: "):
            continue
        assert len(cells) == len(OPERATION_HEADER), (
            f"docs/api.md:{number}: {len(cells)} cells; an operation row has "
            f"{len(OPERATION_HEADER)}: {' | '.join(OPERATION_HEADER)}"
        )
        written = [n.strip() for n in cells[0].split(" / ")]
        names = tuple(n.removesuffix("†").strip("`") for n in written)
        assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", n) for n in names), (
            f"docs/api.md:{number}: the first cell names operations in backticks "
            f"(`A` or `A` / `B`, `A`† for opcenter's own), not {cells[0]!r}"
        )
        own = frozenset(n for n, w in zip(names, written, strict=True) if w.endswith("†"))
        yield Row(number, names, cells[1], cells[2], own)


def _documented() -> list[Row]:
    return list(_operation_rows(API_MD.read_text(encoding="utf-8")))


def _served() -> list[Operation]:
    return list(load_operations())


def test_docs_api_lists_every_served_operation_once() -> None:
    documented = Counter(name for row in _documented() for name in row.names)
    served = {op.name for op in _served()}
    not_listed = sorted(served - set(documented))
    not_served = sorted(set(documented) - served)
    twice = sorted(n for n, count in documented.items() if count > 1)
    assert (not_listed, not_served, twice) == ([], [], []), (
        f"served but not in docs/api.md: {not_listed}; in docs/api.md but not served: "
        f"{not_served}; listed twice: {twice}"
    )


FIELD_PATH = re.compile(r"[A-Z][A-Za-z0-9]*(?:\[\])?(?:\.[A-Z][A-Za-z0-9]*(?:\[\])?)*")


def _fields(cell: str) -> tuple[set[str], set[str]]:
    """The field names a cell names in backticks: (all, those marked † as opcenter's own).

    A field is written `Name`, `Name[]` or as a path `Data.Files[]`; any other backticked text
    (`Business Flow/<workflow>`, `"true"`, `k=v`) is a value, and so is an upper-case name
    (`MANUAL_BIZ`, `SUCCESS`)."""
    named: set[str] = set()
    own: set[str] = set()
    for ticked, marks in TICKED.findall(cell):
        if not FIELD_PATH.fullmatch(ticked):
            continue
        for part in ticked.replace("[]", "").split("."):
            if part != part.upper():
                (own if "†" in marks else named).add(part)
    return named, own


def _request_words(cell: str) -> set[str]:
    """The parameters a Request cell covers: the ones named, and those its words stand for.

    Naming the workspace one way (`ProjectId`, or the word *workspace*) covers every way of
    naming it: docs/api.md's Conventions say which an operation accepts."""
    named, own = _fields(cell)
    words = named | own
    if re.search(r"\bworkspace\b", cell) or words & WORKSPACE_PARAMS:
        words |= WORKSPACE_PARAMS
    if re.search(r"\bpaging\b", cell):
        words |= PAGING_PARAMS
    return words


def _read_by(handler_module: ModuleType, function: str, seen: set[str] | None = None) -> set[str]:
    """The parameter names `function` of the module reads (`call.int("DagId")`, …), helpers of
    the same module included."""
    seen = seen if seen is not None else set()
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(handler_module, function))))
    local_functions = {
        name
        for name, value in vars(handler_module).items()
        if inspect.isfunction(value) and value.__module__ == handler_module.__name__
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "call"
                and func.attr in READERS
            ) or (
                isinstance(func, ast.Attribute)
                and func.attr == "get"
                and isinstance(func.value, ast.Attribute)
                and func.value.attr == "params"
            ):
                names.add(str(node.args[0].value))
        if isinstance(node, ast.Name) and node.id in local_functions and node.id not in seen:
            names |= _read_by(handler_module, node.id, seen)
    return names


def test_every_parameter_a_handler_reads_is_in_its_request_cell() -> None:
    rows = {name: row for row in _documented() for name in row.names}
    missing: list[str] = []
    for op in _served():
        row = rows.get(op.name)
        if row is None:
            continue  # reported by test_docs_api_lists_every_served_operation_once
        module = importlib.import_module(op.handler.__module__)
        read = _read_by(module, op.handler.__name__)
        missing += [f"{op.name}: {p}" for p in sorted(read - _request_words(row.request))]
    assert missing == [], "docs/api.md does not name these parameters:\n" + "\n".join(missing)


def _sdk_keys(operation: str, suffix: str) -> set[str] | None:
    """The wire names of the SDK model `_<operation>_<suffix>.py` (every nested model too)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()
    # The SDK's generator writes `ListNodeIO` as `_list_node_iorequest.py`: no `_` after an
    # upper-case run.
    for name in (f"_{snake}_{suffix}", f"_{snake}{suffix}"):
        try:
            module = importlib.import_module(f"{SDK_MODELS}.{name}")
        except ModuleNotFoundError:
            continue
        return set(re.findall(r"result\['(\w+)'\]", inspect.getsource(module)))
    return None


def test_documented_fields_are_those_of_the_sdk_models() -> None:
    unknown: list[str] = []
    for row in _documented():
        request, answer = _fields(row.request)[0], _fields(row.answer)[0]
        for name in row.names:
            if name in row.own:
                continue  # opcenter's own operation: every field is its own
            request_keys = _sdk_keys(name, "request")
            answer_keys = _sdk_keys(name, "response_body")
            if request_keys is None or answer_keys is None:
                unknown.append(f"docs/api.md:{row.line}: {name} has no model in the SDK")
                continue
            unknown += [
                f"docs/api.md:{row.line}: {name} request {f}"
                for f in sorted(request - request_keys)
            ]
            unknown += [
                f"docs/api.md:{row.line}: {name} answer {f}" for f in sorted(answer - answer_keys)
            ]
    assert unknown == [], (
        "not a field of the SDK's model (mark opcenter's own fields with †):\n" + "\n".join(unknown)
    )


def test_the_row_parser_reads_fields_and_marks() -> None:
    # Given a table as docs/api.md writes it
    markdown = "\n".join(
        [
            "| Operation | Request | Answer | Notes |",
            "| --- | --- | --- | --- |",
            "| `GetX` / `GetY` | workspace, `XId`\\*, `Own`†, `Mine`†\\*, `Business Flow/<w>`, "
            "paging "
            "| `Data.Items[]`: `XId`, `Status` (`SUCCESS`), `Data` = `true` "
            "| a note naming `Other` |",
        ]
    )
    # When it is read
    (row,) = _operation_rows(markdown)
    # Then names, fields and words come out as the checks need them
    assert row.names == ("GetX", "GetY")
    assert row.own == frozenset()
    assert _fields(row.request) == ({"XId"}, {"Own", "Mine"})
    assert _fields(row.answer) == ({"Data", "Items", "XId", "Status"}, set())
    assert _request_words(row.request) == {"XId", "Own", "Mine"} | WORKSPACE_PARAMS | PAGING_PARAMS
    # And an operation marked † is opcenter's own
    (own,) = _operation_rows(markdown.replace("`GetY`", "`GetY`†"))
    assert (own.names, own.own) == (("GetX", "GetY"), frozenset({"GetY"}))
    # And a row without its Notes cell is refused with the expected header
    with pytest.raises(AssertionError, match="an operation row has 4"):
        list(_operation_rows(markdown.replace(" | a note naming `Other` |", " |")))
