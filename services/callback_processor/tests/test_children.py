"""Callback children, as real processes (no API): a callback runs with its context and may ask
its parent for its bundle's variables; one that raises, hangs, exits or segfaults gets an outcome
naming what happened, and the next callback runs in a fresh child."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.callback_processor.children import ChildPool
from airlock.callback_processor.protocol import RunCallback

DAG_FILE = """
import ctypes, os, sys, time
from airlock.sdk import DAG, Variable
from airlock.sdk.operators.empty import EmptyOperator


def greet(context):
    print("hello", context["task_id"], context["idempotency_key"], context["callback_attempt"])
    print("variable:", Variable.get("greeting"))


def raises(context):
    raise ValueError("no")


def hangs(context):
    time.sleep(600)


def exits(context):
    os._exit(4)


def segfault(context):
    ctypes.string_at(0)


with DAG("kids", schedule=None):
    for name, callback in [("greet", greet), ("raises", raises), ("hangs", hangs),
                           ("exits", exits), ("segfault", segfault)]:
        EmptyOperator(task_id=name, on_success_callback=callback)
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "kids.py").write_text(textwrap.dedent(DAG_FILE))
    return tmp_path


ASKED: list[tuple[str, str]] = []


@pytest.fixture
def pool() -> Iterator[ChildPool]:
    ASKED.clear()

    def variable(bundle: str, key: str) -> str | None:
        ASKED.append((bundle, key))
        return "hi there" if key == "greeting" else None

    pool = ChildPool(
        timeout_s=2, max_callbacks=50, get_variable=variable, get_connection=lambda b, c: None
    )
    yield pool
    pool.close()


def request(bundle: Path, task_id: str) -> RunCallback:
    return RunCallback(
        path=str(bundle / "kids.py"),
        bundle_root=str(bundle),
        callback_kind="task_success",
        dag_id="kids",
        run_id="r1",
        task_id=task_id,
        idempotency_key="airlock-callback-9",
        attempt=2,
        max_attempts=3,
    )


def test_a_callback_runs_with_its_context_and_asks_for_variables(
    pool: ChildPool, bundle: Path
) -> None:
    finished = pool.run("b1", request(bundle, "greet"))
    assert finished.error is None
    assert "hello greet airlock-callback-9 2" in finished.log
    assert "variable: hi there" in finished.log
    assert ASKED == [("b1", "greeting")]


@pytest.mark.parametrize(
    ("task_id", "says"),
    [
        ("raises", "ValueError: no"),
        ("hangs", "ran longer than 2 s and was killed"),
        ("exits", "exited with code 4"),
        ("segfault", "exited with code -11"),
    ],
)
def test_a_failing_callback_gets_an_outcome_and_harms_nothing(
    pool: ChildPool, bundle: Path, task_id: str, says: str
) -> None:
    finished = pool.run("b1", request(bundle, task_id))
    assert finished.error is not None
    assert says in finished.error
    assert pool.run("b1", request(bundle, "greet")).error is None


def test_a_missing_task_is_an_error_naming_it(pool: ChildPool, bundle: Path) -> None:
    finished = pool.run("b1", request(bundle, "gone"))
    assert finished.error is not None
    assert "has no task 'gone'" in finished.error
