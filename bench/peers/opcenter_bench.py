"""opcenter: the workloads as DataWorks Spec files (kind ManualWorkflow), run exactly as a user
runs them, with ``opcenter run --wait`` on the default SQLite store of a data directory.

Usage (with opcenter's python): ``opcenter_bench.py setup --data-dir DIR`` writes one spec file
per workload under DIR/specs, creates workspace ``bench`` and applies and deploys every file
(not timed); ``opcenter_bench.py run WORKLOAD --data-dir DIR`` runs the timed command once. The
driver times :func:`run_command` as a whole process. No-op nodes are VIRTUAL nodes, shell nodes
DIDE_SHELL nodes with the content ``true``; ``OPCENTER_WORKERS=2`` gives two worker slots.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from workloads import SHELL_PARALLELISM, WORKLOADS, Workload, get

__all__ = ["WORKSPACE", "flow_name", "run_command", "run_env", "setup", "spec", "version"]

WORKSPACE = "bench"


def opcenter_exe() -> str:
    """The ``opcenter`` script next to the running interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / "opcenter")


def flow_name(workload: Workload) -> str:
    return f"bench_{workload.name}"


def _node(workload: Workload, name: str) -> dict:
    shell = workload.kind == "shell"
    return {
        "id": name,
        "name": f"{workload.name}_{name}",  # file names are unique within a workspace
        "trigger": {"type": "Manual"},
        "script": {
            "path": f"{flow_name(workload)}/{name}",
            "language": "shell" if shell else "none",
            "content": "true" if shell else "",
            "runtime": {"command": "DIDE_SHELL" if shell else "VIRTUAL"},
        },
    }


def spec(workload: Workload) -> dict:
    """The workload as a DataWorks Spec document of kind ManualWorkflow."""
    return {
        "version": "1.1.0",
        "kind": "ManualWorkflow",
        "metadata": {"description": f"benchmark workload: {workload.title}"},
        "spec": {
            "name": flow_name(workload),
            "nodes": [_node(workload, name) for name in workload.nodes],
            "flow": [
                {
                    "nodeId": f"{{{{{name}}}}}",
                    "depends": [{"nodeId": f"{{{{{up}}}}}", "type": "Normal"} for up in ups],
                }
                for name, ups in workload.upstream.items()
                if ups
            ],
        },
    }


def run_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OPCENTER_DATA_DIR=str(data_dir), OPCENTER_WORKERS=str(SHELL_PARALLELISM))
    return env


def _iso(date: str) -> str:
    return f"{date[:4]}-{date[4:6]}-{date[6:]}"


def run_command(workload: Workload) -> list[str]:
    """The timed command: one ``opcenter run --wait`` of the workload's workflow."""
    cmd = [opcenter_exe(), "run", "--workspace", WORKSPACE, "--env", "PROD", flow_name(workload)]
    if len(workload.dates) == 1:
        cmd += ["--bizdate", _iso(workload.dates[0])]
    else:
        cmd += ["--from", _iso(workload.dates[0]), "--to", _iso(workload.dates[-1])]
    return [*cmd, "--wait"]


def endpoint_command(workload: Workload, home: Path) -> tuple[list[str], dict[str, str]]:
    """The same run sent with ``--endpoint`` to the server opcenter_api_bench.py's setup started
    in ``home`` (signed with its AccessKey), and the command's environment."""
    import opcenter_api_bench  # it imports this module

    port = opcenter_api_bench._state(home)["port"]
    env = {
        **os.environ,
        "OPCENTER_ACCESS_KEY_ID": opcenter_api_bench.KEY_ID,
        "OPCENTER_ACCESS_KEY_SECRET": opcenter_api_bench.KEY_SECRET,
    }
    return [*run_command(workload), "--endpoint", f"127.0.0.1:{port}"], env


def _cli(args: list[str], data_dir: Path) -> str:
    result = subprocess.run(
        [opcenter_exe(), *args], env=run_env(data_dir), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"opcenter {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def setup(data_dir: Path) -> None:
    """Fresh data directory, workspace ``bench``, every workload applied and deployed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    specs = data_dir / "specs"
    specs.mkdir(exist_ok=True)
    _cli(["workspace", "create", WORKSPACE, "--mode", "standard"], data_dir)
    for workload in WORKLOADS.values():
        path = specs / f"{flow_name(workload)}.json"
        path.write_text(json.dumps(spec(workload), indent=1))
        _cli(["apply", str(path), "--workspace", WORKSPACE, "--deploy"], data_dir)


def version() -> str:
    """``opcenter --version`` as printed, e.g. ``opcenter, version 0.1.0``."""
    result = subprocess.run([opcenter_exe(), "--version"], capture_output=True, text=True)
    return result.stdout.strip().rsplit(" ", 1)[-1] if result.returncode == 0 else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=("setup", "run"))
    parser.add_argument("workload", nargs="?")
    parser.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    if args.command == "setup":
        setup(data_dir)
        return 0
    return subprocess.run(run_command(get(args.workload)), env=run_env(data_dir)).returncode


if __name__ == "__main__":
    sys.exit(main())
