from __future__ import annotations

from opcenter.runners.base import InstanceResult, Outcome
from opcenter.runners.local import LocalExecutor
from tests.runners._support import VIRTUAL, Recorder, SpecFactory, body, run_one


def test_virtual_node_succeeds_at_once_given_any_code(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(7, "exit 1", VIRTUAL)

    result = run_one(executor, recorder, spec)

    assert result == InstanceResult(7, 1, Outcome.SUCCESS, None, "nothing to run (virtual node)")
    assert [(kind, key) for kind, key, _ in recorder.events] == [
        ("started", (7, 1)),
        ("finished", (7, 1)),
    ]
    assert body(spec) == ["[opcenter] nothing to run (virtual node)"]
