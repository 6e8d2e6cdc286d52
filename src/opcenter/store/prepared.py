"""Core statements compiled once per dialect and run straight through the driver's cursor.

The engine runs a handful of statements for every Dag it advances (a 365-day range: about ten
per date). Through `Connection.execute`, SQLAlchemy Core spends ~100 µs on each (its cache key,
the expanding `IN`, parameter and result processing): more than SQLite spends running it. A
`Prepared` statement keeps the SQL text SQLAlchemy compiled for the dialect (its `IN` lists
expanded per length, once) and hands it with plain parameters to the DBAPI cursor of the
connection the caller's transaction already holds; rows come back as the driver's tuples.

Only for statements whose columns need no type processing (integers, strings, booleans the
caller converts): the driver's own values are returned. Driver errors are raised as
SQLAlchemy's `DBAPIError` subclasses, as `Connection.execute` would.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

__all__ = ["Prepared", "executemany", "flushed", "row_type"]

_MARK = "__[POSTCOMPILE_{}]"


class _Form:
    """The statement compiled for one dialect."""

    __slots__ = ("_sized", "defaults", "dialect", "expanding", "names", "positional", "sql")

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.dialect = dialect
        self.sql: str = compiled.string
        self.positional = bool(compiled.positional)
        self.names: list[str] = list(compiled.positiontup or ())
        self.expanding = [
            name for name, bind in compiled.binds.items() if bind.expanding and name in self.sql
        ]
        # Literal values the statement carries (`status = 'NOT_RUN'` is a bound parameter).
        self.defaults = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required and not bind.expanding
        }
        self._sized: dict[tuple[int, ...], str] = {}

    def text(self, sizes: tuple[int, ...]) -> str:
        """The SQL with each expanding `IN` list at its size (built once per size)."""
        sql = self._sized.get(sizes)
        if sql is None:
            sql = self.sql
            for name, size in zip(self.expanding, sizes, strict=True):
                if self.positional:
                    marks = ", ".join(["?"] * size)
                else:
                    marks = ", ".join(f"%({name}__{i})s" for i in range(size))
                sql = sql.replace(_MARK.format(name), marks or "NULL")
            self._sized[sizes] = sql
        return sql


class Prepared:
    """A Core statement run through the driver: `rows(conn, params)` → list of tuples,
    `rowcount(conn, params)` → the number of rows it changed."""

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def _form(self, dialect: sa.Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None or form.dialect is not dialect:
            form = self._forms[dialect.name] = _Form(self.statement, dialect)
        return form

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement on `conn` (inside its transaction) and return every row."""
        return self._run(conn, params, rowcount=False)  # type: ignore[return-value]

    def rowcount(self, conn: sa.Connection, params: Mapping[str, Any]) -> int:
        """Run the statement on `conn` (inside its transaction): the driver's row count (what
        an INSERT … ON CONFLICT … WHERE inserted or updated)."""
        return self._run(conn, params, rowcount=True)  # type: ignore[return-value]

    def _run(
        self, conn: sa.Connection, params: Mapping[str, Any], *, rowcount: bool
    ) -> list[tuple[Any, ...]] | int:
        form = self._form(conn.dialect)
        values = {**form.defaults, **params}
        sizes = tuple(len(values[name]) for name in form.expanding)
        sql = form.text(sizes)
        args: Sequence[Any] | dict[str, Any]
        if form.positional:
            expanding = form.expanding
            args = []
            for name in form.names:
                if name in expanding:
                    args.extend(values[name])
                else:
                    args.append(values[name])
        else:
            for name in form.expanding:
                for i, value in enumerate(values.pop(name)):
                    values[f"{name}__{i}"] = value
            args = values
        driver = conn.connection.dbapi_connection
        assert driver is not None, "the connection is closed"
        cursor = driver.cursor()
        try:
            cursor.execute(sql, args)
            if rowcount:
                return int(cursor.rowcount)
            return cursor.fetchall() if cursor.description is not None else []
        except form.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(
                sql, args, exc, form.dialect.loaded_dbapi.Error, dialect=form.dialect
            ) from exc
        finally:
            cursor.close()


def executemany(conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run the driver's `executemany(sql, rows)` on `conn` (inside its transaction): `sql` is
    in the driver's own positional style (`?` for sqlite3, `%s` for psycopg). Driver errors
    are raised as SQLAlchemy's `DBAPIError` subclasses."""
    dialect = conn.dialect
    driver = conn.connection.dbapi_connection
    assert driver is not None, "the connection is closed"
    cursor = driver.cursor()
    try:
        cursor.executemany(sql, rows)
    except dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            sql, rows, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    finally:
        cursor.close()


def row_type(table: sa.Table) -> type:
    """A named tuple of the table's columns under their keys (the mapped attribute names): a
    row read through the driver then reads as the Core row or the mapped object did."""
    return namedtuple(f"{table.name}_row", [c.key for c in table.c])  # type: ignore[misc]


def flushed(session: sa.orm.Session) -> sa.Connection:
    """The session's connection, after writing out pending ORM changes when the session
    autoflushes: what `Session.execute` does before a query, for statements run on the
    connection or through the driver."""
    if session.autoflush:
        session.flush()
    return session.connection()
