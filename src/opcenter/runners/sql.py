"""SQL nodes (FileType 10): the code runs against `spec.sql_url` with SQLAlchemy, in a child
process (`python -m opcenter.runners.sql query.sql`) so that stop and timeout work exactly as
for scripts.

The child splits the code into statements on `;` (outside quoted strings and comments), runs
them in order in one transaction (committed when all succeed, rolled back on the first error),
echoes each statement, and prints the result rows of the last statement that returned rows as a
small table (at most `MAX_ROWS_SHOWN` rows). A database error prints the driver's message and
exits with code 1. The URL travels in the environment variable `OPCENTER_SQL_URL`, never in a
file or on the command line, since it may hold a password. That is the node's own connection;
the child otherwise gets the clean job environment (runners/environment.py), never the store's
URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import opcenter
from opcenter.runners.base import InstanceSpec
from opcenter.runners.environment import job_environment
from opcenter.runners.runner import Command, RunnerError

__all__ = [
    "MAX_ROWS_SHOWN",
    "QUERY_NAME",
    "URL_ENV",
    "SqlRunner",
    "main",
    "render_table",
    "run_sql",
    "split_statements",
]

URL_ENV = "OPCENTER_SQL_URL"
QUERY_NAME = "query.sql"
MAX_ROWS_SHOWN = 100
MAX_CELL_CHARS = 80
_ECHO_CHARS = 120
_SRC_DIR = str(Path(opcenter.__file__).resolve().parent.parent)


class SqlRunner:
    """Starts the SQL child with `python` (default: the server's own interpreter, which has
    SQLAlchemy and the database drivers)."""

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def prepare(self, spec: InstanceSpec) -> Command:
        if not spec.sql_url:
            raise RunnerError(f"SQL node of instance {spec.instance_id} has no SQL connection")
        query = spec.workdir / QUERY_NAME
        query.write_text(spec.code, encoding="utf-8")
        path = os.environ.get("PYTHONPATH")
        extra = {
            "PYTHONUNBUFFERED": "1",
            **spec.env,
            URL_ENV: spec.sql_url,
            # The child imports this module, also when opcenter runs from a source checkout;
            # it is our own program, so it keeps the server's PYTHONPATH too.
            "PYTHONPATH": _SRC_DIR if not path else f"{_SRC_DIR}{os.pathsep}{path}",
        }
        env = job_environment(extra)
        return Command(argv=(self.python, "-m", "opcenter.runners.sql", str(query)), env=env)


def split_statements(code: str) -> list[str]:
    """Split SQL text on `;`, ignoring `;` inside '…', "…" or `…` quotes (a doubled quote is an
    escaped one), `--` line comments and `/* */` block comments. Statements holding nothing but
    blanks and comments are dropped; the rest are returned stripped. Backslashes are not escapes
    (standard SQL); PostgreSQL dollar quoting is not recognised."""
    statements: list[str] = []
    start, i, significant = 0, 0, False
    while i < len(code):
        ch = code[i]
        if ch in "'\"`":
            end = code.find(ch, i + 1)
            i = len(code) if end < 0 else end + 1
            significant = True
        elif code.startswith("--", i):
            end = code.find("\n", i)
            i = len(code) if end < 0 else end + 1
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = len(code) if end < 0 else end + 2
        elif ch == ";":
            if significant:
                statements.append(code[start:i].strip())
            start, i, significant = i + 1, i + 1, False
        else:
            significant = significant or not ch.isspace()
            i += 1
    if significant:
        statements.append(code[start:].strip())
    return statements


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: header, separator, one line per row (NULL for None, long cells cut)."""
    cells = [[_cell(c) for c in columns], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(line[col]) for line in cells) for col in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _echo(statement: str) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= _ECHO_CHARS else flat[: _ECHO_CHARS - 1] + "…"


def _create_engine(url: str) -> Any:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    # pysqlite commits DDL implicitly; take transaction control so that all statements of a node
    # commit or roll back together (SQLAlchemy's documented recipe).
    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def _error_text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return " ".join(text.split()) or type(exc).__name__


def _execute_all(engine: Any, statements: list[str], out: TextIO) -> None:
    last: tuple[int, Sequence[str], list[Any]] | None = None
    with engine.begin() as connection:
        for number, statement in enumerate(statements, start=1):
            print(f"[sql] {number}/{len(statements)} {_echo(statement)}", file=out)
            try:
                result = connection.exec_driver_sql(statement)
            except Exception as exc:
                raise _StatementFailed(number, exc) from exc
            if result.returns_rows:
                last = (number, list(result.keys()), result.fetchmany(MAX_ROWS_SHOWN + 1))
            elif result.rowcount is not None and result.rowcount >= 0:
                print(f"[sql] {result.rowcount} row(s) affected", file=out)
    if last is not None:
        _print_rows(*last, out)


def _print_rows(number: int, columns: Sequence[str], rows: list[Any], out: TextIO) -> None:
    shown = rows[:MAX_ROWS_SHOWN]
    more = " (more not shown)" if len(rows) > MAX_ROWS_SHOWN else ""
    print(f"[sql] result of statement {number}: {len(shown)} row(s){more}", file=out)
    print(render_table(columns, shown), file=out)


class _StatementFailed(Exception):
    def __init__(self, number: int, exc: BaseException) -> None:
        super().__init__(number, exc)
        self.number = number
        self.exc = exc


def run_sql(url: str, code: str, out: TextIO) -> int:
    """Run `code` against `url`, reporting to `out`; returns the exit code (0 or 1)."""
    import sqlalchemy as sa

    statements = split_statements(code)
    if not statements:
        print("[sql] no statements to run", file=out)
        return 0
    try:
        engine = _create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, OSError) as exc:
        print(f"[sql] cannot connect: {_error_text(exc)}", file=out)
        return 1
    try:
        _execute_all(engine, statements, out)
    except _StatementFailed as failed:
        print(f"[sql] error in statement {failed.number}: {_error_text(failed.exc)}", file=out)
        print("[sql] rolled back", file=out)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        print(f"[sql] error: {_error_text(exc)}", file=out)
        return 1
    finally:
        engine.dispose()
    print(f"[sql] committed {len(statements)} statement(s)", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m opcenter.runners.sql QUERY_FILE`, with the URL in `OPCENTER_SQL_URL`."""
    args = list(sys.argv[1:] if argv is None else argv)
    url = os.environ.get(URL_ENV)
    if len(args) != 1 or not url:
        print(f"usage: {URL_ENV}=URL python -m opcenter.runners.sql QUERY_FILE", file=sys.stderr)
        return 2
    return run_sql(url, Path(args[0]).read_text(encoding="utf-8"), sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
