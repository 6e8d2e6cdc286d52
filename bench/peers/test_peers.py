"""Tests of the benchmark's pure parts: `.venv/bin/pytest bench/peers -q` (no peer installed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import opcenter_bench
import run_peers
from workloads import DATES, WORKLOADS, get


def test_workloads_have_the_shapes_of_issue_7():
    assert [len(w.nodes) for w in WORKLOADS.values()] == [200, 200, 200, 20]
    assert WORKLOADS["chain"].upstream["n199"] == ("n198",)
    assert len(WORKLOADS["fan"].upstream["sink"]) == 198
    assert all(ups == ("root",) for n, ups in WORKLOADS["fan"].upstream.items() if n[0] == "m")
    assert all(ups == () for ups in WORKLOADS["shell"].upstream.values())
    assert (DATES[0], DATES[-1], WORKLOADS["dates"].node_runs) == ("20240101", "20240130", 600)


def test_get_fails_naming_the_workload_given_an_unknown_name():
    try:
        get("ring")
    except ValueError as exc:
        assert str(exc) == "unknown workload 'ring'; known: chain, fan, shell, dates"
    else:
        raise AssertionError("no error")


def test_opcenter_spec_links_each_chain_node_to_its_predecessor():
    doc = opcenter_bench.spec(WORKLOADS["chain"])["spec"]
    assert len(doc["nodes"]) == 200 and len(doc["flow"]) == 199
    assert doc["flow"][0] == {
        "nodeId": "{{n001}}",
        "depends": [{"nodeId": "{{n000}}", "type": "Normal"}],
    }
    assert doc["nodes"][0]["script"]["runtime"] == {"command": "VIRTUAL"}


def test_opcenter_spec_makes_shell_nodes_that_run_true():
    node = opcenter_bench.spec(WORKLOADS["shell"])["spec"]["nodes"][7]
    assert node["name"] == "shell_s007"
    assert (node["script"]["content"], node["script"]["runtime"]) == (
        "true",
        {"command": "DIDE_SHELL"},
    )


def test_opcenter_run_command_names_the_date_range_given_the_dates_workload():
    cmd = opcenter_bench.run_command(WORKLOADS["dates"])
    assert cmd[1:] == [
        "run", "--workspace", "bench", "--env", "PROD", "bench_dates",
        "--from", "2024-01-01", "--to", "2024-01-30", "--wait",
    ]  # fmt: skip


def test_write_section_replaces_only_its_own_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n## Engine (issue 4)\n\nkeep\n\n## Peers (issue 7)\n\nold\n\n## Z\n\nz\n"
    )
    run_peers.write_section("## Peers (issue 7)\n\nnew\n", doc)
    assert doc.read_text() == (
        "# Benchmarks\n\n## Engine (issue 4)\n\nkeep\n\n## Peers (issue 7)\n\nnew\n\n## Z\n\nz\n"
    )


def test_write_section_appends_the_section_given_a_file_without_it(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Engine (issue 4)\n\nkeep\n")
    run_peers.write_section("## Peers (issue 7)\n\nnew\n", doc)
    assert (
        doc.read_text()
        == "# Benchmarks\n\n## Engine (issue 4)\n\nkeep\n\n## Peers (issue 7)\n\nnew\n"
    )


def test_row_gives_per_node_cost_and_ratio_to_opcenter():
    cell = run_peers.Cell(times=[2.0, 1.0, 3.0])
    row = run_peers._row(WORKLOADS["chain"], run_peers.ENGINES["dagster"], cell, 0.5, 0.25)
    assert row.endswith("| 2.00 | 1.00–3.00 | 10.00 | 4.0× | 8.0× |  |")


def test_row_says_why_given_a_workload_the_engine_cannot_run():
    row = run_peers._row(WORKLOADS["dates"], run_peers.ENGINES["prefect"], run_peers.Cell(), 1.0)
    assert row.endswith("| — | — | — | — | — | cannot: no notion of business date |")


def test_targets_give_the_best_ratio_the_floor_allows_the_embedded_run():
    results = {
        "chain": {
            "opcenter": run_peers.Cell(times=[0.5]),
            "opcenter-endpoint": run_peers.Cell(times=[0.1]),
            "opcenter-floor": run_peers.Cell(times=[0.25]),
            "luigi-1w": run_peers.Cell(times=[0.6]),
        }
    }
    lines = run_peers.targets(results)
    embedded = next(line for line in lines if "`opcenter` ≥ 1.5× ahead of luigi-1w" in line)
    assert "1.2× (MISS); at best 2.4×" in embedded and "took 0.250 s" in embedded
    endpoint = next(line for line in lines if "`opcenter-endpoint` ≥ 1.5×" in line)
    assert endpoint.endswith("6.0× (PASS)")  # no floor for the client: it imports no SQLAlchemy


def test_floor_command_is_opcenters_interpreter_importing_only_the_store_library():
    engine = run_peers.ENGINES["opcenter-floor"]
    argv, _ = engine.command(WORKLOADS["chain"], Path("/nonexistent"))
    assert argv == [
        sys.executable,
        str(Path(run_peers.__file__).parent / "peers" / "floor_bench.py"),
    ]
    source = Path(argv[1]).read_text()
    assert "import sqlalchemy.orm" in source and "opcenter" not in source.split('"""')[-1]
