"""The planning rules of docs/running.md ("What a run creates", "Time baselines"), pure."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opcenter.domain.model import TaskType
from opcenter.domain.planning import (
    MANUAL_TIMEOUT_CEILING_SECONDS,
    business_dates,
    cyctime_of,
    day_start_ms,
    parse_json_object,
    parse_node_ids,
    select_task_types,
    timeout_seconds,
)
from opcenter.errors import InvalidParameter, InvalidParameterFormat, MissingParameter

TODAY = dt.date(2020, 11, 11)


def dates(**kw: str | None) -> list[dt.date]:
    args = {"biz_date": None, "start_biz_date": None, "end_biz_date": None, **kw}
    return business_dates(today=TODAY, **args)  # type: ignore[arg-type]


def test_biz_date_gives_one_date_given_yesterday() -> None:
    assert dates(biz_date="2020-11-10 00:00:00") == [dt.date(2020, 11, 10)]


def test_biz_date_fails_given_today() -> None:
    with pytest.raises(InvalidParameter) as err:
        dates(biz_date="2020-11-11 00:00:00")
    assert err.value.message == (
        "BizDate='2020-11-11 00:00:00' is not in the past: a business date must be at most "
        "2020-11-10 00:00:00 (today - 1)."
    )


@pytest.mark.parametrize("value", ["2020-11-10", "20201110", "2020/11/10 00:00:00", "x"])
def test_biz_date_fails_given_another_form(value: str) -> None:
    with pytest.raises(InvalidParameterFormat) as err:
        dates(biz_date=value)
    assert err.value.message == f"BizDate={value!r} is not a date of the form yyyy-MM-dd 00:00:00."


def test_biz_date_fails_given_a_time_of_day() -> None:
    with pytest.raises(InvalidParameter) as err:
        dates(biz_date="2020-11-09 01:00:00")
    assert "hour, minute and second of a business date must be 00" in err.value.message


def test_biz_date_fails_given_an_impossible_day() -> None:
    with pytest.raises(InvalidParameterFormat, match="is not a calendar date"):
        dates(biz_date="2020-02-30 00:00:00")


def test_range_gives_every_day_in_order_given_start_and_end() -> None:
    assert dates(start_biz_date="2020-02-27 00:00:00", end_biz_date="2020-03-01 00:00:00") == [
        dt.date(2020, 2, 27),
        dt.date(2020, 2, 28),
        dt.date(2020, 2, 29),
        dt.date(2020, 3, 1),
    ]


def test_range_fails_given_biz_date_too() -> None:
    with pytest.raises(InvalidParameter, match="cannot be given together"):
        dates(biz_date="2020-11-01 00:00:00", start_biz_date="2020-11-01 00:00:00")


@pytest.mark.parametrize("given", ["start_biz_date", "end_biz_date"])
def test_range_fails_given_only_one_end(given: str) -> None:
    with pytest.raises(InvalidParameter, match="without"):
        dates(**{given: "2020-11-01 00:00:00"})


def test_range_fails_given_start_after_end() -> None:
    with pytest.raises(InvalidParameter, match="is after EndBizDate"):
        dates(start_biz_date="2020-11-02 00:00:00", end_biz_date="2020-11-01 00:00:00")


def test_range_allows_366_days_and_fails_given_367() -> None:
    assert (
        len(dates(start_biz_date="2019-01-01 00:00:00", end_biz_date="2020-01-01 00:00:00")) == 366
    )
    with pytest.raises(InvalidParameter, match="spans 367 days"):
        dates(start_biz_date="2019-01-01 00:00:00", end_biz_date="2020-01-02 00:00:00")


def test_range_fails_given_an_end_not_in_the_past() -> None:
    with pytest.raises(
        InvalidParameter, match="EndBizDate='2020-11-11 00:00:00' is not in the past"
    ):
        dates(start_biz_date="2020-11-01 00:00:00", end_biz_date="2020-11-11 00:00:00")


def test_dates_fail_with_missing_biz_date_given_none() -> None:
    with pytest.raises(MissingParameter) as err:
        dates()
    assert err.value.parameter == "BizDate"


def test_node_ids_parse_given_commas_and_spaces() -> None:
    assert parse_node_ids(" 12, 13 ,,14", "IncludeNodeIds") == [12, 13, 14]
    assert parse_node_ids("", "IncludeNodeIds") is None


def test_node_ids_fail_given_a_word() -> None:
    with pytest.raises(InvalidParameterFormat, match="'x1' is not a node id"):
        parse_node_ids("12,x1", "ExcludeNodeIds")


def test_json_object_fails_given_malformed_json() -> None:
    with pytest.raises(InvalidParameterFormat, match=r"^NodeParameters='\{1' is not valid JSON"):
        parse_json_object("{1", "NodeParameters")


def test_json_object_fails_given_a_list() -> None:
    with pytest.raises(InvalidParameterFormat, match="must be a JSON object"):
        parse_json_object("[1]", "DagParameters")


def test_task_types_are_manual_given_no_selection() -> None:
    assert select_task_types([1, 2], include=None, exclude=None) == {
        1: TaskType.MANUAL,
        2: TaskType.MANUAL,
    }


def test_task_types_mark_unchosen_and_excluded_given_include_and_exclude() -> None:
    types = select_task_types([1, 2, 3], include=[1, 2], exclude=[2])
    assert types == {1: TaskType.MANUAL, 2: TaskType.SKIP, 3: TaskType.SKIP_UNCHOOSE}


def test_task_types_apply_exclude_to_the_whole_flow_given_no_include() -> None:
    assert select_task_types([1, 2], include=None, exclude=[2]) == {
        1: TaskType.MANUAL,
        2: TaskType.SKIP,
    }


def test_task_types_fail_naming_the_id_given_an_unknown_node() -> None:
    with pytest.raises(InvalidParameter) as err:
        select_task_types([1, 2], include=[1, 9], exclude=None, flow_name="f")
    assert err.value.message == (
        "IncludeNodeIds: node id 9 is not a node of workflow 'f' in this environment."
    )


def test_time_baselines_follow_the_backfill_rule() -> None:
    assert cyctime_of(dt.date(2020, 11, 10)) == dt.datetime(2020, 11, 11, 0, 0)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert day_start_ms(dt.date(2020, 5, 25), shanghai) == 1590336000000


def test_timeout_is_the_node_timeout_or_the_three_day_ceiling() -> None:
    assert timeout_seconds(2) == 7200
    assert timeout_seconds(0) == MANUAL_TIMEOUT_CEILING_SECONDS == 259200
    assert timeout_seconds(100) == MANUAL_TIMEOUT_CEILING_SECONDS
