"""The scheduling-parameter language: vectors from the spec, edge cases, properties."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

import opcenter.domain.params as params_module
from opcenter.domain.params import (
    EvalContext,
    ParamString,
    compile_expr,
    evaluate,
    merge_params,
    parse_params,
    render_code,
    resolve_params,
    validate_params,
    validate_workflow_params,
)
from opcenter.errors import InvalidParameter

_HERE = Path(__file__).resolve().parent
_REPO = Path(__file__).resolve().parents[2]
# The copy beside this file wins, so the tests never depend on ../shared being present.
_SHARED_VECTORS = _REPO / ".." / "shared" / "spec" / "params-vectors.json"
_VECTORS = next(p for p in (_HERE / "params-vectors.json", _SHARED_VECTORS) if p.exists())
FAST = settings(max_examples=150, deadline=None)


def _vector_cases() -> list[tuple[str, str | None, str, str]]:
    cases = json.loads(_VECTORS.read_text(encoding="utf-8"))["cases"]
    return [
        (case["bizdate"], case.get("cyctime"), expression, expected)
        for case in cases
        for expression, expected in case["expect"].items()
    ]


def ctx_for(bizdate: str, cyctime: str | None = None, **ids: int) -> EvalContext:
    scheduled = dt.datetime.fromisoformat(cyctime) if cyctime else None
    return EvalContext(dt.date.fromisoformat(bizdate), scheduled, **ids)


SEED = ctx_for("2020-11-10")


# --- the spec's vectors ---------------------------------------------------------------------


@pytest.mark.parametrize(("bizdate", "cyctime", "expression", "expected"), _vector_cases())
def test_evaluate_matches_spec_vector_given_its_dates(
    bizdate: str, cyctime: str | None, expression: str, expected: str
) -> None:
    assert evaluate(expression, ctx_for(bizdate, cyctime)) == expected


def test_vectors_copy_matches_the_shared_spec_given_both_exist() -> None:
    shared = _SHARED_VECTORS
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    copy = json.loads((_HERE / "params-vectors.json").read_text(encoding="utf-8"))
    assert copy == json.loads(shared.read_text(encoding="utf-8"))


def test_public_names_are_exactly_the_contract() -> None:
    assert sorted(params_module.__all__) == [
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


# --- time baselines ---------------------------------------------------------------------------


def test_context_defaults_cyctime_to_next_day_midnight_given_no_cyctime() -> None:
    assert SEED.cyctime == SEED.scheduled == dt.datetime(2020, 11, 11, 0, 0, 0)
    assert EvalContext(dt.date(2020, 11, 10), dt.datetime(2020, 11, 11)) == SEED


def test_context_keeps_only_the_day_given_a_datetime_bizdate() -> None:
    ctx = EvalContext(dt.datetime(2020, 11, 10, 15, 30))
    assert (ctx.bizdate, ctx.scheduled) == (dt.date(2020, 11, 10), dt.datetime(2020, 11, 11))


def test_context_fails_given_the_last_representable_date() -> None:
    with pytest.raises(InvalidParameter, match='"9999-12-31": out of range'):
        EvalContext(dt.date(9999, 12, 31))


@pytest.mark.parametrize(
    ("bizdate", "expected"),
    [
        ("2020-11-10", "202010"),  # $gmtdate in the same month: the month before
        ("2020-11-30", "202011"),  # $gmtdate is December: the business month itself
        ("2021-01-05", "202012"),  # year boundary
        ("2020-12-31", "202012"),
    ],
)
def test_bizmonth_follows_the_gmtdate_month_given_bizdate(bizdate: str, expected: str) -> None:
    assert evaluate("$bizmonth", ctx_for(bizdate)) == expected


def test_gmtdate_crosses_the_year_given_new_years_eve() -> None:
    assert evaluate("$gmtdate", ctx_for("2020-12-31")) == "20210101"


def test_id_builtins_take_the_context_ids_given_ids() -> None:
    ctx = ctx_for("2020-11-10", node_id=7, dag_id=8, instance_id=9)
    assert evaluate("$nodeid/$jobid/$taskid", ctx) == "7/8/9"


def test_id_builtins_stay_as_written_given_no_ids() -> None:
    assert evaluate("$nodeid-$jobid-$taskid", SEED) == "$nodeid-$jobid-$taskid"


# --- ${...}: business date ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bizdate", "expression", "expected"),
    [
        ("2025-03-31", "${yyyymm-1}", "202502"),
        ("2024-02-29", "${yyyy-1}", "2023"),
        ("2024-02-29", "${yyyy-mm-dd+1}", "2024-03-01"),
        ("2024-02-28", "${yyyymmdd+1}", "20240229"),
        ("2023-02-28", "${yyyymmdd+1}", "20230301"),
        ("2020-12-31", "${yyyymmdd+1}", "20210101"),
        ("2021-01-01", "${yyyymmdd-1}", "20201231"),
        ("2021-01-15", "${yyyymm-1}", "202012"),
        ("2005-06-01", "${yy}", "05"),
        ("2020-11-10", "${yyyy}${mm}", "202011"),
        ("2020-11-10", "${yyyy_mm_dd}", "2020_11_10"),
        ("2020-11-10", "${yyyymmdd-7*2}", "20201027"),
        ("2020-11-10", "${yyyymmdd+1-1}", "20201110"),
        ("2020-11-10", "${mm-1}", "10"),
        ("2020-11-10", "${dd-10}", "31"),
        ("2020-11-10", "${bdp.system.bizdate}", "20201110"),
        ("2020-11-10", "${bdp.system.cyctime}", "20201111000000"),
    ],
)
def test_bizdate_expression_evaluates_given_edge_dates(
    bizdate: str, expression: str, expected: str
) -> None:
    assert evaluate(expression, ctx_for(bizdate)) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("pt=${yyyymmdd}_x", "pt=20201110_x"),
        ("${yyyymm}01", "20201101"),
        ("$bizdate_x", "20201110_x"),
        ("a$bizdate$cyctime", "a2020111020201111000000"),
        ("constant", "constant"),
        ("'123'", "'123'"),
        ("$", "$"),
        ("$$", "$$"),
        ("$1", "$1"),
        ("$HOME/x", "$HOME/x"),
        ("${region}", "${region}"),
        ("${mm_count}", "${mm_count}"),
        ("", ""),
    ],
)
def test_value_concatenates_constants_and_expressions_given_mixed_text(
    expression: str, expected: str
) -> None:
    assert evaluate(expression, SEED) == expected


# --- $[...]: scheduled time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cyctime", "expression", "expected"),
    [
        ("2021-01-01 00:00:00", "$[yyyymmddhh24miss-1/24]", "20201231230000"),
        ("2020-03-01 00:10:00", "$[yyyymmddhh24mi-30/24/60]", "202002292340"),
        ("2020-03-01 00:10:00", "$[mi-30/24/60]", "40"),
        ("2020-11-11 00:00:00", "$[hh24:mi:ss-1/24/60]", "23:59:00"),
        ("2020-11-11 13:05:00", "$[hh]", "01"),
        ("2020-11-11 13:05:00", "$[hh12]", "01"),
        ("2020-11-11 00:05:00", "$[hh]", "12"),
        ("2020-11-11 12:05:00", "$[hh24]", "12"),
        ("2020-11-11 00:00:00", "$[yyyymmdd-1-1/24]", "20201109"),
        ("2020-11-11 00:00:00", "$[yyyymmdd+1/24]", "20201111"),
        ("2020-11-11 00:00:00", "$[yyyymmddhh24miss+1/7]", "20201111032543"),  # nearest second
        ("2020-11-11 00:00:00", "$[yyyy-1/24]", "2020"),
        ("2021-01-01 00:00:00", "$[yyyy-1/24]", "2020"),
        ("2021-01-01 00:00:00", "$[mm-15/24/60]", "12"),
        ("2024-03-31 00:00:00", "$[add_months(yyyymmdd,-1)]", "20240229"),
        ("2024-02-29 00:00:00", "$[add_months(yyyymmdd,-12)]", "20230228"),
        ("2024-02-29 00:00:00", "$[add_months(yyyymmdd,12*4)]", "20280229"),
        ("2020-12-15 08:00:00", "$[add_months(yyyy-mm-dd hh24,+1)]", "2021-01-15 08"),
        ("2005-01-01 00:00:00", "$[yy]", "05"),
    ],
)
def test_cyctime_expression_evaluates_given_edge_times(
    cyctime: str, expression: str, expected: str
) -> None:
    ctx = EvalContext(dt.date(2000, 1, 1), dt.datetime.fromisoformat(cyctime))
    assert evaluate(expression, ctx) == expected


def test_whitespace_inside_brackets_is_ignored_around_the_offset() -> None:
    assert evaluate("$[yyyymmdd hh24 - 1/24]", SEED) == "20201110 23"


# --- malformed expressions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("${yyyymmdd-x}", 'Invalid parameter "${yyyymmdd-x}": bad offset arithmetic "-x"'),
        ("$[yyyymmdd--1]", 'Invalid parameter "$[yyyymmdd--1]": bad offset arithmetic "--1"'),
        ("${yyyymmdd+}", 'Invalid parameter "${yyyymmdd+}": bad offset arithmetic "+"'),
        (
            "$[yyyymmdd-1/0]",
            'Invalid parameter "$[yyyymmdd-1/0]": division by zero in offset "-1/0"',
        ),
        (
            "$[yyyy-1]",
            'Invalid parameter "$[yyyy-1]": year/month offsets are not supported in $[...] '
            "(the offset is in days); use $[add_months(yyyymmdd,N)]",
        ),
        (
            "$[yyyymm-1]",
            'Invalid parameter "$[yyyymm-1]": year/month offsets are not supported in $[...] '
            "(the offset is in days); use $[add_months(yyyymmdd,N)]",
        ),
        (
            "${yyyy-mm-dd-1/24}",
            'Invalid parameter "${yyyy-mm-dd-1/24}": hour/minute offsets (N/24, N/24/60) are not '
            "supported in ${...} (day precision); use $[...]",
        ),
        (
            "${yyyymmddhh24miss}",
            'Invalid parameter "${yyyymmddhh24miss}": "hh24" is not supported in ${...} '
            "(day precision); use $[...]",
        ),
        (
            "${yyyymmdq}",
            'Invalid parameter "${yyyymmdq}": unknown token "dq"; known tokens: '
            "yyyy yy mm dd hh24 hh12 hh mi ss",
        ),
        (
            "$[YYYYMMDD]",
            'Invalid parameter "$[YYYYMMDD]": unknown token "YYYYMMDD" (format tokens are '
            "lowercase); known tokens: yyyy yy mm dd hh24 hh12 hh mi ss",
        ),
        (
            "$[yyyy01]",
            'Invalid parameter "$[yyyy01]": unexpected "01" in the format (a number belongs in '
            "an offset: -1)",
        ),
        (
            "$[-1]",
            'Invalid parameter "$[-1]": no date/time format (expected tokens such as yyyymmdd)',
        ),
        ("${", 'Invalid parameter "${": "${" is not closed by "}"'),
        ("x$[yyyy", 'Invalid parameter "x$[yyyy": "$[" is not closed by "]" in "$[yyyy"'),
        ("${}", 'Invalid parameter "${}": empty "${}"'),
        ("$[]", 'Invalid parameter "$[]": empty "$[]"'),
        (
            "$bizdat",
            'Invalid parameter "$bizdat": unknown built-in parameter (did you mean "$bizdate"?)',
        ),
        ("$BIZDATE", 'Invalid parameter "$BIZDATE": built-in parameter names are lowercase'),
        (
            "$[add_months(yyyymmdd,-1/2)]",
            'Invalid parameter "$[add_months(yyyymmdd,-1/2)]": the number of months must be '
            'whole: "-1/2"',
        ),
        (
            "$[add_months(yyyymmdd)]",
            'Invalid parameter "$[add_months(yyyymmdd)]": add_months takes two arguments: a '
            "format and a number of months",
        ),
        (
            "$[add_months(yyyymmdd-1,1)]",
            'Invalid parameter "$[add_months(yyyymmdd-1,1)]": no offset is allowed inside '
            'add_months: "-1"',
        ),
        (
            "${yyyymmdd-400000}",
            'Invalid parameter "${yyyymmdd-400000}": offset "-400000" is too large (at most '
            "366000 days)",
        ),
        (
            "${yyyymmdd-9999999999}",
            'Invalid parameter "${yyyymmdd-9999999999}": number "9999999999" in offset '
            '"-9999999999" is too large',
        ),
    ],
)
def test_compile_fails_with_exact_message_given_malformed_expression(
    expression: str, message: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        compile_expr(expression)
    assert caught.value.message == message
    assert caught.value.code == "InvalidParameter"


def test_evaluate_fails_given_a_result_before_year_one() -> None:
    with pytest.raises(InvalidParameter) as caught:
        evaluate("${yyyymmdd-1}", ctx_for("0001-01-01"))
    assert caught.value.message == (
        'Invalid parameter "${yyyymmdd-1}": the result for business date 0001-01-01 is out of range'
    )


def test_compile_is_cached_given_the_same_text() -> None:
    assert compile_expr("${yyyymmdd-1}") is compile_expr("${yyyymmdd-1}")


# --- parameter strings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "dt=$bizdate",
        "  dt=$bizdate\tregion=cn \n $[hh24] x  ",
        "a=b=c =x y= $1",
        ' -p"-Dbizdate=$bizdate -Dh=$[yyyymmdd hh24 - 1/24]" ',
    ],
)
def test_parse_prints_back_unchanged_given_any_spacing(text: str) -> None:
    assert str(parse_params(text)) == text
    assert parse_params(text).render() == text


def test_parse_classifies_pieces_given_named_and_positional() -> None:
    parsed = parse_params("dt=$bizdate a=b=c =x y= $[hh24] region=cn")
    assert parsed.named == {"dt": "$bizdate", "region": "cn"}
    assert parsed.positional == ["a=b=c", "=x", "y=", "$[hh24]"]


def test_parse_keeps_the_whole_string_given_the_p_form() -> None:
    parsed = parse_params(' -p"-Dbizdate=$bizdate -Dgmt=$gmtdate" ')
    assert (parsed.whole, parsed.named) == (True, {})
    assert parsed.positional == ['-p"-Dbizdate=$bizdate -Dgmt=$gmtdate"']


def test_parse_fails_naming_the_piece_given_a_name_declared_twice() -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_params("dt=$bizdate dt=${yyyymmdd}")
    assert caught.value.message == 'Invalid parameter "dt=${yyyymmdd}": "dt" is declared twice'


def test_parse_fails_naming_the_piece_given_a_bad_name() -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_params("${x}=1")
    assert caught.value.message == (
        'Invalid parameter "${x}=1": bad parameter name "${x}" (a name may not contain '
        "$ { } [ ] ( ) quotes or backslashes)"
    )


def test_param_string_accessors_return_copies() -> None:
    parsed = parse_params("a=1 x")
    parsed.named["a"] = "changed"
    parsed.positional.append("y")
    assert (parsed.named, parsed.positional) == ({"a": "1"}, ["x"])


def test_param_strings_are_equal_given_the_same_pieces_in_other_spacing() -> None:
    assert parse_params("a=1  b=2") == parse_params("a=1 b=2")


def test_validate_returns_the_parsed_string_given_valid_text() -> None:
    assert validate_params("dt=$bizdate h=$[hh24-1/24] $cyctime") == parse_params(
        "dt=$bizdate h=$[hh24-1/24] $cyctime"
    )


def test_validate_fails_naming_piece_and_expression_given_bad_value() -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_params("region=cn dt=${yyyymmdd-x}")
    assert caught.value.message == (
        'Invalid parameter "dt=${yyyymmdd-x}": bad offset arithmetic "-x" in "${yyyymmdd-x}"'
    )


def test_validate_accepts_unknown_words_given_the_p_form() -> None:
    assert validate_params('-p"-Denv=$env_path -Dh=$[hh24]"').whole


def test_validate_workflow_params_fails_given_a_value_with_a_space() -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_workflow_params({"region": "u s"})
    assert caught.value.message == (
        'Invalid parameter "region=u s": a workflow parameter needs a non-empty name and value '
        "without spaces or '='"
    )


def test_validate_workflow_params_fails_given_a_malformed_expression() -> None:
    with pytest.raises(InvalidParameter, match=r'"day=\$\[yyyy-1\]": year/month offsets'):
        validate_workflow_params({"day": "$[yyyy-1]"})


# --- merging (workflow > NodeParameters > deployed) -------------------------------------------


DEPLOYED = parse_params("dt=$bizdate region=cn")


def test_merge_lets_the_workflow_value_win_given_the_spec_example() -> None:
    # Given node 101 deployed with `dt=$bizdate region=cn` and DagParameters {"region": "us"}
    merged = merge_params(DEPLOYED, None, {"region": "us"})
    # When its code is rendered for business date 2020-11-10
    rendered = render_code("select '${dt}','${region}';", resolve_params(merged, SEED))
    # Then the workflow value replaces the node's own
    assert rendered.code == "select '20201110','us';"


def test_merge_applies_node_parameters_per_key_given_the_spec_example() -> None:
    merged = merge_params(DEPLOYED, parse_params("dt=${yyyymmdd-1}"), {"region": "us"})
    assert resolve_params(merged, SEED).named == {"dt": "20201109", "region": "us"}


def test_merge_orders_workflow_over_override_over_deployed_given_one_name_everywhere() -> None:
    merged = merge_params(parse_params("k=deployed"), parse_params("k=override"), {"k": "wf"})
    assert str(merged) == "k=wf"


def test_merge_appends_new_names_given_override_and_workflow_names() -> None:
    merged = merge_params(DEPLOYED, parse_params("extra=1"), {"flow": "$gmtdate"})
    assert str(merged) == "dt=$bizdate region=cn extra=1 flow=$gmtdate"


def test_merge_replaces_positional_list_whole_given_override_positional_pieces() -> None:
    merged = merge_params(parse_params("$bizdate a=1 x y"), parse_params("p q r a=2"), {})
    assert (merged.positional, merged.named, str(merged)) == (
        ["p", "q", "r"],
        {"a": "2"},
        "p q r a=2",
    )


def test_merge_keeps_positional_list_given_override_without_positional_pieces() -> None:
    merged = merge_params(parse_params("$bizdate x"), parse_params("a=1"), {})
    assert merged.positional == ["$bizdate", "x"]


def test_merge_returns_deployed_itself_given_nothing_to_merge() -> None:
    deployed = parse_params("  dt=$bizdate  ")
    assert merge_params(deployed, None, {}) is deployed
    assert merge_params(deployed, ParamString(), {}) is deployed


def test_merge_fails_given_a_workflow_name_with_an_equals_sign() -> None:
    with pytest.raises(InvalidParameter, match=r'"a=b=c": a workflow parameter'):
        merge_params(DEPLOYED, None, {"a=b": "c"})


# --- resolving ----------------------------------------------------------------------------------


def test_resolve_follows_references_between_parameters_given_a_chain() -> None:
    text = "pt=${dt}_${region} dt=${day} day=$bizdate region=cn"
    resolved = resolve_params(parse_params(text), SEED)
    assert resolved.named == {
        "pt": "20201110_cn",
        "dt": "20201110",
        "day": "20201110",
        "region": "cn",
    }
    assert resolved.undefined == []


def test_resolve_leaves_undefined_and_self_references_as_written() -> None:
    resolved = resolve_params(parse_params("a=${missing}_x region=${region}"), SEED)
    assert resolved.named == {"a": "${missing}_x", "region": "${region}"}
    assert resolved.undefined == ["missing", "region"]


def test_resolve_fails_naming_the_cycle_given_circular_references() -> None:
    with pytest.raises(InvalidParameter) as caught:
        resolve_params(parse_params("a=${b} b=${a}"), SEED)
    assert caught.value.message == 'Invalid parameter "b=${a}": circular reference a -> b -> a'


def test_resolve_evaluates_positional_values_given_a_shell_string() -> None:
    resolved = resolve_params(parse_params("$bizdate ${yyyymmdd} $[yyyymmdd] const"), SEED)
    assert resolved.positional == ["20201110", "20201110", "20201111", "const"]
    assert resolved.to_param_values() == "20201110 20201110 20201111 const"


def test_resolve_keeps_piece_order_in_param_values_given_mixed_pieces() -> None:
    resolved = resolve_params(parse_params("$bizdate dt=${yyyymmdd-1} $[hh24-1/24]"), SEED)
    assert resolved.to_param_values() == "20201110 dt=20201109 23"


def test_resolve_evaluates_the_p_form_leniently_given_unknown_words() -> None:
    text = '-p"-Dbizdate=$bizdate -Denv=$env_path -Db=$[yyyymmdd hh24 - 1/24]"'
    resolved = resolve_params(parse_params(text), SEED)
    assert resolved.positional == ['-p"-Dbizdate=20201110 -Denv=$env_path -Db=20201110 23"']


def test_resolve_evaluates_workflow_expressions_per_node_context() -> None:
    merged = merge_params(parse_params("a=$nodeid"), None, {"when": "${yyyymmdd-1}"})
    first = resolve_params(merged, ctx_for("2020-11-10", node_id=1))
    second = resolve_params(merged, ctx_for("2020-11-11", node_id=2))
    assert (first.named, second.named) == (
        {"a": "1", "when": "20201109"},
        {"a": "2", "when": "20201110"},
    )


def test_resolve_fails_given_references_nested_too_deep() -> None:
    chain = " ".join(f"p{i}=${{p{i + 1}}}" for i in range(40)) + " p40=end"
    with pytest.raises(InvalidParameter, match="references nest too deep"):
        resolve_params(parse_params(chain), SEED)


# --- rendering code -----------------------------------------------------------------------------


def test_render_replaces_defined_names_and_lists_undefined_once() -> None:
    resolved = resolve_params(parse_params("dt=$bizdate"), SEED)
    result = render_code('echo ${dt} ${HOME} ${HOME} "${x:-y}"', resolved)
    assert result.code == 'echo 20201110 ${HOME} ${HOME} "${x:-y}"'
    assert result.undefined == ["HOME", "x:-y"]


def test_render_leaves_existing_positional_references_to_the_shell() -> None:
    resolved = resolve_params(parse_params("$bizdate $cyctime"), SEED)
    result = render_code("echo $1 ${2} ${3}", resolved)
    assert (result.code, result.undefined, result.argv) == (
        "echo $1 ${2} ${3}",
        ["3"],
        ["20201110", "20201111000000"],
    )


def test_render_does_not_rescan_substituted_values() -> None:
    resolved = resolve_params(merge_params(ParamString(), None, {"a": "${b}", "b": "x"}), SEED)
    assert resolved.named == {"a": "x", "b": "x"}
    literal = resolve_params(parse_params("a=${zz}"), SEED)
    assert render_code("${a}", literal).code == "${zz}"


def test_render_resolves_legacy_system_names_without_declaration() -> None:
    resolved = resolve_params(ParamString(), SEED)
    result = render_code("${bdp.system.bizdate} ${bdp.system.cyctime}", resolved)
    assert (result.code, result.undefined) == ("20201110 20201111000000", [])


def test_render_prefers_a_declared_name_over_the_legacy_system_name() -> None:
    resolved = resolve_params(parse_params("bdp.system.bizdate=x"), SEED)
    assert render_code("${bdp.system.bizdate}", resolved).code == "x"


# --- properties ---------------------------------------------------------------------------------

_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
_times = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31))


@FAST
@given(_dates, st.integers(min_value=0, max_value=3650))
def test_day_offset_equals_date_arithmetic_for_any_date(day: dt.date, n: int) -> None:
    ctx = EvalContext(day)
    assert evaluate(f"${{yyyymmdd-{n}}}", ctx) == (day - dt.timedelta(days=n)).strftime("%Y%m%d")
    assert evaluate(f"${{yyyy-mm-dd+{n}}}", ctx) == (day + dt.timedelta(days=n)).isoformat()


@FAST
@given(_times, st.integers(min_value=0, max_value=24 * 400))
def test_hour_fraction_equals_cyctime_minus_hours_for_any_time(when: dt.datetime, k: int) -> None:
    ctx = EvalContext(dt.date(2000, 1, 1), when)
    expected = (when.replace(microsecond=0) - dt.timedelta(hours=k)).strftime("%Y%m%d%H%M%S")
    assert evaluate(f"$[yyyymmddhh24miss-{k}/24]", ctx) == expected


@FAST
@given(_times, st.integers(min_value=-1440, max_value=1440))
def test_minute_fraction_equals_cyctime_plus_minutes(when: dt.datetime, m: int) -> None:
    ctx = EvalContext(dt.date(2000, 1, 1), when)
    expected = (when.replace(microsecond=0) + dt.timedelta(minutes=m)).strftime("%Y%m%d%H%M")
    sign = "+" if m >= 0 else "-"
    assert evaluate(f"$[yyyymmddhh24mi{sign}{abs(m)}/24/60]", ctx) == expected


@FAST
@given(_dates, st.integers(min_value=-240, max_value=240))
def test_month_offsets_clamp_like_dateutil_for_any_date(day: dt.date, n: int) -> None:
    shifted = day + relativedelta(months=n)
    sign = "+" if n >= 0 else "-"
    assert evaluate(f"${{yyyymm{sign}{abs(n)}}}", EvalContext(day)) == shifted.strftime("%Y%m")
    cyc = EvalContext(dt.date(2000, 1, 1), dt.datetime.combine(day, dt.time(5)))
    assert evaluate(f"$[add_months(yyyymmdd,{n})]", cyc) == shifted.strftime("%Y%m%d")


_grammar_text = st.text(alphabet="$[]{}()ymdhis24_,+-*/017 =\"'pxaz\t", max_size=40)


@FAST
@given(st.one_of(st.text(max_size=60), _grammar_text))
def test_parse_round_trips_or_raises_invalid_parameter_for_any_text(text: str) -> None:
    try:
        parsed = parse_params(text)
    except InvalidParameter:
        return
    assert str(parsed) == text
    assert str(parse_params(str(parsed))) == text


_REFERENCE = re.compile(r"\$\{([^{}]*)\}")


@FAST
@given(st.one_of(st.text(max_size=60), _grammar_text))
def test_any_text_evaluates_to_itself_or_its_value_or_raises_invalid_parameter_naming_it(
    text: str,
) -> None:
    # Only a `$` form can be invalid, and the error names the text; text without one is a
    # literal; evaluation is a function of the text and the date
    try:
        value = evaluate(text, SEED)
    except InvalidParameter as exc:
        assert "$" in text
        assert text in str(exc) or repr(text) in str(exc)
        return
    assert value == evaluate(text, SEED)
    if "$" not in text:
        assert value == text


# Parameter strings with names, references between them and positional values; code made of
# references to them, to system names, to undefined names and of stray `$`, `{`, `}`
_named_params = st.lists(
    st.sampled_from(["a=$bizdate", "b=${yyyymmdd-1}", "c=${a}", "d=", "e=${zz}", "p1", "p2"]),
    max_size=5,
).map(" ".join)
_code = st.lists(
    st.sampled_from(
        [
            *("${a}", "${b}", "${c}", "${d}", "${e}", "${1}", "${2}", "${zz}"),
            *("${bdp.system.bizdate}", "${", "}", "$", "select ", "'"),
        ]
    ),
    max_size=8,
).map("".join)


@FAST
@given(
    st.one_of(st.text(max_size=60), _grammar_text, _named_params),
    st.one_of(_grammar_text, _code),
)
def test_any_text_renders_defined_references_and_lists_exactly_the_undefined_ones(
    text: str, code: str
) -> None:
    # Near year 1, so date offsets may fall out of range: that too is InvalidParameter
    try:
        resolved = resolve_params(validate_params(text), EvalContext(dt.date(1, 1, 2)))
    except InvalidParameter:
        return
    rendered = render_code(code, resolved)

    def value_of(name: str) -> str | None:
        return resolved.named.get(name, resolved.system.get(name))

    def positional(name: str) -> bool:
        return re.fullmatch("[0-9]{1,9}", name) is not None and 1 <= int(name) <= len(
            resolved.positional
        )

    # every `${name}` of a defined name is replaced by its value, in one pass; the rest stay
    def substitute(match: re.Match[str]) -> str:
        value = value_of(match.group(1))
        return match.group(0) if value is None else value

    expected = _REFERENCE.sub(substitute, code)
    assert rendered.code == expected
    referenced = dict.fromkeys(_REFERENCE.findall(code))
    assert rendered.undefined == [
        n for n in referenced if value_of(n) is None and not positional(n)
    ]
    assert rendered.argv == resolved.positional


@FAST
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
        st.sampled_from(["$bizdate", "${yyyymmdd-1}", "$[hh24-1/24]", "cn", "${yyyymm}01"]),
        max_size=6,
    )
)
def test_rendered_named_params_parse_back_to_the_same_names(pairs: dict[str, str]) -> None:
    merged = merge_params(ParamString(), None, pairs)
    reparsed = parse_params(str(merged))
    assert reparsed.named == pairs
    assert (
        resolve_params(reparsed, SEED).to_param_values()
        == resolve_params(merged, SEED).to_param_values()
    )
