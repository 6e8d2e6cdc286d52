"""The time baselines and ids an expression is evaluated against (one per instance)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from opcenter.errors import InvalidParameter

__all__ = ["BUILTINS", "EvalContext", "format_date", "format_datetime"]

# The `$name` built-ins, in the order the documentation lists them.
BUILTINS = ("bizdate", "cyctime", "gmtdate", "bizmonth", "jobid", "nodeid", "taskid")


def format_date(value: dt.date) -> str:
    """`yyyymmdd` (zero-padded even for years below 1000, unlike `strftime`)."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def format_datetime(value: dt.datetime) -> str:
    """`yyyymmddhh24miss`."""
    return (
        f"{value.year:04d}{value.month:02d}{value.day:02d}"
        f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
    )


@dataclass(frozen=True)
class EvalContext:
    """What one instance's parameters are computed from.

    - `bizdate` is the business date (the `${...}` baseline).
    - `cyctime` is the scheduled time (the `$[...]` baseline); it defaults to `bizdate + 1 day,
      00:00:00`, the manual-run (data-backfill) rule of docs/parameters.md. After construction
      `ctx.cyctime` always holds the effective value (never None), without tzinfo or
      microseconds.
    - `$gmtdate` is `bizdate + 1 day`; `$bizmonth` is the business month, or the month before it
      when the business date falls in the month of `$gmtdate` (the "current" month).
    - `$jobid`, `$nodeid`, `$taskid` are `dag_id`, `node_id`, `instance_id`; while an id is not
      known (None) the built-in evaluates to itself, as written (`$taskid`).
    """

    bizdate: dt.date
    cyctime: dt.datetime | None = None
    node_id: int | None = None
    dag_id: int | None = None
    instance_id: int | None = None
    # Filled in by __post_init__; never None afterwards.
    _cyctime: dt.datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A datetime is a date too; keep only its day so `${...}` never sees a time of day.
        if isinstance(self.bizdate, dt.datetime):
            object.__setattr__(self, "bizdate", self.bizdate.date())
        if not isinstance(self.bizdate, dt.date):
            raise TypeError(f"bizdate must be a datetime.date, not {type(self.bizdate).__name__}")
        if self.bizdate >= dt.date.max:
            # $gmtdate and the default cyctime are the next day, which does not exist.
            raise InvalidParameter(f'Invalid business date "{self.bizdate}": out of range')
        cyctime = self.cyctime
        if cyctime is None:
            cyctime = dt.datetime.combine(self.bizdate, dt.time()) + dt.timedelta(days=1)
        elif not isinstance(cyctime, dt.datetime):
            raise TypeError(f"cyctime must be a datetime.datetime, not {type(cyctime).__name__}")
        # Parameter values are wall-clock strings in the server's zone: drop any tzinfo.
        cyctime = cyctime.replace(tzinfo=None, microsecond=0)
        object.__setattr__(self, "cyctime", cyctime)  # so readers never see None
        object.__setattr__(self, "_cyctime", cyctime)

    @property
    def scheduled(self) -> dt.datetime:
        """The effective scheduled time (`cyctime`, or its manual-run default)."""
        return self._cyctime

    @property
    def gmtdate(self) -> dt.date:
        return self.bizdate + dt.timedelta(days=1)

    @property
    def bizmonth(self) -> str:
        biz, current = self.bizdate, self.gmtdate
        if (biz.year, biz.month) != (current.year, current.month):
            return f"{biz.year:04d}{biz.month:02d}"
        year, month = (biz.year, biz.month - 1) if biz.month > 1 else (biz.year - 1, 12)
        return f"{year:04d}{month:02d}"

    def builtin(self, name: str) -> str:
        """The value of the built-in `$name` (one of BUILTINS) in this context, memoised."""
        cache = self._values
        value = cache.get(name)
        if value is None:
            value = cache[name] = self._compute(name)
        return value

    @cached_property
    def _values(self) -> dict[str, str]:
        return {}

    def _compute(self, name: str) -> str:
        if name == "bizdate":
            return format_date(self.bizdate)
        if name == "cyctime":
            return format_datetime(self._cyctime)
        if name == "gmtdate":
            return format_date(self.gmtdate)
        if name == "bizmonth":
            return self.bizmonth
        ids = {"jobid": self.dag_id, "nodeid": self.node_id, "taskid": self.instance_id}
        value = ids[name]  # KeyError: not a built-in, a bug of the caller
        return f"${name}" if value is None else str(value)
