"""The Airlock scheduler (control zone): creates time-scheduled DAG runs, examines active runs,
queues task instances across runs by priority, recovers zombies and expired claims.

The decisions themselves live in :mod:`airlock.scheduling`, shared with the APIs (which queue the
next task inline when one finishes); this package is the loop around them
(:class:`~airlock.scheduler.loop.Scheduler`), started by ``airlock scheduler``.
"""

from airlock.scheduler.loop import LoopReport, Scheduler

__all__ = ["LoopReport", "Scheduler"]
