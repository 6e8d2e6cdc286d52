"""The targets of the performance round (issue 16), one row each, gathered across benchmarks.

Each benchmark that measures one of these rows calls :func:`record`; under `make bench`
(bench/run.py) the rows go to a file named by ``OPCENTER_BENCH_SUMMARY`` and bench/run.py prints
them all at the end, every row with its target (a row no benchmark measured says so), and writes
them into docs/benchmarks.md. Run alone, a benchmark prints its own table and records nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROWS", "Row", "compile_sources", "read", "record", "render"]

SUMMARY_ENV = "OPCENTER_BENCH_SUMMARY"


@dataclass(frozen=True)
class Row:
    key: str
    measure: str
    target: str
    source: str  # the benchmark that measures it


ROWS = (
    Row(
        "cli_chain",
        "`opcenter run --wait`, 200-node no-op chain, whole process",
        "≤ 0.30 s",
        "bench_paths.py",
    ),
    Row("cli_fan", "same, 200-node fan", "≤ 0.30 s", "bench_paths.py"),
    Row("cli_dates", "same, 30-date × 20-node range", "≤ 0.40 s", "bench_paths.py"),
    Row(
        "cli_chain_endpoint",
        "same, `--endpoint` (server up), 200-node chain",
        "≤ 0.30 s",
        "bench_paths.py",
    ),
    Row("cli_fan_endpoint", "same, `--endpoint`, 200-node fan", "≤ 0.30 s", "bench_paths.py"),
    Row(
        "cli_dates_endpoint",
        "same, `--endpoint`, 30-date × 20-node range",
        "≤ 0.40 s",
        "bench_paths.py",
    ),
    Row(
        "api_chain",
        "through the API (server up), no-op chain",
        "≤ 0.25 ms/node",
        "bench_paths.py",
    ),
    Row("api_fan", "through the API (server up), fan", "≤ 0.25 ms/node", "bench_paths.py"),
    Row(
        "engine_1000",
        "engine, 1,000-node layered virtual workflow",
        "≥ 20,000 instances/s",
        "bench_engine.py",
    ),
    Row("range_365", "365-day × 20-node range", "≤ 0.8 s", "bench_engine.py"),
    Row(
        "api_cpu",
        "server CPU per RunManualDagNodes (20-node flow)",
        "≤ 4 ms",
        "bench_api_load.py",
    ),
    Row(
        "api_32",
        "32 SDK clients, one server process",
        "≥ 250 calls/s, p99 ≤ 250 ms",
        "bench_api_load.py",
    ),
    Row(
        "api_open",
        "open loop at 100 calls/s, one server process",
        "p99 ≤ 50 ms",
        "bench_api_load.py",
    ),
    Row(
        "memory",
        "server memory after 100,000 finished instances",
        "flat",
        "bench_memory.py",
    ),
)
_KEYS = {row.key for row in ROWS}


def compile_sources() -> None:
    """Byte-compile opcenter's sources before timing whole processes. An installed opcenter
    has its bytecode after its first run; where PYTHONDONTWRITEBYTECODE is set (as on some CI
    machines) every process would compile the sources again (50–60 ms here), which is not what
    a user's command costs."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "src" / "opcenter"), quiet=1)


def record(key: str, measured: str, passed: bool | None) -> None:
    """Note the figure of one row (a no-op unless bench/run.py asked for the rows)."""
    if key not in _KEYS:
        raise KeyError(f"unknown summary row {key!r}")
    target = os.environ.get(SUMMARY_ENV)
    if not target:
        return
    line = json.dumps({"key": key, "measured": measured, "passed": passed}, ensure_ascii=False)
    with open(target, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def read(path: Path) -> dict[str, dict]:
    """The recorded figures by row key (the last one wins when a row was recorded twice)."""
    found: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                found[entry["key"]] = entry
    return found


def render(found: dict[str, dict]) -> list[str]:
    """The markdown table: every row, measured or not."""
    lines = ["| measure | measured | target | result |", "| --- | --- | --- | --- |"]
    for row in ROWS:
        entry = found.get(row.key)
        if entry is None:
            lines.append(f"| {row.measure} | not measured ({row.source}) | {row.target} | — |")
            continue
        verdict = {True: "PASS", False: "MISS", None: "—"}[entry["passed"]]
        lines.append(f"| {row.measure} | {entry['measured']} | {row.target} | {verdict} |")
    return lines
