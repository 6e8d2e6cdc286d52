"""Planning a manual run (pure): which nodes run, for which business dates, at which times.

Every rule here is one of docs/running.md ("What a run creates", "Time baselines of a manual run");
each raises the contract's error naming the parameter and the offending value, so the service can
validate a whole call before it writes anything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from opcenter.domain.model import TaskType
from opcenter.errors import InvalidParameter, InvalidParameterFormat, MissingParameter

__all__ = [
    "MANUAL_TIMEOUT_CEILING_SECONDS",
    "MAX_RANGE_DAYS",
    "business_dates",
    "cyctime_of",
    "day_start_ms",
    "format_biz_date",
    "parse_biz_date",
    "parse_json_object",
    "parse_node_ids",
    "select_task_types",
    "timeout_seconds",
]

MAX_RANGE_DAYS = 366  # at most this many business dates (Dags) per call
MANUAL_TIMEOUT_CEILING_SECONDS = 3 * 24 * 3600  # a manual instance never runs past 3 days

_BIZ_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def parse_biz_date(value: str, parameter: str = "BizDate") -> dt.date:
    """A business date written `yyyy-MM-dd 00:00:00` (the time must be midnight)."""
    match = _BIZ_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameterFormat(
            f"{parameter}={value!r} is not a date of the form yyyy-MM-dd 00:00:00."
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if (hour, minute, second) != (0, 0, 0):
        raise InvalidParameter(
            f"{parameter}={value!r}: the hour, minute and second of a business date must be 00."
        )
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidParameterFormat(f"{parameter}={value!r} is not a calendar date.") from None


def format_biz_date(value: dt.date) -> str:
    """The API form of a business date, `yyyy-MM-dd 00:00:00`."""
    return f"{value.isoformat()} 00:00:00"


def _check_past(value: dt.date, parameter: str, raw: str, today: dt.date) -> None:
    latest = today - dt.timedelta(days=1)
    if value > latest:
        raise InvalidParameter(
            f"{parameter}={raw!r} is not in the past: a business date must be at most "
            f"{format_biz_date(latest)} (today - 1)."
        )


def business_dates(
    *,
    biz_date: str | None,
    start_biz_date: str | None,
    end_biz_date: str | None,
    today: dt.date,
) -> list[dt.date]:
    """The business dates of a run, ascending: `[BizDate]` or every day of Start..End (both
    inclusive). `today` is the server's local date (settings.timezone)."""
    biz_date, start_biz_date, end_biz_date = (
        v if v not in ("", None) else None for v in (biz_date, start_biz_date, end_biz_date)
    )
    if biz_date is not None and (start_biz_date is not None or end_biz_date is not None):
        given = "StartBizDate" if start_biz_date is not None else "EndBizDate"
        raise InvalidParameter(
            f"BizDate={biz_date!r} and {given} cannot be given together: give either BizDate "
            "or StartBizDate and EndBizDate."
        )
    if biz_date is not None:
        day = parse_biz_date(biz_date, "BizDate")
        _check_past(day, "BizDate", biz_date, today)
        return [day]
    if start_biz_date is None and end_biz_date is None:
        raise MissingParameter("BizDate")
    if start_biz_date is None or end_biz_date is None:
        given, missing = (
            ("StartBizDate", "EndBizDate")
            if end_biz_date is None
            else ("EndBizDate", "StartBizDate")
        )
        value = start_biz_date if end_biz_date is None else end_biz_date
        raise InvalidParameter(f"{given}={value!r} is given without {missing}: give both.")
    start = parse_biz_date(start_biz_date, "StartBizDate")
    end = parse_biz_date(end_biz_date, "EndBizDate")
    if start > end:
        raise InvalidParameter(
            f"StartBizDate={start_biz_date!r} is after EndBizDate={end_biz_date!r}."
        )
    _check_past(end, "EndBizDate", end_biz_date, today)
    count = (end - start).days + 1
    if count > MAX_RANGE_DAYS:
        raise InvalidParameter(
            f"StartBizDate={start_biz_date!r} to EndBizDate={end_biz_date!r} spans {count} "
            f"days; a range may span at most {MAX_RANGE_DAYS}."
        )
    return [start + dt.timedelta(days=i) for i in range(count)]


def parse_node_ids(text: str | None, parameter: str) -> list[int] | None:
    """Comma-separated node ids (`74324,74325`); None when not given. Blank items are ignored."""
    if text is None or not str(text).strip():
        return None
    ids: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise InvalidParameterFormat(
                f"{parameter}={text!r}: {item!r} is not a node id (comma-separated integers)."
            )
        ids.append(int(item))
    return ids


def parse_json_object(text: str | None, parameter: str) -> dict[str, str]:
    """A JSON object of string values (`NodeParameters`, `DagParameters`); {} when not given."""
    if text is None or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidParameterFormat(
            f"{parameter}={text!r} is not valid JSON: {exc.msg} at position {exc.pos}."
        ) from None
    if not isinstance(value, dict):
        raise InvalidParameterFormat(f"{parameter}={text!r} must be a JSON object.")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise InvalidParameter(
                f"{parameter}={text!r}: the value of {key!r} must be a string, not {item!r}."
            )
        out[key] = item if isinstance(item, str) else str(item)
    return out


def _unknown(ids: Iterable[int], known: Mapping[int, object] | set[int]) -> list[int]:
    return [i for i in ids if i not in known]


def select_task_types(
    node_ids: Iterable[int],
    *,
    include: list[int] | None,
    exclude: list[int] | None,
    flow_name: str = "",
) -> dict[int, TaskType]:
    """The TaskType of every node: MANUAL runs; SKIP (dry run) for an excluded node;
    SKIP_UNCHOOSE (dry run) for a node outside `include` when `include` is given. `exclude`
    without `include` applies to the whole workflow. A node id that is not a node of the flow
    raises InvalidParameter naming it."""
    nodes = set(node_ids)
    for parameter, ids in (("IncludeNodeIds", include), ("ExcludeNodeIds", exclude)):
        missing = _unknown(ids or [], nodes)
        if missing:
            raise InvalidParameter(
                f"{parameter}: node id {missing[0]} is not a node of workflow {flow_name!r} "
                "in this environment."
            )
    chosen = set(include) if include is not None else nodes
    excluded = set(exclude or [])
    types: dict[int, TaskType] = {}
    for node in sorted(nodes):
        if node in excluded:
            types[node] = TaskType.SKIP
        elif node not in chosen:
            types[node] = TaskType.SKIP_UNCHOOSE
        else:
            types[node] = TaskType.MANUAL
    return types


def day_start_ms(day: dt.date, tz: ZoneInfo) -> int:
    """Epoch milliseconds of `day` 00:00:00 in the server's time zone."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp() * 1000)


def cyctime_of(day: dt.date) -> dt.datetime:
    """The scheduled time of a manual run for business date `day`: `day + 1, 00:00:00`
    (the data-backfill rule; also `$gmtdate`'s day)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def timeout_seconds(timeout_hours: int | None) -> int:
    """A node's `Timeout` in seconds, or the 3-day ceiling of manual instances when it has none;
    never more than the ceiling."""
    if not timeout_hours or timeout_hours <= 0:
        return MANUAL_TIMEOUT_CEILING_SECONDS
    return min(int(timeout_hours) * 3600, MANUAL_TIMEOUT_CEILING_SECONDS)
