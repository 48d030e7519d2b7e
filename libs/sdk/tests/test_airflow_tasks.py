"""Airflow 3 task features: XComArg.map/zip/concat, @task.run_if/skip_if, async def tasks."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airlock.sdk import DAG, DagDefinitionError, task
from airlock.sdk.serialization.serialize import serialize_dag


def test_transforms_conditions_and_async_run_and_serialize() -> None:
    with DAG("features", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def nums() -> list[int]:
            return [1, 2, 3]

        @task
        def letters() -> dict[str, int]:
            return {"a": 1}

        @task
        def show(x: object) -> object:
            return x

        @task.run_if(lambda context: context["params"].get("go", False))
        @task
        def maybe() -> str:
            return "ran"

        @task.skip_if(lambda context: True, skip_message="never today")
        @task
        def never() -> int:
            return 1

        @task
        async def waits() -> str:
            await asyncio.sleep(0)
            return "async done"

        n, letter_map = nums(), letters()
        show.override(task_id="mapped").expand(x=n.map(lambda v: v * 2).map(str))
        show.override(task_id="zipped")(n.zip(letter_map, fillvalue=None))
        show.override(task_id="concat")(n.concat(letter_map))
        maybe()
        never()
        waits()
    serialized = {t.task_id: t for t in serialize_dag(dag).tasks}
    assert serialized["zipped"].upstream == ["letters", "nums"]
    assert serialized["mapped"].mapped is not None
    result = dag.test(conf={"go": True})
    assert result.state == "success"
    assert result.xcom("mapped") == ["2", "4", "6"]
    assert result.xcom("zipped") == [[1, ["a", 1]], [2, None], [3, None]]
    assert result.xcom("concat") == [1, 2, 3, ["a", 1]]
    assert result.xcom("maybe") == "ran"
    assert result.state_of("never") == "skipped"
    assert result.xcom("waits") == "async done"
    assert dag.test(conf={"go": False}).state_of("maybe") == "skipped"


def test_expanding_over_zip_and_concat_counts_from_every_upstream() -> None:
    with DAG("zip_expand", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def nums() -> list[int]:
            return [1, 2, 3]

        @task
        def letters() -> list[str]:
            return ["a", "b"]

        @task
        def show(x: object) -> object:
            return x

        @task
        def add(number: int, letter: str) -> str:
            return f"{number}{letter}"

        n, ls = nums(), letters()
        show.override(task_id="zipped").expand(x=n.zip(ls))
        show.override(task_id="padded").expand(x=n.zip(ls, fillvalue="-"))
        show.override(task_id="joined").expand(x=n.concat(ls))
        add.expand_kwargs(
            n.map(lambda v: v * 10)
            .zip(ls)
            .map(lambda t: dict(zip(["number", "letter"], t, strict=True)))
        )
    specs = {t.task_id: t.mapped for t in serialize_dag(dag).tasks}
    zipped, padded, joined, added = (specs[t] for t in ("zipped", "padded", "joined", "add"))
    assert zipped is not None
    assert zipped.args[0].combined is not None
    assert zipped.args[0].combined.how == "zip"
    assert [r.task_id for r in zipped.args[0].combined.xcoms] == ["nums", "letters"]
    assert padded is not None
    assert padded.args[0].combined is not None
    assert padded.args[0].combined.how == "zip_longest"
    assert joined is not None
    assert joined.args[0].combined is not None
    assert joined.args[0].combined.how == "concat"
    assert added is not None
    assert added.kwargs_combined is not None
    assert added.kwargs_combined.how == "zip"
    assert set(dag.get_task("add").upstream_task_ids) == {"nums", "letters"}
    result = dag.test()
    assert result.state == "success"
    assert result.xcom("zipped") == [[1, "a"], [2, "b"]]
    assert result.xcom("padded") == [[1, "a"], [2, "b"], [3, "-"]]
    assert result.xcom("joined") == [1, 2, 3, "a", "b"]
    assert result.xcom("add") == ["10a", "20b"]


def test_expanding_over_a_zip_of_a_zip_is_refused_by_name() -> None:
    with DAG("zip_zip", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def nums() -> list[int]:
            return [1]

        @task
        def show(x: object) -> object:
            return x

        n = nums()
        show.expand(x=n.zip(n.concat(n)))
    with pytest.raises(DagDefinitionError, match=r"which combines .*concat.* again"):
        serialize_dag(dag)


def test_run_if_needs_a_task_below_it() -> None:
    with pytest.raises(DagDefinitionError, match="must be placed above @task"):
        task.run_if(lambda context: True)(lambda: None)  # type: ignore[arg-type]
