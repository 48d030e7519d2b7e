"""Is an uploaded DAG one the scheduler can run? Checked before a new version is stored.

The DAG processor runs user code, and a DAG file can patch the serializer, so an upload is
hostile until proven otherwise. A blob that reached the DB was read by the scheduler, the
Execution API and the Web API on faith; one that did not decode, or held a cycle, stopped the
scheduler on every start. So a new version (a hash never stored for that DAG) is decoded once here
and checked whole: it decodes to ``SerializedDag``, names the DAG its metadata names, every id is
well formed and unique, every reference (upstream, downstream, edges, groups, mapped XComs)
resolves, and the tasks form no cycle. What fails is that DAG's import error; an unchanged hash is
never decoded again, so the hot path (re-uploading an unchanged file) stays cheap.
"""

from __future__ import annotations

import re
from collections import deque

import msgspec

from airlock.models.dag import SerializedDag, SerializedTask

#: Airflow's rule for DAG, task and group ids (and the SDK's): letters, digits, ``_ . -``.
ID_PATTERN = re.compile(r"^[\w.-]+$")
MAX_ID_LENGTH = 250
#: Problems listed in one import error; the rest are counted.
MAX_LISTED = 10

_decoder = msgspec.json.Decoder(SerializedDag)


class InvalidDag(ValueError):
    """The blob is not a DAG the scheduler can run; the message names every problem found."""


def decode_and_check(content: bytes, dag_id: str, max_tasks: int) -> SerializedDag:
    """The DAG in ``content`` (decompressed JSON), or :class:`InvalidDag` naming its problems."""
    try:
        dag = _decoder.decode(content)
    except msgspec.DecodeError as exc:
        raise InvalidDag(f"the uploaded blob is not a serialized DAG: {exc}") from None
    problems = dag_problems(dag, dag_id, max_tasks)
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise InvalidDag(f"the uploaded DAG cannot be scheduled: {listed}{more}")
    return dag


def dag_problems(dag: SerializedDag, dag_id: str, max_tasks: int) -> list[str]:
    """Every reason ``dag`` cannot be stored as DAG ``dag_id``; empty when it can."""
    problems: list[str] = []
    if dag.dag_id != dag_id:
        problems.append(f"the blob holds DAG {dag.dag_id[:80]!r}, the upload names {dag_id!r}")
    problems += _bad_id("dag_id", dag.dag_id)
    if len(dag.tasks) > max_tasks:
        problems.append(
            f"{len(dag.tasks)} tasks, more than the {max_tasks} a DAG may have on this server "
            "([internal] max_dag_tasks); split the DAG"
        )
        return problems
    tasks: dict[str, SerializedTask] = {}
    for task in dag.tasks:
        problems += _bad_id("task_id", task.task_id)
        if task.task_id in tasks:
            problems.append(f"task id {task.task_id!r} appears twice")
        tasks[task.task_id] = task
    groups = {group.group_id for group in dag.task_groups}
    for task in dag.tasks:
        problems += _task_references(task, tasks, groups)
    for edge in dag.edges:
        for end in (edge.source, edge.target):
            if end not in tasks:
                problems.append(f"edge {edge.source!r} -> {edge.target!r} names no task {end!r}")
    for group in dag.task_groups:
        if group.parent is not None and group.parent not in groups:
            problems.append(f"group {group.group_id!r} has unknown parent {group.parent!r}")
        for child in group.children:
            if child not in tasks and child not in groups:
                problems.append(f"group {group.group_id!r} lists unknown child {child!r}")
    if not problems:
        problems += _cycle(tasks)
    return problems


def _bad_id(kind: str, value: str) -> list[str]:
    if not value or len(value) > MAX_ID_LENGTH or not ID_PATTERN.match(value):
        return [
            f"{kind} {value[:80]!r} is not an id (1 to {MAX_ID_LENGTH} letters, digits, "
            "'_', '.' or '-')"
        ]
    return []


def _task_references(
    task: SerializedTask, tasks: dict[str, SerializedTask], groups: set[str]
) -> list[str]:
    problems = []
    for up in task.upstream:
        if up not in tasks:
            problems.append(f"task {task.task_id!r} has unknown upstream task {up!r}")
        elif task.task_id not in tasks[up].downstream:
            problems.append(f"task {up!r} is upstream of {task.task_id!r} but lacks it downstream")
    for down in task.downstream:
        if down not in tasks:
            problems.append(f"task {task.task_id!r} has unknown downstream task {down!r}")
        elif task.task_id not in tasks[down].upstream:
            problems.append(
                f"task {down!r} is downstream of {task.task_id!r} but lacks it upstream"
            )
    if task.group_id is not None and task.group_id not in groups:
        problems.append(f"task {task.task_id!r} is in unknown group {task.group_id!r}")
    if task.mapped is not None:
        combined = [arg.combined for arg in task.mapped.args] + [task.mapped.kwargs_combined]
        refs = [arg.xcom for arg in task.mapped.args] + [task.mapped.kwargs_xcom]
        refs += [ref for c in combined if c is not None for ref in c.xcoms]
        for ref in refs:
            if ref is not None and ref.task_id not in tasks:
                problems.append(f"task {task.task_id!r} maps over unknown task {ref.task_id!r}")
    return problems


def _cycle(tasks: dict[str, SerializedTask]) -> list[str]:
    """Kahn's algorithm: the tasks left over when no task without pending upstream remains."""
    pending = {task_id: len(set(task.upstream)) for task_id, task in tasks.items()}
    ready = deque(task_id for task_id, count in pending.items() if count == 0)
    seen = 0
    while ready:
        task_id = ready.popleft()
        seen += 1
        for down in set(tasks[task_id].downstream):
            pending[down] -= 1
            if pending[down] == 0:
                ready.append(down)
    if seen == len(tasks):
        return []
    stuck = sorted(task_id for task_id, count in pending.items() if count > 0)
    shown = ", ".join(repr(t) for t in stuck[:MAX_LISTED])
    return [f"the tasks form a dependency cycle through {shown}"]
