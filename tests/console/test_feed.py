"""The page's change feed on both stores: one reader for every subscriber, each subscriber
gets the changes of its own Dags only, and nothing is read while nobody watches."""

from __future__ import annotations

import asyncio
import threading

from opcenter.console.feed import ChangeFeed
from opcenter.service.instances import resume_instance, suspend_instance
from opcenter.service.runs import get_dag
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag


def _run(coroutine_function):
    """Run a coroutine in a thread of its own: Playwright's sync API keeps an event loop
    running in the test thread once a browser test has run."""
    result = {}

    def main():
        try:
            result["value"] = asyncio.run(coroutine_function())
        except BaseException as error:  # handed to the test thread
            result["error"] = error

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def _collect(feed, dag_id, until, timeout=10.0):
    """Instance states of `dag_id` from the feed until `until(states)` holds."""
    sub = feed.subscribe([dag_id])
    states: dict[int, dict] = {}
    try:
        async with asyncio.timeout(timeout):
            while not until(states):
                event = await sub.queue.get()
                for inst in event["instances"]:
                    assert inst["id"] in until.instances, "another Dag's instance was sent"
                    states[inst["id"]] = inst
    finally:
        feed.unsubscribe(sub)
    return states


def test_a_subscriber_sees_its_dags_instances_reach_their_final_state(ctx, start_engine):
    flow = make_flow(ctx, [node("a"), node("b", after=["a"]), node("c", after=["b"])])
    other = make_flow(ctx, [node("x")], name="other", create_workspace=False)
    # Suspend the first node so the Dag stays put until the feed listens.
    dag_id = run_flow(flow).dag_id
    other_dag = run_flow(other).dag_id
    first = by_name(ctx, dag_id)["a"].instance_id
    suspend_instance(ctx, instance_id=first, project_env="PROD")
    ids = {i.instance_id for i in by_name(ctx, dag_id).values()}
    feed = ChangeFeed(ctx, interval=0.05)

    def done(states):
        return len(states) == 3 and all(s["status"] == "SUCCESS" for s in states.values())

    done.instances = ids

    async def scenario():
        watching = asyncio.create_task(_collect(feed, dag_id, done))
        await asyncio.sleep(0)  # subscribed
        start_engine(ctx)
        await asyncio.to_thread(resume_instance, ctx, instance_id=first, project_env="PROD")
        return await watching

    try:
        states = _run(scenario)
    finally:
        feed.close()
    assert {s["status"] for s in states.values()} == {"SUCCESS"}
    wait_dag(ctx, other_dag)
    assert get_dag(ctx, dag_id=dag_id, project_env="PROD").status.value == "SUCCESS"


def test_the_feed_reads_nothing_while_nobody_watches(ctx):
    feed = ChangeFeed(ctx, interval=0.01)
    assert feed._thread is None  # started by the first subscriber only

    async def once():
        sub = feed.subscribe([1])
        feed.unsubscribe(sub)

    _run(once)
    assert feed._since == {} and feed._sent == {}
    # A look that began before the last subscriber left keeps nothing of that Dag.
    dag_id = run_flow(make_flow(ctx, [node("a")])).dag_id
    feed._look({dag_id: 0}, [])
    assert feed._sent == {} and feed._dag_sent == {}
    feed.close()
