"""The checks a new DAG version passes before the Internal API stores it."""

from __future__ import annotations

import msgspec
import pytest

from airlock.internal.dag_checks import InvalidDag, dag_problems, decode_and_check
from airlock.models.codec import encode_dag, normalize_dag
from airlock.models.dag import MappedArg, MappedSpec, SerializedEdge, XComRef
from tests.support.dags import make_dag, task


def test_a_well_formed_dag_passes_and_decodes() -> None:
    dag = make_dag("etl", [task("extract"), task("load", ["extract"]), task("g.report", ["load"])])
    assert decode_and_check(encode_dag(dag), "etl", 100) == normalize_dag(dag)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{}", "not a serialized DAG"),
        (b'{"dag_id": 7}', "not a serialized DAG"),
        (b"\xff", "not a serialized DAG"),
        (encode_dag(make_dag("other", [])), "the blob holds DAG 'other'"),
        (
            encode_dag(make_dag("etl", [task("a", ["b"]), task("b", ["a"])])),
            "cycle through 'a', 'b'",
        ),
        (
            encode_dag(make_dag("etl", [task(f"t{i}") for i in range(4)])),
            "4 tasks, more than the 3",
        ),
    ],
)
def test_what_is_refused_is_named(content: bytes, says: str) -> None:
    with pytest.raises(InvalidDag, match=says):
        decode_and_check(content, "etl", 3)


def test_references_must_resolve() -> None:
    base = make_dag("etl", [task("a"), task("b", ["a"])])
    mapped = task("m", mapped=MappedSpec(args=[MappedArg(name="x", xcom=XComRef(task_id="nope"))]))
    broken = msgspec.structs.replace(
        base,
        tasks=[*base.tasks, mapped],
        edges=[SerializedEdge(source="a", target="ghost")],
    )
    problems = dag_problems(broken, "etl", 100)
    assert "task 'm' maps over unknown task 'nope'" in problems
    assert "edge 'a' -> 'ghost' names no task 'ghost'" in problems


def test_problems_are_listed_up_to_ten() -> None:
    dag = make_dag("etl", [task(f"bad id {i}") for i in range(12)])
    with pytest.raises(InvalidDag, match=r"\(and 2 more\)"):
        decode_and_check(encode_dag(dag), "etl", 100)
