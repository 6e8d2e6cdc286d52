"""Reading instance logs in pages (service/logs.py) on a real attempt's log, both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opcenter.domain.model import DagStatus
from opcenter.engine.paths import log_path
from opcenter.engine.scheduler import Engine
from opcenter.errors import InvalidParameter
from opcenter.runners.local import LocalExecutor
from opcenter.service import logs
from opcenter.service.context import ServiceContext
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag

PROD = "PROD"
OUTPUT_BYTES = 2_500_000  # more than two default pages


@pytest.fixture
def big_log(ctx: ServiceContext) -> Iterator[tuple[int, bytes]]:
    """A finished instance whose log holds ~2.5 MB of output (multi-byte characters too)."""
    flow = make_flow(ctx, [node("big", "shell", f"yes 'ligne é €' | head -c {OUTPUT_BYTES}")])
    engine = Engine(ctx, LocalExecutor(1), poll_seconds=0.05)
    engine.start()
    try:
        dag_id = run_flow(flow).dag_id
        assert wait_dag(ctx, dag_id, timeout=60) is DagStatus.SUCCESS
    finally:
        engine.stop()
    inst = by_name(ctx, dag_id)["big"]
    path = log_path(ctx.settings.data_dir, dag_id, inst.instance_id, inst.attempt)
    yield inst.instance_id, path.read_bytes()


def test_read_instance_log_pages_add_up_to_the_log_given_a_large_log(
    ctx: ServiceContext, big_log: tuple[int, bytes]
) -> None:
    instance_id, whole = big_log
    text, at, pages = [], 0, 0
    while True:
        page = logs.read_instance_log(ctx, instance_id=instance_id, project_env=PROD, offset=at)
        assert page.next_offset - page.offset <= logs.DEFAULT_LOG_PAGE_BYTES
        if not page.text:
            break
        text.append(page.text)
        at, pages = page.next_offset, pages + 1
    assert "".join(text) == whole.decode("utf-8")
    assert (pages, page.size, page.attempt) == (3, len(whole), 1)


def test_read_instance_log_tail_starts_at_a_line_given_a_limit(
    ctx: ServiceContext, big_log: tuple[int, bytes]
) -> None:
    instance_id, whole = big_log
    page = logs.read_instance_log(
        ctx, instance_id=instance_id, project_env=PROD, limit=1000, tail=True
    )
    assert whole[page.offset - 1 : page.offset] == b"\n"
    assert page.text.encode() == whole[page.offset :]
    assert len(page.text.encode()) <= 1000 and page.next_offset == len(whole)
    assert page.text.endswith("exit code 0\n")


def test_get_instance_log_returns_the_end_and_says_so_given_a_log_over_the_limit(
    ctx: ServiceContext, big_log: tuple[int, bytes]
) -> None:
    instance_id, whole = big_log
    answer = logs.get_instance_log(ctx, instance_id=instance_id, project_env=PROD)
    first, rest = answer.split("\n", 1)
    shown = len(rest.encode())
    assert first == (
        f"[opcenter] This log has {len(whole)} bytes; only its last {shown} bytes follow."
        f" Read all of it with: opcenter instance log {instance_id} --attempt 1 --offset 0"
    )
    assert logs.GET_INSTANCE_LOG_BYTES - 100 < shown <= logs.GET_INSTANCE_LOG_BYTES
    assert rest.encode() == whole[-shown:]


@pytest.mark.parametrize(
    ("offset", "limit", "message"),
    [
        (-1, 10, "Offset=-1 must be 0 or more."),
        (0, 0, "Limit=0 must be between 1 and 16777216 bytes."),
        (0, 16 * 1024 * 1024 + 1, "Limit=16777217 must be between 1 and 16777216 bytes."),
    ],
)
def test_read_instance_log_refuses_a_bad_page(
    ctx: ServiceContext, offset: int, limit: int, message: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        logs.read_instance_log(ctx, instance_id=1, project_env=PROD, offset=offset, limit=limit)
    assert caught.value.message == message


def test_log_and_retention_modules_export_what_they_mean() -> None:
    from opcenter.service import retention

    assert logs.__all__ == [
        "DEFAULT_LOG_PAGE_BYTES",
        "GET_INSTANCE_LOG_BYTES",
        "MAX_LOG_PAGE_BYTES",
        "LogPage",
        "get_instance_log",
        "read_instance_log",
    ]
    assert retention.__all__ == [
        "DAY_MS",
        "FIRST_SWEEP_SECONDS",
        "SWEEP_INTERVAL_SECONDS",
        "RetentionSweeper",
        "SweepReport",
        "sweep",
    ]
