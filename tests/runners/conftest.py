"""Fixtures for the runners: a real LocalExecutor, a spec factory and an event recorder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.runners.base import InstanceSpec
from opcenter.runners.local import LocalExecutor
from tests.runners._support import SHELL, TEST_GRACE_SECONDS, Recorder, SpecFactory


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_spec(tmp_path: Path) -> SpecFactory:
    """`make_spec(id, code, file_type=SHELL, argv=(), timeout=10.0, **fields)`: workdir and log
    under tmp_path, one per instance id."""

    def make(
        instance_id: int,
        code: str,
        file_type: int = SHELL,
        argv: tuple[str, ...] = (),
        timeout: float = 10.0,
        **fields: object,
    ) -> InstanceSpec:
        return InstanceSpec(
            instance_id=instance_id,
            attempt=int(fields.pop("attempt", 1)),  # type: ignore[call-overload]
            file_type=file_type,
            code=code,
            argv=argv,
            workdir=tmp_path / "work" / str(instance_id),
            log_path=tmp_path / "logs" / f"{instance_id}.log",
            timeout_seconds=timeout,
            **fields,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[LocalExecutor]:
    """A started two-slot executor with a short stop grace; shut down (killing) afterwards."""
    pool = LocalExecutor(2, stop_grace_seconds=TEST_GRACE_SECONDS)
    pool.start(recorder)
    yield pool
    pool.shutdown(wait=False)
