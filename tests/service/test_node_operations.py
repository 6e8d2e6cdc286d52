"""ListNodeIO, OfflineNode and UpdateNodeOwner through the service layer, on SQLite and
PostgreSQL: what a node's inputs and outputs are, what offline means for runs and listings and
how a node comes back, and whose a node is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from opcenter.domain.model import TaskType
from opcenter.errors import InvalidParameter, MissingParameter, NotFound
from opcenter.service import deployments, files, iam, nodes
from opcenter.service.context import Caller, ServiceContext
from opcenter.store.tables import Deployment
from tests.engine.builders import Flow, biz, by_name, make_flow, node, run_flow

OPERATOR = Caller(name="ops")


@pytest.fixture
def diamond(ctx: ServiceContext) -> Flow:
    """a feeds b and c, which both feed d; all deployed to PROD."""
    return make_flow(
        ctx,
        [
            node("a"),
            node("b", "shell", "echo b", after=["a"]),
            node("c", after=["a"]),
            node("d", after=["b", "c"]),
        ],
    )


def _io(flow: Flow, name: str, io_type: str, env: str = "PROD") -> list[tuple[str, int | None]]:
    found = nodes.list_node_io(flow.ctx, node_id=flow.id(name), project_env=env, io_type=io_type)
    assert all(item.table_name == "" for item in found)
    return [(item.data, item.node_id) for item in found]


# --- ListNodeIO ---------------------------------------------------------------------------------


def test_node_io_lists_each_input_with_the_node_that_produces_it(diamond: Flow) -> None:
    assert _io(diamond, "d", "input") == [("ws.b", diamond.id("b")), ("ws.c", diamond.id("c"))]
    assert _io(diamond, "a", "input") == [("ws_root", None)]  # the root is no node


def test_node_io_lists_each_output_once_per_node_that_consumes_it(diamond: Flow) -> None:
    assert _io(diamond, "a", "output") == [("ws.a", diamond.id("b")), ("ws.a", diamond.id("c"))]
    assert _io(diamond, "d", "output") == [("ws.d", None)]  # nobody consumes it


def test_node_io_reads_the_version_each_environment_runs(
    ctx: ServiceContext, diamond: Flow
) -> None:
    # d in DEV no longer waits for c; PROD still runs the version that does
    files.update_file(
        ctx, project_id=diamond.project_id, file_id=diamond.file_ids["d"], input_list="ws.b"
    )
    deployments.submit_file(ctx, project_id=diamond.project_id, file_id=diamond.file_ids["d"])
    assert _io(diamond, "d", "input", "DEV") == [("ws.b", diamond.id("b"))]
    assert _io(diamond, "c", "output", "DEV") == [("ws.c", None)]
    assert _io(diamond, "c", "output", "PROD") == [("ws.c", diamond.id("d"))]


@pytest.mark.parametrize("io_type", ["INPUT", " output "])
def test_node_io_accepts_the_io_type_in_any_case(diamond: Flow, io_type: str) -> None:
    assert _io(diamond, "b", io_type)


@pytest.mark.parametrize(
    ("io_type", "error", "message"),
    [
        (None, MissingParameter, 'The input parameter "IoType" that is mandatory'),
        ("both", InvalidParameter, "IoType='both' is not one of input, output."),
    ],
)
def test_node_io_fails_given_a_bad_io_type(
    diamond: Flow, io_type: str | None, error: type, message: str
) -> None:
    with pytest.raises(error) as info:
        _io(diamond, "b", io_type)  # type: ignore[arg-type]
    assert info.value.message.startswith(message)


def test_node_io_fails_given_a_node_not_released_in_the_environment(ctx: ServiceContext) -> None:
    flow = make_flow(ctx, [node("a")], deploy=False)
    with pytest.raises(NotFound) as info:
        _io(flow, "a", "input")
    assert (info.value.code, info.value.message) == (
        "Invalid.Node.NotExists",
        f"The node NodeId={flow.id('a')} does not exist in ProjectEnv='PROD'.",
    )


# --- OfflineNode --------------------------------------------------------------------------------


def _offline(flow: Flow, name: str, env: str = "PROD") -> bool:
    return nodes.offline_node(
        flow.ctx,
        node_id=flow.id(name),
        project_id=flow.project_id,
        project_env=env,
        caller=OPERATOR,
    )


def _task_types(flow: Flow, **kw: str) -> dict[str, TaskType]:
    created = run_flow(flow, **kw)
    found = by_name(flow.ctx, created.dag_id, kw.get("env", "PROD"))
    return {name: i.task_type for name, i in found.items()}


def _offline_deployments(ctx: ServiceContext) -> list[tuple[str, str, str, str]]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(Deployment.name, Deployment.from_env, Deployment.to_env, Deployment.creator)
            .where(Deployment.name.startswith("offline"))
            .order_by(Deployment.id)
        ).all()
    return [tuple(r) for r in rows]


def test_offline_node_shows_the_node_as_a_dry_run_node_in_that_environment_only(
    ctx: ServiceContext, diamond: Flow
) -> None:
    assert _offline(diamond, "b") is True
    prod = nodes.get_node(ctx, node_id=diamond.id("b"), project_env="PROD")
    dev = nodes.get_node(ctx, node_id=diamond.id("b"), project_env="DEV")
    assert (prod.scheduler_type, prod.offline, dev.scheduler_type, dev.offline) == (
        "SKIP",
        True,
        "MANUAL",
        False,
    )
    assert prod.offline_at is not None
    assert _offline_deployments(ctx) == [("offline b v1", "DEV", "PROD", "ops")]


def test_list_nodes_lists_an_offline_node_under_scheduler_type_skip(
    ctx: ServiceContext, diamond: Flow
) -> None:
    _offline(diamond, "b")

    def names(scheduler_type: str | None) -> list[str]:
        page = nodes.list_nodes(
            ctx, project_id=diamond.project_id, project_env="PROD", scheduler_type=scheduler_type
        )
        return [n.node_name for n in page.items]

    assert names(None) == ["a", "b", "c", "d"]
    assert names("SKIP") == ["b"]
    assert names("MANUAL") == ["a", "c", "d"]


def test_a_run_dry_runs_an_offline_node_and_runs_its_descendants(diamond: Flow) -> None:
    _offline(diamond, "b")
    assert _task_types(diamond) == {
        "a": TaskType.MANUAL,
        "b": TaskType.SKIP,
        "c": TaskType.MANUAL,
        "d": TaskType.MANUAL,
    }
    chosen = _task_types(diamond, include_node_ids=diamond.ids("a", "d"))
    assert chosen["b"] is TaskType.SKIP_UNCHOOSE  # not chosen stays not chosen


def test_a_run_fails_given_an_offline_node_in_include_node_ids(diamond: Flow) -> None:
    _offline(diamond, "b")
    with pytest.raises(InvalidParameter) as info:
        run_flow(diamond, include_node_ids=diamond.ids("a", "b"))
    assert info.value.message == (
        f"IncludeNodeIds: node {diamond.id('b')} ('b') is offline in PROD; deploy it again to "
        "run it."
    )


def test_offline_leaves_instances_created_before_it_as_they_were(diamond: Flow) -> None:
    before = run_flow(diamond, biz_date=biz(days_ago=1))
    _offline(diamond, "b")
    assert by_name(diamond.ctx, before.dag_id)["b"].task_type is TaskType.MANUAL


def test_offline_node_again_changes_nothing(ctx: ServiceContext, diamond: Flow) -> None:
    _offline(diamond, "b")
    first = nodes.get_node(ctx, node_id=diamond.id("b"), project_env="PROD").offline_at
    assert _offline(diamond, "b") is True
    assert nodes.get_node(ctx, node_id=diamond.id("b"), project_env="PROD").offline_at == first
    assert len(_offline_deployments(ctx)) == 1


def test_deploying_again_brings_an_offline_node_back_online(
    ctx: ServiceContext, diamond: Flow
) -> None:
    deployed = deployments.deploy_file(
        ctx, project_id=diamond.project_id, file_id=diamond.file_ids["b"]
    )
    _offline(diamond, "b")
    again = deployments.deploy_file(
        ctx, project_id=diamond.project_id, file_id=diamond.file_ids["b"]
    )
    assert again.deployment_id != deployed.deployment_id  # a real release, recorded
    assert (again.name, again.file_version) == ("deploy b v1", 1)
    back = nodes.get_node(ctx, node_id=diamond.id("b"), project_env="PROD")
    assert (back.scheduler_type, back.offline_at) == ("MANUAL", None)
    assert _task_types(diamond)["b"] is TaskType.MANUAL
    # and a deploy of an unchanged, online node is again the no-op it was
    same = deployments.deploy_file(
        ctx, project_id=diamond.project_id, file_id=diamond.file_ids["b"]
    )
    assert same.deployment_id == again.deployment_id


def test_submitting_again_brings_a_node_offline_in_dev_back(
    ctx: ServiceContext, diamond: Flow
) -> None:
    _offline(diamond, "b", "DEV")
    assert _offline_deployments(ctx) == [("offline b v1", "LOCAL", "DEV", "ops")]
    assert _task_types(diamond, env="DEV")["b"] is TaskType.SKIP
    deployments.submit_file(ctx, project_id=diamond.project_id, file_id=diamond.file_ids["b"])
    assert nodes.get_node(ctx, node_id=diamond.id("b"), project_env="DEV").offline_at is None
    assert _task_types(diamond, env="DEV")["b"] is TaskType.MANUAL


def test_offline_node_in_a_basic_workspace_takes_prod_and_deploy_brings_it_back(
    ctx: ServiceContext,
) -> None:
    flow = make_flow(ctx, [node("a")], workspace="lite", mode="BASIC")
    _offline(flow, "a")
    assert _offline_deployments(ctx) == [("offline a v1", "LOCAL", "PROD", "ops")]
    deployments.deploy_file(ctx, project_id=flow.project_id, file_id=flow.file_ids["a"])
    assert nodes.get_node(ctx, node_id=flow.id("a"), project_env="PROD").offline_at is None


def test_offline_node_takes_the_nodes_own_workspace_given_none(
    ctx: ServiceContext, diamond: Flow
) -> None:
    assert nodes.offline_node(ctx, node_id=diamond.id("c"))  # PROD unless told
    assert nodes.get_node(ctx, node_id=diamond.id("c"), project_env="PROD").offline


def test_offline_node_fails_given_a_node_of_another_workspace(
    ctx: ServiceContext, diamond: Flow
) -> None:
    other = make_flow(ctx, [node("x")], workspace="other")
    with pytest.raises(NotFound) as info:
        nodes.offline_node(ctx, node_id=other.id("x"), project_id=diamond.project_id)
    assert (info.value.code, info.value.message) == (
        "Invalid.Node.NotExists",
        f"The node NodeId={other.id('x')} does not exist.",
    )


def test_offline_node_fails_given_a_node_not_in_the_environment_or_dev_of_a_basic_workspace(
    ctx: ServiceContext,
) -> None:
    undeployed = make_flow(ctx, [node("a")], deploy=False)
    with pytest.raises(NotFound) as info:
        _offline(undeployed, "a")
    assert (
        info.value.message
        == f"The node NodeId={undeployed.id('a')} does not exist in ProjectEnv='PROD'."
    )
    basic = make_flow(ctx, [node("b")], workspace="lite", mode="BASIC")
    with pytest.raises(InvalidParameter) as bad:
        _offline(basic, "b", "DEV")
    assert bad.value.message.startswith("ProjectEnv='DEV' is not available")


# --- UpdateNodeOwner ----------------------------------------------------------------------------


def _owners(flow: Flow, name: str) -> tuple[str, str, str, int]:
    """(PROD node, DEV node, draft) owners and the draft's CommitStatus."""
    ctx = flow.ctx
    draft = files.get_file(ctx, project_id=flow.project_id, file_id=flow.file_ids[name])
    return (
        nodes.get_node(ctx, node_id=flow.id(name), project_env="PROD").owner,
        nodes.get_node(ctx, node_id=flow.id(name), project_env="DEV").owner,
        draft.owner,
        draft.commit_status,
    )


def test_update_node_owner_gives_the_node_and_its_file_the_ram_user_given_its_uid(
    ctx: ServiceContext, diamond: Flow
) -> None:
    alice = iam.create_user(ctx, user_name="alice")
    before = run_flow(diamond, biz_date=biz(days_ago=1))
    assert nodes.update_node_owner(
        ctx, node_id=diamond.id("b"), project_env="PROD", user_id=alice.uid
    )
    assert _owners(diamond, "b") == ("alice", "alice", "alice", 1)
    # the next submit keeps it (nothing to commit) and a new run's instance carries it
    submitted = deployments.submit_file(
        ctx, project_id=diamond.project_id, file_id=diamond.file_ids["b"]
    )
    assert submitted.file_version == 1
    assert by_name(ctx, run_flow(diamond).dag_id)["b"].owner == "alice"
    assert by_name(ctx, before.dag_id)["b"].owner == "root"  # created before: as it was
    assert (
        nodes.list_nodes(
            ctx, project_id=diamond.project_id, project_env="PROD", owner="alice"
        ).total_count
        == 1
    )


@pytest.mark.parametrize("user_id", ["alice", "ACCOUNT"], ids=["ram-user-name", "account-id"])
def test_update_node_owner_accepts_a_user_name_or_the_account_id(
    ctx: ServiceContext, diamond: Flow, user_id: str
) -> None:
    iam.create_user(ctx, user_name="alice")
    value = ctx.settings.account_id if user_id == "ACCOUNT" else user_id
    nodes.update_node_owner(ctx, node_id=diamond.id("c"), project_env="DEV", user_id="alice")
    nodes.update_node_owner(ctx, node_id=diamond.id("c"), project_env="DEV", user_id=value)
    expected = "root" if user_id == "ACCOUNT" else "alice"
    assert _owners(diamond, "c") == (expected, expected, expected, 1)


@pytest.mark.parametrize(
    ("user_id", "error", "code", "message"),
    [
        (None, MissingParameter, "MissingParameter", 'The input parameter "UserId"'),
        (" ", MissingParameter, "MissingParameter", 'The input parameter "UserId"'),
        (
            "nobody",
            NotFound,
            "Invalid.User.NotExists",
            "UserId='nobody' is neither the account nor a RAM user.",
        ),
    ],
)
def test_update_node_owner_fails_given_no_or_an_unknown_user(
    ctx: ServiceContext,
    diamond: Flow,
    user_id: str | None,
    error: type,
    code: str,
    message: str,
) -> None:
    with pytest.raises(error) as info:
        nodes.update_node_owner(ctx, node_id=diamond.id("a"), project_env="PROD", user_id=user_id)
    assert (info.value.code, info.value.message[: len(message)]) == (code, message)
    assert _owners(diamond, "a") == ("root", "root", "root", 1)


def test_update_node_owner_fails_given_a_node_not_in_the_environment(ctx: ServiceContext) -> None:
    flow = make_flow(ctx, [node("a")], deploy=False)
    with pytest.raises(NotFound) as info:
        nodes.update_node_owner(ctx, node_id=flow.id("a"), project_env="PROD", user_id="root")
    assert info.value.code == "Invalid.Node.NotExists"
