"""The graph of a DAG version, derived from its stored serialized form alone.

Nodes are tasks, edges carry the labels authors put on them (``Label``), and task groups nest
through ``parent_id``. Labels shown for tasks and groups drop the enclosing group's prefix, as
Airflow's graph view does (``extract.load`` inside group ``extract`` reads ``load``).
"""

from __future__ import annotations

from airlock.models.dag import SerializedDag
from airlock.models.web_dags import DagGraph, GraphEdge, GraphNode, GraphTaskGroup


def graph_of(dag: SerializedDag, version_number: int) -> DagGraph:
    nodes = [
        GraphNode(
            id=task.task_id,
            label=task.task_display_name or _short(task.task_id, task.group_id),
            operator=task.operator_name,
            group_id=task.group_id,
            trigger_rule=str(task.trigger_rule),
            is_mapped=task.mapped is not None,
            is_setup=task.is_setup,
            is_teardown=task.is_teardown,
            ui_color=task.ui_color,
        )
        for task in dag.tasks
    ]
    if dag.edges:
        edges = [
            GraphEdge(source_id=e.source, target_id=e.target, label=e.label) for e in dag.edges
        ]
    else:
        # Edges are always serialized today; a DAG without them still has its dependencies.
        edges = [
            GraphEdge(source_id=task.task_id, target_id=down)
            for task in dag.tasks
            for down in task.downstream
        ]
    groups = [
        GraphTaskGroup(
            group_id=group.group_id,
            label=_short(group.group_id, group.parent),
            parent_id=group.parent,
            children=list(group.children),
            tooltip=group.tooltip,
            ui_color=group.ui_color,
        )
        for group in dag.task_groups
    ]
    return DagGraph(
        dag_id=dag.dag_id,
        version_number=version_number,
        nodes=nodes,
        edges=edges,
        task_groups=groups,
    )


def _short(node_id: str, parent: str | None) -> str:
    if parent and node_id.startswith(parent + "."):
        return node_id[len(parent) + 1 :]
    return node_id
