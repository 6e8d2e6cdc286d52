"""Benchmark: parameter evaluations per second (not a test).

A realistic 10-parameter node string, merged with a node override and workflow parameters,
resolved for every business date of ten years, on one core. Compilation is cached, so this
measures what RunManualDagNodes pays per instance: shifting dates and formatting them.

    .venv/bin/python bench/bench_params.py
"""

from __future__ import annotations

import datetime as dt
import time

from opcenter.domain.params import (
    EvalContext,
    merge_params,
    parse_params,
    render_code,
    resolve_params,
)

TARGET_PER_SECOND = 100_000  # parameter evaluations per second, one core
NODE_PARAMS = (
    "bizdate=$bizdate cyctime=$cyctime yesterday=${yyyymmdd-1} day=${yyyy-mm-dd} "
    "last_month=${yyyymm-1} first_day=${yyyymm}01 week_ago=${yyyymmdd-7*1} "
    "prev_hour=$[yyyymmddhh24miss-1/24] last_year=$[add_months(yyyymmdd,-12)] "
    "pt=dt_${yyyymmdd}_h$[hh24-1/24]"
)
CODE = "insert overwrite table t partition (pt='${pt}') select * from s where d='${day}';"
DAYS = 3_650
ROUNDS = 3


def _measure(params_count: int, days: list[dt.date], params: object) -> tuple[float, int]:
    # CPU time of this process: "on one core", unaffected by other processes on the machine.
    start = time.process_time()
    for day in days:
        resolve_params(params, EvalContext(day, node_id=1, dag_id=2, instance_id=3))  # type: ignore[arg-type]
    elapsed = time.process_time() - start
    return elapsed, params_count * len(days)


def main() -> None:
    merged = merge_params(
        parse_params(NODE_PARAMS), parse_params("yesterday=${yyyymmdd-2}"), {"region": "cn"}
    )
    count = len(merged.named) + len(merged.positional)
    first = dt.date(2015, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range(DAYS)]
    _measure(count, days[:100], merged)  # warm the compile cache
    best = min(_measure(count, days, merged)[0] for _ in range(ROUNDS))
    rate = count * len(days) / best
    resolved = resolve_params(merged, EvalContext(days[-1]))
    render_start = time.process_time()
    for _ in range(10_000):
        render_code(CODE, resolved)
    render_rate = 10_000 / (time.process_time() - render_start)
    verdict = "PASS" if rate >= TARGET_PER_SECOND else "MISS"
    print(f"{'measure (CPU time, one core)':<36} {'value':>14} {'target':>12}  result")
    print(f"{'parameter evaluations / s':<36} {rate:>14,.0f} {TARGET_PER_SECOND:>12,}  {verdict}")
    print(f"{'instances resolved / s (' + str(count) + ' params)':<36} {rate / count:>14,.0f}")
    print(f"{'code renders / s':<36} {render_rate:>14,.0f}")
    print(f"sample: {resolved.to_param_values()}")


if __name__ == "__main__":
    main()
