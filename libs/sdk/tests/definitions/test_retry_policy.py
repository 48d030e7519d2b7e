"""Retry policies: which rule matches an exception, what the runtime makes of the decision, and
the errors a DAG author gets for a bad policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airlock.sdk import (
    DAG,
    DagDefinitionError,
    ExceptionRetryPolicy,
    RetryAction,
    RetryDecision,
    RetryPolicy,
    RetryRule,
    task,
)
from airlock.sdk.definitions.retry_policy import decide_retry
from airlock.sdk.execution_time.local_run import run_dag


class RateLimited(ConnectionError):
    pass


POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=f"{__name__}.RateLimited",
            action=RetryAction.RETRY,
            retry_delay=timedelta(seconds=7),
            reason="rate limited, backing off",
        ),
        RetryRule(exception=[KeyError, "builtins.ValueError"], action=RetryAction.FAIL),
        RetryRule(exception=OSError, action=RetryAction.DEFAULT, match_subclasses=False),
    ]
)


@pytest.mark.parametrize(
    ("exception", "action", "delay"),
    [
        (RateLimited("429"), RetryAction.RETRY, timedelta(seconds=7)),
        (KeyError("k"), RetryAction.FAIL, None),
        (UnicodeDecodeError("utf-8", b"", 0, 1, "x"), RetryAction.FAIL, None),  # a ValueError
        (OSError("disk"), RetryAction.DEFAULT, None),
        (FileNotFoundError("x"), RetryAction.DEFAULT, None),  # no rule: subclasses excluded
        (RuntimeError("other"), RetryAction.DEFAULT, None),
    ],
)
def test_the_first_matching_rule_decides(
    exception: BaseException, action: RetryAction, delay: timedelta | None
) -> None:
    decision = decide_retry(POLICY, exception, try_number=1, max_tries=3, context=None)
    assert (decision.action, decision.retry_delay) == (action, delay)


def test_retry_after_the_last_try_is_the_default_and_broken_policies_fall_back() -> None:
    last = decide_retry(POLICY, RateLimited(), try_number=4, max_tries=3, context=None)
    assert last.action is RetryAction.DEFAULT
    assert last.reason == "rate limited, backing off"

    class Raises(RetryPolicy):
        def evaluate(self, *_: Any) -> RetryDecision:
            raise RuntimeError("bug in the policy")

    class ReturnsJunk(RetryPolicy):
        def evaluate(self, *_: Any) -> RetryDecision:
            return "retry"  # type: ignore[return-value]

    for policy in (Raises(), ReturnsJunk()):
        assert decide_retry(policy, RateLimited(), 1, 3, None) == RetryDecision()
    long = RetryDecision(RetryAction.FAIL, reason="x" * 900)
    assert long.reason is not None
    assert len(long.reason) == 500


def test_bad_rules_and_policies_are_refused_when_the_file_is_parsed() -> None:
    with pytest.raises(TypeError, match="exception class or its dotted name"):
        RetryRule(exception=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'sometimes' is not a valid RetryAction"):
        RetryRule(exception=KeyError, action="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be negative"):
        RetryRule(exception=KeyError, retry_delay=timedelta(seconds=-1))
    with DAG("bad_policy", schedule=None):

        @task(retry_policy={"retry": True})
        def t() -> None: ...

        with pytest.raises(DagDefinitionError, match="retry_policy must be a RetryPolicy"):
            t()


def test_dag_test_applies_the_policy_fail_ends_at_once_and_retry_uses_the_retries() -> None:
    calls: list[str] = []
    with DAG("policies", schedule=None) as dag:

        @task(retries=3, retry_delay=0, retry_policy=POLICY)
        def bad_input() -> None:
            calls.append("bad_input")
            raise ValueError("malformed row")

        @task(retries=2, retry_delay=0, retry_policy=POLICY)
        def flaky_api(ti: Any = None) -> int:
            calls.append("flaky_api")
            if ti.try_number < 3:
                raise RateLimited("429 Too Many Requests")
            return int(ti.try_number)

        bad_input()
        flaky_api()
    reports: list[str] = []
    result = run_dag(dag, report=reports.append)
    assert calls.count("bad_input") == 1
    assert calls.count("flaky_api") == 3
    assert result.task_states[("bad_input", -1)] == "failed"
    assert result.task_states[("flaky_api", -1)] == "success"
    assert any("try 1 failed" in r and "(rate limited, backing off)" in r for r in reports)
