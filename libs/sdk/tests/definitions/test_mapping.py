"""Dynamic task mapping: the graph it makes and the arguments of each map index."""

from __future__ import annotations

from airlock.sdk import BashOperator, MappedOperator
from airlock.sdk.testing import InMemoryComms, run_task


def test_mapped_tasks_in_the_graph(load_dags) -> None:
    dag = load_dags("dynamic_mapping.py")["dynamic_mapping"]
    mapped = {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)}
    assert mapped == {"add", "add_upstream", "cross", "bash_kwargs", "bash_literal"}
    assert dag.get_task("add_upstream").upstream_task_ids == {"make_list"}
    assert dag.get_task("total").upstream_task_ids == {"add_upstream"}
    assert dag.get_task("bash_kwargs").upstream_task_ids == {"commands"}
    bash = dag.get_task("bash_kwargs")
    assert isinstance(bash, MappedOperator)
    assert bash.retries == 1
    assert bash.operator_name == "BashOperator"


def test_cross_product_order(load_dags) -> None:
    dag = load_dags("dynamic_mapping.py")["dynamic_mapping"]
    cross = dag.get_task("cross")
    assert isinstance(cross, MappedOperator)
    context = {"params": {}}
    assert cross.expand_length(context) == 6
    combos = [cross.expand_kwargs_at(context, i) for i in range(6)]
    assert combos[0] == {"x": 1, "y": 10}
    assert combos[1] == {"x": 1, "y": 20}
    assert combos[3] == {"x": 2, "y": 10}


def test_run_mapped_instances_over_literal_and_upstream(load_dags) -> None:
    dag = load_dags("dynamic_mapping.py")["dynamic_mapping"]
    comms = InMemoryComms()
    assert run_task(dag.get_task("add"), map_index=1, comms=comms).return_value == 12
    assert run_task(dag.get_task("make_list"), comms=comms).return_value == [1, 2, 3]
    upstream = dag.get_task("add_upstream")
    results = [run_task(upstream, map_index=i, comms=comms).return_value for i in range(3)]
    assert results == [101, 102, 103]
    assert run_task(dag.get_task("total"), comms=comms).return_value == 306


def test_run_expand_kwargs_instances(load_dags) -> None:
    dag = load_dags("dynamic_mapping.py")["dynamic_mapping"]
    comms = InMemoryComms()
    run_task(dag.get_task("commands"), comms=comms)
    outcome = run_task(dag.get_task("bash_kwargs"), map_index=1, comms=comms)
    assert outcome.return_value == "2"
    literal = run_task(dag.get_task("bash_literal"), map_index=2, comms=comms)
    assert literal.return_value == "c"


def test_unmap_builds_a_concrete_operator(load_dags) -> None:
    dag = load_dags("dynamic_mapping.py")["dynamic_mapping"]
    mapped = dag.get_task("bash_literal")
    assert isinstance(mapped, MappedOperator)
    concrete = mapped.unmap({"bash_command": "echo x"})
    assert isinstance(concrete, BashOperator)
    assert concrete.task_id == "bash_literal"
    assert concrete.dag is dag
    assert concrete.bash_command == "echo x"
    assert dag.get_task("bash_literal") is mapped
