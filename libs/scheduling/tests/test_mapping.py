"""Mapped tasks expand at run time: from literal lists, from upstream XComs (alone, zipped or
concatenated), from mapped upstream tasks; a zero-length expansion skips; an unmappable XCom
fails."""

from __future__ import annotations

import json
from typing import Any

from airlock.db import XCom
from airlock.models.dag import CombinedXComs, MappedArg, MappedSpec, XComRef
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS

from .conftest import Env, make_dag, succeed, task


def _push(env: Env, run: Any, task_id: str, value: Any, map_index: int = -1) -> None:
    with env.sessions() as session:
        session.add(
            XCom(
                dag_id=run.dag_id,
                run_id=run.run_id,
                task_id=task_id,
                map_index=map_index,
                key="return_value",
                value=json.dumps(value),
            )
        )
        session.commit()


def _finish_pushing(env: Env, run: Any, task_id: str, value: Any) -> None:
    ti = env.ti(run, task_id)
    env.start(ti.id)
    _push(env, run, task_id, value)
    env.finish(ti.id, succeed())


def test_literal_expansion_makes_one_instance_per_element(sqlite_env: Env) -> None:
    spec = MappedSpec(args=[MappedArg(name="x", length=3, values=[1, 2, 3])])
    sqlite_env.install(make_dag("lit", [task("m", mapped=spec), task("total", ["m"])]))
    run = sqlite_env.trigger("lit")
    assert sqlite_env.states(run) == {
        "m[0]": TIS.QUEUED,
        "m[1]": TIS.QUEUED,
        "m[2]": TIS.QUEUED,
        "total": None,
    }
    assert sqlite_env.work(run) is DagRunState.SUCCESS
    assert sqlite_env.states(run)["total"] is TIS.SUCCESS


def test_cross_product_and_expand_kwargs_lengths(sqlite_env: Env) -> None:
    cross = MappedSpec(args=[MappedArg(name="x", length=2), MappedArg(name="y", length=3)])
    kwargs = MappedSpec(kind="expand_kwargs", kwargs_length=2)
    sqlite_env.install(make_dag("shapes", [task("cross", mapped=cross), task("kw", mapped=kwargs)]))
    states = sqlite_env.states(sqlite_env.trigger("shapes"))
    assert sorted(states) == sorted([f"cross[{i}]" for i in range(6)] + ["kw[0]", "kw[1]"])


def test_expansion_from_an_upstream_xcom(env: Env) -> None:
    spec = MappedSpec(args=[MappedArg(name="path", xcom=XComRef(task_id="list_files"))])
    env.install(make_dag("fromx", [task("list_files"), task("m", ["list_files"], mapped=spec)]))
    run = env.trigger("fromx")
    assert env.states(run)["m"] is None  # the placeholder waits for its upstream
    _finish_pushing(env, run, "list_files", ["a", "b", "c", "d"])
    assert [k for k, v in env.states(run).items() if v is TIS.QUEUED] == [
        "m[0]",
        "m[1]",
        "m[2]",
        "m[3]",
    ]
    assert env.work(run) is DagRunState.SUCCESS


def test_expansion_over_a_dict(sqlite_env: Env) -> None:
    spec = MappedSpec(kind="expand_kwargs", kwargs_xcom=XComRef(task_id="make"))
    sqlite_env.install(make_dag("fromd", [task("make"), task("m", ["make"], mapped=spec)]))
    run = sqlite_env.trigger("fromd")
    _finish_pushing(sqlite_env, run, "make", {"a": 1, "b": 2})
    assert len([k for k in sqlite_env.states(run) if k.startswith("m[")]) == 2


def test_zip_and_concat_count_from_every_upstream(sqlite_env: Env) -> None:
    refs = [XComRef(task_id="nums"), XComRef(task_id="letters")]
    shapes = {
        "zip": MappedSpec(
            args=[MappedArg(name="x", combined=CombinedXComs(how="zip", xcoms=refs))]
        ),
        "longest": MappedSpec(
            args=[MappedArg(name="x", combined=CombinedXComs(how="zip_longest", xcoms=refs))]
        ),
        "concat": MappedSpec(
            kind="expand_kwargs", kwargs_combined=CombinedXComs(how="concat", xcoms=refs)
        ),
    }
    sqlite_env.install(
        make_dag(
            "combined",
            [task("nums"), task("letters")]
            + [task(name, ["nums", "letters"], mapped=spec) for name, spec in shapes.items()],
        )
    )
    run = sqlite_env.trigger("combined")
    _finish_pushing(sqlite_env, run, "nums", [1, 2, 3])
    _finish_pushing(sqlite_env, run, "letters", ["a", "b"])
    states = sqlite_env.states(run)
    counts = {name: sum(1 for k in states if k.startswith(f"{name}[")) for name in shapes}
    assert counts == {"zip": 2, "longest": 3, "concat": 5}


def test_a_zero_length_expansion_skips_the_task_and_its_downstream(env: Env) -> None:
    spec = MappedSpec(args=[MappedArg(name="x", xcom=XComRef(task_id="src"))])
    env.install(
        make_dag("empty", [task("src"), task("m", ["src"], mapped=spec), task("after", ["m"])])
    )
    run = env.trigger("empty")
    _finish_pushing(env, run, "src", [])
    assert env.states(run) == {"src": TIS.SUCCESS, "m": TIS.SKIPPED, "after": TIS.SKIPPED}
    assert env.run_state(run) is DagRunState.SUCCESS


def test_an_xcom_that_is_not_a_list_fails_the_mapped_task(sqlite_env: Env) -> None:
    spec = MappedSpec(args=[MappedArg(name="x", xcom=XComRef(task_id="src"))])
    sqlite_env.install(make_dag("bad", [task("src"), task("m", ["src"], mapped=spec)]))
    run = sqlite_env.trigger("bad")
    _finish_pushing(sqlite_env, run, "src", "not a list")
    assert sqlite_env.states(run)["m"] is TIS.FAILED
    assert sqlite_env.run_state(run) is DagRunState.FAILED


def test_a_missing_xcom_fails_the_mapped_task(sqlite_env: Env) -> None:
    spec = MappedSpec(args=[MappedArg(name="x", xcom=XComRef(task_id="src"))])
    sqlite_env.install(make_dag("none", [task("src"), task("m", ["src"], mapped=spec)]))
    run = sqlite_env.trigger("none")
    sqlite_env.work(run)
    assert sqlite_env.states(run)["m"] is TIS.FAILED


def test_mapping_over_a_mapped_upstream_has_one_instance_per_upstream_instance(
    sqlite_env: Env,
) -> None:
    first = MappedSpec(args=[MappedArg(name="x", length=3)])
    second = MappedSpec(args=[MappedArg(name="y", xcom=XComRef(task_id="double"))])
    sqlite_env.install(
        make_dag("chained", [task("double", mapped=first), task("add", ["double"], mapped=second)])
    )
    run = sqlite_env.trigger("chained")
    assert sqlite_env.work(run) is DagRunState.SUCCESS
    states = sqlite_env.states(run)
    assert sorted(k for k in states if k.startswith("add")) == ["add[0]", "add[1]", "add[2]"]
