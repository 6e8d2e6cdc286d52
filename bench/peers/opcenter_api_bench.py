"""opcenter through its OpenAPI: `opcenter serve` already running (like Airflow's components),
each run started with the official SDK's RunManualDagNodes and timed until every Dag succeeded.

This is how a DataWorks user drives opcenter from code; it leaves out the start-up of a CLI
process (importing SQLAlchemy and the engine, ~0.6 s), which `opcenter run --wait` pays each
time. Usage (with opcenter's python): ``opcenter_api_bench.py setup|run WORKLOAD|teardown
--home DIR``; ``run`` prints ``{"seconds": S}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import opcenter_bench
from workloads import get

KEY_ID = "LTAIbenchpeers0000000001"
KEY_SECRET = "bench-peers-secret-000000000000"
POLL_SECONDS = 0.005
RUN_TIMEOUT_SECONDS = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _state(home: Path) -> dict:
    return json.loads((home / "server.json").read_text())


def _client(port: int):
    from alibabacloud_dataworks_public20200518.client import Client
    from alibabacloud_tea_openapi.models import Config

    return Client(
        Config(
            access_key_id=KEY_ID,
            access_key_secret=KEY_SECRET,
            endpoint=f"127.0.0.1:{port}",
            protocol="http",
            read_timeout=60_000,
        )
    )


def setup(home: Path) -> None:
    """Workflows applied and deployed (not timed), then `opcenter serve` started on them."""
    data_dir = home / "data"
    opcenter_bench.setup(data_dir)
    port = _free_port()
    env = opcenter_bench.run_env(data_dir)
    env.update(OPCENTER_ROOT_ACCESS_KEY_ID=KEY_ID, OPCENTER_ROOT_ACCESS_KEY_SECRET=KEY_SECRET)
    log = (home / "serve.log").open("ab")
    server = subprocess.Popen(
        [opcenter_bench.opcenter_exe(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (home / "server.json").write_text(json.dumps({"pid": server.pid, "port": port}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None:
                raise SystemExit(
                    f"opcenter serve exited {server.returncode}: see serve.log"
                ) from None
            time.sleep(0.1)
    raise SystemExit("opcenter serve did not start listening in 60 s")


def run(workload_name: str, home: Path) -> float:
    from alibabacloud_dataworks_public20200518 import models

    workload = get(workload_name)
    client = _client(_state(home)["port"])
    dates = [f"{opcenter_bench._iso(d)} 00:00:00" for d in workload.dates]
    request = models.RunManualDagNodesRequest(
        project_env="PROD", project_name=opcenter_bench.WORKSPACE,
        flow_name=opcenter_bench.flow_name(workload),
    )  # fmt: skip
    if len(dates) == 1:
        request.biz_date = dates[0]
    else:
        request.start_biz_date, request.end_biz_date = dates[0], dates[-1]
    start = time.perf_counter()
    dag_id = client.run_manual_dag_nodes(request).body.dag_id
    op_seq = client.get_dag(
        models.GetDagRequest(dag_id=dag_id, project_env="PROD")
    ).body.data.op_seq
    listing = models.ListDagsRequest(op_seq=op_seq, project_env="PROD")
    while time.perf_counter() - start < RUN_TIMEOUT_SECONDS:
        statuses = [d.status for d in client.list_dags(listing).body.data.dags]
        if "FAILURE" in statuses:
            raise SystemExit(f"a Dag of {workload.name} failed")
        if len(statuses) == len(dates) and all(s == "SUCCESS" for s in statuses):
            return time.perf_counter() - start
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"{workload.name} did not finish in {RUN_TIMEOUT_SECONDS} s")


def teardown(home: Path) -> None:
    try:
        pid = _state(home)["pid"]
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=("setup", "run", "teardown"))
    parser.add_argument("workload", nargs="?")
    parser.add_argument("--home", required=True, type=Path)
    args = parser.parse_args(argv)
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if args.command == "setup":
        setup(home)
    elif args.command == "teardown":
        teardown(home)
    else:
        print(json.dumps({"seconds": run(args.workload, home)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
