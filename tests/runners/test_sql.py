from __future__ import annotations

import sqlite3
from pathlib import Path

from opcenter.runners.base import Outcome
from opcenter.runners.local import LocalExecutor
from opcenter.runners.sql import render_table, split_statements
from tests.runners._support import SQL, Recorder, SpecFactory, body, run_one


def test_split_statements_splits_on_semicolons_given_plain_statements() -> None:
    assert split_statements("select 1; select 2 ;\n select 3") == [
        "select 1",
        "select 2",
        "select 3",
    ]


def test_split_statements_keeps_semicolons_given_quoted_strings() -> None:
    code = "insert into t values ('a;b', \"c;d\", `e;f`, 'it''s; fine'); select 1"

    assert split_statements(code) == [
        "insert into t values ('a;b', \"c;d\", `e;f`, 'it''s; fine')",
        "select 1",
    ]


def test_split_statements_ignores_semicolons_given_comments() -> None:
    code = "select 1 -- no; split 'here\n; /* nor; here */ select 2;\n-- only a comment;\n;;"

    assert split_statements(code) == [
        "select 1 -- no; split 'here",
        "/* nor; here */ select 2",
    ]


def test_split_statements_returns_nothing_given_blanks_and_comments() -> None:
    assert split_statements("  ;\n -- nothing\n /* at all */ ; ") == []


def test_render_table_aligns_columns_given_rows_with_nulls() -> None:
    assert render_table(["id", "name"], [(1, "alpha"), (22, None)]) == (
        "id | name\n---+------\n1  | alpha\n22 | NULL"
    )


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sql' / 'nested' / 'ws.db'}"


def test_sql_node_logs_result_rows_given_create_insert_select(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    code = (
        "create table t (id integer, name text);\n"
        "insert into t values (1, 'a;b'), (2, 'it''s');\n"
        "select id, name from t order by id;"
    )
    spec = make_spec(1, code, SQL, sql_url=_url(tmp_path))

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code) == (Outcome.SUCCESS, 0)
    assert body(spec) == [
        "[sql] 1/3 create table t (id integer, name text)",
        "[sql] 2/3 insert into t values (1, 'a;b'), (2, 'it''s')",
        "[sql] 2 row(s) affected",
        "[sql] 3/3 select id, name from t order by id",
        "[sql] result of statement 3: 2 row(s)",
        "id | name",
        "---+-----",
        "1  | a;b",
        "2  | it's",
        "[sql] committed 3 statement(s)",
        "[opcenter] exit code 0",
    ]


def test_sql_node_fails_and_rolls_back_given_a_bad_statement(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    code = "create table dropped (x int); select * from missing_table"
    spec = make_spec(1, code, SQL, sql_url=_url(tmp_path))

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, 1)
    assert body(spec)[-3:] == [
        "[sql] error in statement 2: no such table: missing_table",
        "[sql] rolled back",
        "[opcenter] exit code 1",
    ]
    with sqlite3.connect(tmp_path / "sql" / "nested" / "ws.db") as db:
        assert db.execute("select name from sqlite_master").fetchall() == []


def test_sql_node_shows_the_first_100_rows_given_a_longer_result(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    code = (
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 150) "
        "select i from n"
    )
    spec = make_spec(1, code, SQL, sql_url=_url(tmp_path))

    run_one(executor, recorder, spec)

    lines = body(spec)
    assert "[sql] result of statement 1: 100 row(s) (more not shown)" in lines
    assert lines[-3:] == ["100", "[sql] committed 1 statement(s)", "[opcenter] exit code 0"]


def test_sql_node_fails_given_a_bad_url(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "select 1", SQL, sql_url="nosuchdb://host/db")

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, 1)
    assert body(spec)[0] == "[sql] cannot connect: Can't load plugin: sqlalchemy.dialects:nosuchdb"


def test_sql_node_fails_without_starting_given_no_connection(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    result = run_one(executor, recorder, make_spec(4, "select 1", SQL))

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, None)
    assert result.message == "cannot start: SQL node of instance 4 has no SQL connection"
    assert recorder.started() == []
