"""Skips from branching and short-circuiting, skipped tasks, and setup/teardown semantics."""

from __future__ import annotations

from airlock.models.dag import TriggerRule as TR
from airlock.models.execution import TaskSkipped
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS

from .conftest import T0, Env, fail, make_dag, succeed, task

BRANCHY = make_dag(
    "branchy",
    [
        task("pick", is_branch=True),
        task("left", ["pick"]),
        task("right", ["pick"]),
        task("after_right", ["right"]),
        task("join", ["left", "after_right"], trigger_rule=TR.NONE_FAILED_MIN_ONE_SUCCESS),
    ],
)


def test_a_branch_skips_the_path_not_taken_and_the_join_still_runs(env: Env) -> None:
    env.install(BRANCHY)
    run = env.trigger("branchy")
    env.work(
        run, lambda ti: succeed(skip_task_ids=["right"]) if ti.task_id == "pick" else succeed()
    )
    assert env.states(run) == {
        "pick": TIS.SUCCESS,
        "left": TIS.SUCCESS,
        "right": TIS.SKIPPED,
        "after_right": TIS.SKIPPED,
        "join": TIS.SUCCESS,
    }
    assert env.run_state(run) is DagRunState.SUCCESS


def test_a_short_circuit_skips_everything_downstream(sqlite_env: Env) -> None:
    sqlite_env.install(
        make_dag(
            "sc",
            [
                task("check", is_short_circuit=True),
                task("a", ["check"]),
                task("b", ["a"], trigger_rule=TR.ALL_DONE),
            ],
        )
    )
    run = sqlite_env.trigger("sc")
    check = sqlite_env.ti(run, "check")
    sqlite_env.start(check.id)
    sqlite_env.finish(check.id, succeed(skip_task_ids=["a", "b"]))
    assert sqlite_env.states(run) == {"check": TIS.SUCCESS, "a": TIS.SKIPPED, "b": TIS.SKIPPED}
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def test_a_short_circuit_that_respects_trigger_rules_skips_only_direct_downstream(
    sqlite_env: Env,
) -> None:
    sqlite_env.install(
        make_dag(
            "sc2",
            [
                task("check", is_short_circuit=True),
                task("a", ["check"]),
                task("b", ["a"], trigger_rule=TR.ALL_DONE),
            ],
        )
    )
    run = sqlite_env.trigger("sc2")
    sqlite_env.work(
        run, lambda ti: succeed(skip_task_ids=["a"]) if ti.task_id == "check" else succeed()
    )
    assert sqlite_env.states(run) == {"check": TIS.SUCCESS, "a": TIS.SKIPPED, "b": TIS.SUCCESS}


def test_skip_ids_that_are_not_downstream_are_ignored(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("rogue", [task("a", is_branch=True), task("b"), task("c", ["a"])]))
    run = sqlite_env.trigger("rogue")
    sqlite_env.work(
        run, lambda ti: succeed(skip_task_ids=["b", "c"]) if ti.task_id == "a" else succeed()
    )
    assert sqlite_env.states(run) == {"a": TIS.SUCCESS, "b": TIS.SUCCESS, "c": TIS.SKIPPED}


def test_a_skipped_task_skips_all_success_downstream_but_not_none_failed(sqlite_env: Env) -> None:
    sqlite_env.install(
        make_dag(
            "skipper",
            [
                task("a"),
                task("strict", ["a"]),
                task("lenient", ["a"], trigger_rule=TR.NONE_FAILED),
            ],
        )
    )
    run = sqlite_env.trigger("skipper")
    sqlite_env.work(run, lambda ti: TaskSkipped(end_date=T0) if ti.task_id == "a" else succeed())
    assert sqlite_env.states(run) == {
        "a": TIS.SKIPPED,
        "strict": TIS.SKIPPED,
        "lenient": TIS.SUCCESS,
    }
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def _setup_dag(dag_id: str, *, fail_dagrun: bool = False) -> object:
    return make_dag(
        dag_id,
        [
            task("create", is_setup=True),
            task("work", ["create"]),
            task("more", ["work"], trigger_rule=TR.ALL_DONE),
            task(
                "delete",
                ["create", "more"],
                is_teardown=True,
                trigger_rule=TR.ALL_DONE_SETUP_SUCCESS,
                on_failure_fail_dagrun=fail_dagrun,
            ),
        ],
    )


def test_the_teardown_runs_when_the_work_failed_and_the_run_fails(env: Env) -> None:
    env.install(_setup_dag("st"))  # type: ignore[arg-type]
    run = env.trigger("st")
    env.work(run, lambda ti: fail() if ti.task_id == "work" else succeed())
    assert env.states(run) == {
        "create": TIS.SUCCESS,
        "work": TIS.FAILED,
        "more": TIS.SUCCESS,
        "delete": TIS.SUCCESS,
    }
    # "more" (all_done) is the effective leaf: it succeeded, so the run succeeds
    assert env.run_state(run) is DagRunState.SUCCESS


def test_a_failed_teardown_does_not_fail_the_run(sqlite_env: Env) -> None:
    sqlite_env.install(_setup_dag("st2"))  # type: ignore[arg-type]
    run = sqlite_env.trigger("st2")
    sqlite_env.work(run, lambda ti: fail() if ti.task_id == "delete" else succeed())
    assert sqlite_env.states(run)["delete"] is TIS.FAILED
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def test_a_failed_teardown_fails_the_run_with_on_failure_fail_dagrun(sqlite_env: Env) -> None:
    sqlite_env.install(_setup_dag("st3", fail_dagrun=True))  # type: ignore[arg-type]
    run = sqlite_env.trigger("st3")
    sqlite_env.work(run, lambda ti: fail() if ti.task_id == "delete" else succeed())
    assert sqlite_env.run_state(run) is DagRunState.FAILED


def test_a_failed_setup_stops_its_scope_even_all_done_tasks(sqlite_env: Env) -> None:
    sqlite_env.install(_setup_dag("st4"))  # type: ignore[arg-type]
    run = sqlite_env.trigger("st4")
    sqlite_env.work(run, lambda ti: fail() if ti.task_id == "create" else succeed())
    assert sqlite_env.states(run) == {
        "create": TIS.FAILED,
        "work": TIS.UPSTREAM_FAILED,
        "more": TIS.UPSTREAM_FAILED,
        "delete": TIS.UPSTREAM_FAILED,
    }
    assert sqlite_env.run_state(run) is DagRunState.FAILED


def test_a_skipped_setup_skips_its_scope(sqlite_env: Env) -> None:
    sqlite_env.install(_setup_dag("st5"))  # type: ignore[arg-type]
    run = sqlite_env.trigger("st5")
    sqlite_env.work(run, lambda ti: TaskSkipped(end_date=T0))
    assert set(sqlite_env.states(run).values()) == {TIS.SKIPPED}
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS
