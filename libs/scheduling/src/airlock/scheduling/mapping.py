"""How many instances a mapped task expands into, decided when its upstream tasks are done.

A mapped task (``.expand(...)`` / ``.expand_kwargs(...)``) has one placeholder instance (map
index -1) until it is ready to run. Then its length is known: the product of its expanded
arguments' lengths (``expand``: the cross product), or the number of dicts (``expand_kwargs``). A
literal argument's length travels in the serialized DAG; an argument taken from an upstream
task's XCom is that JSON list's (or dict's) length, read from the ``xcom`` table; an argument
taken from a *mapped* upstream task has one element per upstream instance; one that zips
upstream outputs is as long as the shortest (the longest, with a fill value), one that
concatenates them as long as their sum.

A length of zero skips the task; an XCom that is missing or not a list/dict fails it (with the
reason in the scheduler's log), like Airflow's refusal to map over such a value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.db import XCom
from airlock.models.dag import CombinedXComs, MappedSpec, SerializedTask, XComRef
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.ti_rows import TiRow


class MapLengthError(Exception):
    """The expansion's input cannot be mapped over; the message says why."""


class MapLengthResolver:
    """Computes mapped tasks' lengths for one run, reading upstream XComs only when needed."""

    def __init__(
        self,
        session: Session,
        dag_id: str,
        run_id: str,
        graph: DagGraph,
        rows_by_task: Mapping[str, Sequence[TiRow]],
    ) -> None:
        self._session = session
        self._dag_id = dag_id
        self._run_id = run_id
        self._graph = graph
        self._rows_by_task = rows_by_task

    def __call__(self, task: SerializedTask) -> int:
        spec = task.mapped
        if spec is None:
            raise MapLengthError(f"task {task.task_id!r} is not mapped")
        if spec.kind == "expand_kwargs":
            return self._kwargs_length(task, spec)
        lengths = []
        for arg in spec.args:
            if arg.combined is not None:
                lengths.append(self._combined_length(task, arg.combined))
            elif arg.xcom is not None:
                lengths.append(self._xcom_length(task, arg.xcom))
            elif arg.length is not None:
                lengths.append(arg.length)
            elif arg.values is not None:
                lengths.append(len(arg.values))
            else:
                raise MapLengthError(
                    f"task {task.task_id!r}: expanded argument {arg.name!r} has neither a "
                    "length nor an XCom source in the serialized DAG; re-parse the DAG file"
                )
        return math.prod(lengths) if lengths else 0

    def _kwargs_length(self, task: SerializedTask, spec: MappedSpec) -> int:
        if spec.kwargs_combined is not None:
            return self._combined_length(task, spec.kwargs_combined)
        if spec.kwargs_xcom is not None:
            return self._xcom_length(task, spec.kwargs_xcom)
        if spec.kwargs_length is not None:
            return spec.kwargs_length
        return len(spec.kwargs_values or [])

    def _combined_length(self, task: SerializedTask, combined: CombinedXComs) -> int:
        lengths = [self._xcom_length(task, ref) for ref in combined.xcoms]
        if combined.how == "concat":
            return sum(lengths)
        if combined.how == "zip_longest":
            return max(lengths)
        if combined.how == "zip":
            return min(lengths)
        raise MapLengthError(
            f"task {task.task_id!r} combines its upstream outputs by {combined.how!r}, which "
            "this scheduler does not know; upgrade it or re-parse the DAG file"
        )

    def _xcom_length(self, task: SerializedTask, ref: XComRef) -> int:
        source = self._graph.task(ref.task_id)
        if source is not None and source.mapped is not None:
            rows = self._rows_by_task.get(ref.task_id, ())
            return sum(1 for row in rows if row.map_index >= 0 and row.state is not TIS.REMOVED)
        raw = self._session.scalar(
            select(XCom.value).where(
                XCom.dag_id == self._dag_id,
                XCom.run_id == self._run_id,
                XCom.task_id == ref.task_id,
                XCom.map_index == -1,
                XCom.key == ref.key,
            )
        )
        if raw is None:
            raise MapLengthError(
                f"task {task.task_id!r} expands over XCom {ref.key!r} of {ref.task_id!r}, "
                "which that task did not push; it must return (or push) a list or a dict"
            )
        try:
            value = json.loads(raw)
        except ValueError:
            raise MapLengthError(
                f"task {task.task_id!r} expands over XCom {ref.key!r} of {ref.task_id!r}, "
                "which is not valid JSON"
            ) from None
        if not isinstance(value, list | dict):
            raise MapLengthError(
                f"task {task.task_id!r} expands over XCom {ref.key!r} of {ref.task_id!r}, "
                f"a {type(value).__name__}; it must be a list or a dict"
            )
        return len(value)
