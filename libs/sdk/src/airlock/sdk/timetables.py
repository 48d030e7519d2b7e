"""Timetables for ``schedule=``, under the names Airflow's ``airflow.timetables.*`` modules use.

Subclass :class:`Timetable` and implement ``next_dagrun_info`` for a timetable of your own; the
DAG processor evaluates it (:mod:`airlock.sdk.definitions.python_timetables` says how and within
which limits). ``infer_manual_data_interval`` is not called: a manual run's data interval is
Airlock's (its ``run_after``).
"""

from airlock.sdk.definitions.python_timetables import (
    DagRunInfo,
    DataInterval,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    TimeRestriction,
)
from airlock.sdk.definitions.python_timetables import PythonTimetable as Timetable
from airlock.sdk.definitions.timetables import CronTriggerTimetable, DeltaTriggerTimetable

__all__ = [
    "CronTriggerTimetable",
    "DagRunInfo",
    "DataInterval",
    "DeltaTriggerTimetable",
    "EventsTimetable",
    "MultipleCronTriggerTimetable",
    "TimeRestriction",
    "Timetable",
]
