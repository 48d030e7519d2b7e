"""The precomputed shape of a DAG: order, effective leaves, setup scopes."""

from __future__ import annotations

import pytest

from airlock.scheduling import DagGraph

from .conftest import make_dag, task


def test_order_and_leaves_with_teardowns() -> None:
    graph = DagGraph(
        make_dag(
            "g",
            [
                task("setup", is_setup=True),
                task("work", ["setup"]),
                task("teardown", ["setup", "work"], is_teardown=True),
                task("strict_teardown", ["work"], is_teardown=True, on_failure_fail_dagrun=True),
            ],
        )
    )
    assert graph.order.index("setup") < graph.order.index("work") < graph.order.index("teardown")
    assert graph.effective_leaves == {"strict_teardown"}


def test_setup_scope_reaches_tasks_between_a_setup_and_its_teardown() -> None:
    graph = DagGraph(
        make_dag(
            "g",
            [
                task("setup", is_setup=True),
                task("w1", ["setup"]),
                task("w2", ["w1"]),
                task("teardown", ["setup", "w2"], is_teardown=True),
                task("after", ["teardown"]),
            ],
        )
    )
    # w1 and the teardown are directly downstream; "after" is past the teardown: out of scope
    assert graph.indirect_setups == {"w2": ("setup",)}


def test_work_is_the_leaf_in_place_of_an_ignorable_teardown() -> None:
    graph = DagGraph(
        make_dag(
            "g",
            [task("s", is_setup=True), task("w", ["s"]), task("t", ["s", "w"], is_teardown=True)],
        )
    )
    assert graph.effective_leaves == {"w"}


def test_a_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        DagGraph(make_dag("g", [task("a", ["b"]), task("b", ["a"])]))
