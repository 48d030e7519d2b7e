"""Every trigger rule against the upstream states that matter (table-driven, no database), then a
few rules end to end through ``schedule_run``."""

from __future__ import annotations

import pytest

from airlock.models.dag import TriggerRule as TR
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import Decision, UpstreamCounts, decide
from airlock.scheduling.trigger_rules import decide_setup_scope

from .conftest import Env, fail, make_dag, succeed, task

S, F, K, UF, R, N, RM = (
    TIS.SUCCESS,
    TIS.FAILED,
    TIS.SKIPPED,
    TIS.UPSTREAM_FAILED,
    TIS.RUNNING,
    None,
    TIS.REMOVED,
)
W, GO, SKIP, UPF = Decision.WAIT, Decision.RUN, Decision.SKIP, Decision.UPSTREAM_FAILED

CASES = [
    # rule, upstream states, decision
    (TR.ALL_SUCCESS, [S, S], GO),
    (TR.ALL_SUCCESS, [S, R], W),
    (TR.ALL_SUCCESS, [F, R], UPF),
    (TR.ALL_SUCCESS, [UF, S], UPF),
    (TR.ALL_SUCCESS, [K, S], SKIP),
    (TR.ALL_SUCCESS, [K, F], UPF),
    (TR.ALL_FAILED, [F, UF], GO),
    (TR.ALL_FAILED, [F, R], W),
    (TR.ALL_FAILED, [F, S], SKIP),
    (TR.ALL_FAILED, [K, R], SKIP),
    (TR.ALL_DONE, [S, F, K, UF], GO),
    (TR.ALL_DONE, [S, R], W),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, F], GO),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, N], W),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [F, K], UPF),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [K, K], SKIP),
    (TR.ONE_SUCCESS, [S, R], GO),
    (TR.ONE_SUCCESS, [F, R], W),
    (TR.ONE_SUCCESS, [F, K], UPF),
    (TR.ONE_SUCCESS, [K, K], SKIP),
    (TR.ONE_FAILED, [F, R], GO),
    (TR.ONE_FAILED, [UF, N], GO),
    (TR.ONE_FAILED, [S, R], W),
    (TR.ONE_FAILED, [S, K], SKIP),
    (TR.ONE_DONE, [S, R], GO),
    (TR.ONE_DONE, [F, R], GO),
    (TR.ONE_DONE, [K, R], W),
    (TR.ONE_DONE, [K, UF], SKIP),
    (TR.NONE_FAILED, [S, K], GO),
    (TR.NONE_FAILED, [S, R], W),
    (TR.NONE_FAILED, [F, R], UPF),
    (TR.NONE_FAILED, [UF, S], UPF),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [S, K], GO),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [K, K], SKIP),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [K, R], W),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [F, S], UPF),
    (TR.NONE_SKIPPED, [S, F, UF], GO),
    (TR.NONE_SKIPPED, [S, R], W),
    (TR.NONE_SKIPPED, [K, R], SKIP),
    (TR.ALWAYS, [R, N], GO),
    (TR.ALWAYS, [F], GO),
    (TR.ALL_SKIPPED, [K, K], GO),
    (TR.ALL_SKIPPED, [K, R], W),
    (TR.ALL_SKIPPED, [K, S], SKIP),
    (TR.ALL_SKIPPED, [F, N], SKIP),
    # removed upstream instances do not count
    (TR.ALL_SUCCESS, [S, RM], GO),
    (TR.ALL_SKIPPED, [K, RM], GO),
]


@pytest.mark.parametrize(("rule", "states", "expected"), CASES)
def test_rule(rule: TR, states: list[TIS | None], expected: Decision) -> None:
    counts = UpstreamCounts()
    for state in states:
        counts.add(state)
    assert decide(rule, counts) is expected


def test_every_rule_is_covered() -> None:
    assert {rule for rule, _, _ in CASES} | {TR.ALL_DONE_SETUP_SUCCESS} == set(TR)


@pytest.mark.parametrize("rule", list(TR))
def test_a_task_without_upstream_runs_whatever_its_rule(rule: TR) -> None:
    assert decide(rule, UpstreamCounts()) is GO


@pytest.mark.parametrize(
    ("work", "setups", "expected"),
    [
        ([F], [S], GO),  # the work failed, the setup ran: the teardown runs
        ([S], [F], UPF),  # no setup succeeded
        ([S], [K], SKIP),  # every setup skipped
        ([S], [S, F], GO),  # at least one setup succeeded
        ([R], [S], W),  # not everything done yet
        ([S], [], GO),  # no setups: all_done
    ],
)
def test_all_done_setup_success(
    work: list[TIS | None], setups: list[TIS | None], expected: Decision
) -> None:
    counts = UpstreamCounts()
    for state in work:
        counts.add(state)
    for state in setups:
        counts.add(state, is_setup=True)
    assert decide(TR.ALL_DONE_SETUP_SUCCESS, counts) is expected


@pytest.mark.parametrize(
    ("states", "expected"),
    [([S], None), ([S, F], UPF), ([UF], UPF), ([K, S], SKIP), ([R], W), ([S, RM], None)],
)
def test_setup_scope(states: list[TIS | None], expected: Decision | None) -> None:
    assert decide_setup_scope(states) is expected


@pytest.mark.parametrize(
    ("rule", "upstream_outcomes", "expected"),
    [
        (TR.ALL_SUCCESS, ["ok", "fail"], TIS.UPSTREAM_FAILED),
        (TR.ONE_FAILED, ["ok", "fail"], TIS.SUCCESS),
        (TR.ALL_FAILED, ["ok", "fail"], TIS.SKIPPED),
        (TR.ALL_DONE, ["ok", "fail"], TIS.SUCCESS),
        (TR.NONE_FAILED_MIN_ONE_SUCCESS, ["ok", "ok"], TIS.SUCCESS),
        (TR.ONE_SUCCESS, ["fail", "fail"], TIS.UPSTREAM_FAILED),
    ],
)
def test_rules_through_the_database(
    sqlite_env: Env, rule: TR, upstream_outcomes: list[str], expected: TIS
) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "rules",
            [task("a"), task("b"), task("c", ["a", "b"], trigger_rule=rule)],
        )
    )
    run = env.trigger("rules")
    outcomes = dict(zip(["a", "b"], upstream_outcomes, strict=True))
    env.work(run, lambda ti: fail() if outcomes.get(ti.task_id) == "fail" else succeed())
    assert env.states(run)["c"] is expected
