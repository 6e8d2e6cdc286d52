"""The deployed flow a run uses is cached per process (service/flow_cache.py) under a fingerprint
read from the store on every run: a change made through another connection pool (as another
process makes it) is seen by the very next run. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from opcenter.errors import InvalidParameter
from opcenter.service import deployments, files, iam, nodes
from opcenter.service.context import ServiceContext
from tests.conftest import second_context
from tests.engine.builders import by_name, make_flow, node, run_flow


def test_changes_by_another_process_are_seen_by_the_next_run(ctx: ServiceContext) -> None:
    flow = make_flow(ctx, [node("a", "shell", "echo one"), node("b", after=["a"])])
    first = by_name(ctx, run_flow(flow).dag_id)
    other = second_context(ctx)
    try:
        # A new version of `a`, deployed.
        file_id = flow.file_ids["a"]
        files.update_file(other, project_id=flow.project_id, file_id=file_id, content="echo two")
        deployments.submit_file(other, project_id=flow.project_id, file_id=file_id)
        deployments.deploy_file(other, project_id=flow.project_id, file_id=file_id)
        second = by_name(ctx, run_flow(flow).dag_id)
        assert second["a"].version_id != first["a"].version_id
        # A new file of the workflow, not deployed: refused until it is, then run.
        added = files.create_file(
            other,
            project_id=flow.project_id,
            file_name="c",
            file_folder_path=f"Business Flow/{flow.name}/shell",
            file_type=6,
            content="echo c",
            output_list=["ws.c"],
            input_list=["ws_root"],
        )
        with pytest.raises(InvalidParameter, match="not deployed"):
            run_flow(flow)
        deployments.submit_file(other, project_id=flow.project_id, file_id=added.file_id)
        deployments.deploy_file(other, project_id=flow.project_id, file_id=added.file_id)
        assert set(by_name(ctx, run_flow(flow).dag_id)) == {"a", "b", "c"}
        # The owner of a node (changed in place on every version of its file).
        iam.create_user(other, user_name="carol")
        nodes.update_node_owner(other, node_id=flow.id("b"), project_env="PROD", user_id="carol")
        assert first["b"].owner != "carol"
        assert by_name(ctx, run_flow(flow).dag_id)["b"].owner == "carol"
        # A file deleted: its node is no longer run.
        files.delete_file(other, project_id=flow.project_id, file_id=added.file_id)
        assert set(by_name(ctx, run_flow(flow).dag_id)) == {"a", "b"}
    finally:
        other.db.dispose()
