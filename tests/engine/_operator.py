"""A second process that performs instance operations on a store beside a running engine.

    python tests/engine/_operator.py URL SCHEMA DATA_DIR      (SCHEMA "-" for none)

It opens its own `Database` and `ServiceContext` on the store (as the CLI does next to
`opcenter serve`), prints "READY", then reads lines "<Operation> <InstanceId>" (Operation as in
`domain.states.Operation`, e.g. "StopInstance 12") from stdin and answers each with one line:
"OK", the error's code for an `OpcenterError` ("Invalid.Instance.Status" …), or
"CRASH <type>: <message>" for anything else. Used by tests/engine/test_state_machine.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from opcenter.domain.states import Operation
from opcenter.errors import OpcenterError
from opcenter.service import instances as ops
from opcenter.service.context import Caller, ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database

CALLER = Caller(name="remote")
OPERATIONS: dict[str, Callable[..., bool]] = {
    Operation.RESTART.value: ops.restart_instance,
    Operation.SET_SUCCESS.value: ops.set_success_instance,
    Operation.STOP.value: ops.stop_instance,
    Operation.SUSPEND.value: ops.suspend_instance,
    Operation.RESUME.value: ops.resume_instance,
}


def perform(ctx: ServiceContext, operation: str, instance_id: int, caller: Caller) -> str:
    """Run one operation; the answer line (also used in-process by the test, so both
    processes answer in the same words)."""
    try:
        OPERATIONS[operation](ctx, instance_id=instance_id, project_env="PROD", caller=caller)
    except OpcenterError as exc:
        return exc.code
    except Exception as exc:
        return f"CRASH {type(exc).__name__}: {exc}".replace("\n", " ")
    return "OK"


def main(argv: list[str]) -> None:
    url, schema, data_dir = argv
    settings = load_settings(environ={}, dotenv=None, data_dir=Path(data_dir), timezone="UTC")
    db = Database(url, schema=None if schema == "-" else schema)
    ctx = ServiceContext(db=db, settings=settings)
    print("READY", flush=True)
    try:
        for line in sys.stdin:
            operation, instance_id = line.split()
            print(perform(ctx, operation, int(instance_id), CALLER), flush=True)
    finally:
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
