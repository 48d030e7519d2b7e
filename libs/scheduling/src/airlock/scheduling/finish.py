"""``finish_task``: apply what a task's runner reported, then schedule the rest of its run.

Called by the Execution API when a runner ends its try (``PATCH …/state``), inside the request's
transaction: the next task of the run is queued before the commit, so a waiting worker can take
it at once (DESIGN §7: task hand-off).

Outcomes, from ``running`` only:

==================  ===============================================================================
outcome             new state
==================  ===============================================================================
TaskSucceeded       ``success``; task ids in ``skip_task_ids`` (downstream of the task: a branch's
                    unfollowed paths, a short-circuit's downstream) are skipped
TaskFailed          ``up_for_retry`` with ``next_retry_at`` if a try remains and not ``no_retry``,
                    else ``failed`` (then, with ``fail_fast``, the rest of the run is stopped)
TaskSkipped         ``skipped``
TaskRescheduled     ``up_for_reschedule`` until ``reschedule_date`` (``first_poke_at`` kept);
                    ``failed`` (``skipped`` with ``soft_fail``) once the sensor's timeout is over
TaskDeferred        ``deferred``, with ``next_method`` / ``next_kwargs`` and its trigger's row
                    (:mod:`airlock.scheduling.triggers`)
==================  ===============================================================================

Tries: ``try_number`` counts the tries started (``airlock.scheduling.starting`` adds one when a
task starts running). A reschedule or a deferral does not end the try: ``first_poke_at`` /
``next_method`` stay set, which tells the next start that it continues the same try
(``airlock.scheduling.tries``); every other outcome ends the try, clears both, and leaves one
``task_instance_history`` row. A report about a try that is over (the task token names its try)
is refused (``tries.check_try``).

Retry delay: the one the task's retry policy chose (``TaskFailed.retry_delay_s``), else
``retry_delay``; with ``retry_exponential_backoff``, ``retry_delay * 2^(try - 1)``;
capped by ``max_retry_delay`` when set and always by one day. No jitter.

Idempotence: the same report sent again answers the state the first one produced (matched by its
``end_date`` against the try's history row, or by the reschedule date / next method), even if a
later try is already running; any other report for a task instance that is not ``running`` is
:class:`~airlock.scheduling.errors.StateConflict` (409).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Update, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from airlock.db import TaskInstance, TaskInstanceHistory
from airlock.models.dag import SerializedTask
from airlock.models.execution import (
    TaskDeferred,
    TaskFailed,
    TaskOutcome,
    TaskRescheduled,
    TaskSkipped,
    TaskSucceeded,
)
from airlock.models.states import TaskInstanceState as TIS
from airlock.models.task_try import TaskTry
from airlock.scheduling import telemetry
from airlock.scheduling.assets import record_outlet_events
from airlock.scheduling.callbacks import queue_task_callback
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import SchedulingError, StateConflict, TaskInstanceNotFound
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.incremental import schedule_after_end
from airlock.scheduling.locking import (
    LOCK_RUN_BY_KEY,
    LockedRun,
    load_locked_run,
    lock_run_by_key_for_task_end,
    lock_run_for_task_end,
)
from airlock.scheduling.run_pass import DagLimits, schedule_locked_run
from airlock.scheduling.run_state import PROGRESSING_STATES, UNFINISHED_STATES
from airlock.scheduling.tables import DAG, TI, TI_HISTORY, AnyRow, connection
from airlock.scheduling.tries import check_try, on_try
from airlock.scheduling.triggers import store_trigger

log = logging.getLogger(__name__)

#: Longest retry delay, whatever the task says (Airflow's bound too).
MAX_RETRY_DELAY_S = 24 * 3600.0

_COLUMNS = (
    TI.c.id,
    TI.c.dag_id,
    TI.c.run_id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.state,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.start_date,
    TI.c.hostname,
    TI.c.dag_version_id,
    TI.c.next_retry_at,
    TI.c.next_method,
    TI.c.next_kwargs,
    TI.c.first_poke_at,
    TI.c.last_heartbeat_at,
)
_LOAD_TI = select(*_COLUMNS).where(TI.c.id == bindparam("ti_id"))
#: Task instances of one run with their DAG's limits (outer join: a DAG row deleted meanwhile).
_LOAD_TIS_AND_LIMITS = (
    select(*_COLUMNS, DAG.c.is_paused, DAG.c.max_active_tasks)
    .select_from(TI.outerjoin(DAG, DAG.c.dag_id == TI.c.dag_id))
    .where(
        TI.c.id.in_(bindparam("ids", expanding=True)),
        TI.c.dag_id == bindparam("dag_id"),
        TI.c.run_id == bindparam("run_id"),
    )
)
_RUN_COLUMNS = ("id", "dag_id", "run_id", "state", "dag_version_id", "run_after", "start_date")
_LOCKED = LOCK_RUN_BY_KEY.cte("locked")
#: PostgreSQL: the run locked as :func:`lock_run_by_key_for_task_end` does, and in the same round
#: trip its task instances ``ids`` with their DAG's limits (none: one row of NULLs; no run: no
#: row). The task instances are read as of the statement's start, which may be before the lock
#: was granted: the end's update re-checks their state and try (``_end_statement``).
_LOCK_AND_LOAD = select(
    *(_LOCKED.c[name].label(f"locked_{name}") for name in _RUN_COLUMNS),
    *_COLUMNS,
    DAG.c.is_paused,
    DAG.c.max_active_tasks,
).select_from(
    _LOCKED.outerjoin(
        TI.outerjoin(DAG, DAG.c.dag_id == TI.c.dag_id),
        and_(
            TI.c.dag_id == _LOCKED.c.dag_id,
            TI.c.run_id == _LOCKED.c.run_id,
            TI.c.id.in_(bindparam("ids", expanding=True)),
        ),
    )
)
_RECORD_TRY = insert(TI_HISTORY).values(
    task_instance_id=bindparam("ti_id"),
    try_number=bindparam("try_number"),
    state=bindparam("state"),
    dag_version_id=bindparam("dag_version_id"),
    start_date=bindparam("start_date"),
    end_date=bindparam("end_date"),
    duration=bindparam("duration"),
    hostname=bindparam("hostname"),
)


@functools.cache
def _end_statement(keys: tuple[str, ...]) -> Update:
    """``UPDATE task_instance SET <keys> WHERE id = :ti_id AND state = 'running' AND
    try_number = :of_try`` (the try read: a task cleared and started again since is left alone)."""
    return (
        update(TI)
        .where(
            TI.c.id == bindparam("ti_id"),
            TI.c.state == TIS.RUNNING,
            on_try(TI, bindparam("of_try")),
        )
        .values({key: bindparam(f"new_{key}") for key in keys})
    )


@functools.cache
def _end_and_record_statement(keys: tuple[str, ...]) -> Insert:
    """PostgreSQL: :func:`_end_statement` and the try's history row in one statement (the
    insert inserts nothing when the update matched nothing; what it returns says which)."""
    moved = (
        _end_statement(keys)
        .returning(TI.c.id, TI.c.try_number, TI.c.dag_version_id, TI.c.start_date, TI.c.hostname)
        .cte("moved")
    )
    columns = TI_HISTORY.c
    return (
        insert(TI_HISTORY)
        .from_select(
            [
                columns.task_instance_id,
                columns.try_number,
                columns.state,
                columns.dag_version_id,
                columns.start_date,
                columns.end_date,
                columns.duration,
                columns.hostname,
            ],
            select(
                moved.c.id,
                moved.c.try_number,
                bindparam("h_state", type_=columns.state.type),
                moved.c.dag_version_id,
                moved.c.start_date,
                bindparam("h_end_date", type_=columns.end_date.type),
                bindparam("h_duration", type_=columns.duration.type),
                moved.c.hostname,
            ),
        )
        .add_cte(moved)
        .returning(TI_HISTORY.c.task_instance_id)
    )


def retry_delay_s(task: SerializedTask, try_number: int) -> float:
    """Seconds to wait before the try after ``try_number`` (which just failed)."""
    delay = task.retry_delay
    if task.retry_exponential_backoff:
        delay = task.retry_delay * 2 ** min(max(try_number - 1, 0), 62)
    if task.max_retry_delay is not None:
        delay = min(delay, task.max_retry_delay)
    return max(0.0, min(delay, MAX_RETRY_DELAY_S))


@dataclass(frozen=True, slots=True)
class TaskEnd:
    """One runner's report of how its try ended: ``outcome`` for task instance ``ti_id``, about
    try ``try_number`` (the task token's; None: whatever try runs now)."""

    ti_id: str
    outcome: TaskOutcome
    try_number: int | None = None

    @property
    def task_try(self) -> TaskTry:
        return TaskTry(self.ti_id, self.try_number)


def finish_task(
    session: Session,
    ti_id: str,
    outcome: TaskOutcome,
    dag_cache: DagCache,
    now: dt.datetime,
    *,
    try_number: int | None = None,
) -> TIS:
    """Apply ``outcome`` to the running task instance ``ti_id``; the state it ended in.

    ``try_number`` is the try the report is about (the task token's): a report from a try that
    is over — the task was cleared and runs again elsewhere — is a conflict, never applied to
    the try that runs now.

    The caller commits; task instances this queued are announced to the queue listeners then.
    """
    (result,) = finish_tasks(session, [TaskEnd(ti_id, outcome, try_number)], dag_cache, now)
    if isinstance(result, SchedulingError):
        raise result
    return result


def finish_tasks(
    session: Session,
    ends: Sequence[TaskEnd],
    dag_cache: DagCache,
    now: dt.datetime,
    *,
    run_key: tuple[str, str] | None = None,
) -> list[TIS | StateConflict | TaskInstanceNotFound]:
    """Apply several ends of task instances of one run, then schedule the run once: for each
    end, the state it ended in, or why it was refused (nothing of a refused end is written).

    Ends of one run arriving together (a wide DAG's tasks ending at once) take the run's lock
    once instead of once each; everything from the lock to the commit waits for the lock's
    holder, so the lock is the run's bottleneck. ``run_key`` (dag id, run id) names the run;
    without it the run is the first end's. An end whose task instance is not in that run is
    refused as not found. Each task instance may appear once.

    The caller commits; task instances this queued are announced to the queue listeners then.
    """
    ids = [end.ti_id for end in ends]
    if len(set(ids)) != len(ids):
        raise ValueError(f"each task instance may end once in a batch, got {ids}")
    # Everything from the lock to the commit happens under the run's lock: other ends of tasks
    # of the run wait meanwhile, so it takes as few round trips as it can.
    run, rows = _lock_and_load(session, ids, now, run_key)
    results: dict[int, TIS | StateConflict | TaskInstanceNotFound] = {}
    moves: list[_Move] = []
    for index, end in enumerate(ends):
        ti = rows.get(end.ti_id)
        if ti is None:
            results[index] = TaskInstanceNotFound(f"task instance {end.ti_id!r} does not exist")
            continue
        try:
            move = _prepare(session, index, ti, end, dag_cache, now)
        except StateConflict as exc:
            results[index] = exc
            continue
        if isinstance(move, _Move):
            moves.append(move)
        else:
            results[index] = move  # a repeat: the state the first report produced
    by_version: dict[int, list[_Ended]] = {}
    moved = _move(session, moves)
    for move in moves:
        if move.ti.id not in moved:
            results[move.index] = _not_moved(session, move)
            continue
        _after_move(session, move, now)
        telemetry.try_ended(session, run, move.ti, move.state, now)
        results[move.index] = move.state
        by_version.setdefault(move.ti.dag_version_id, []).append(move.ended(now))
    if run is not None:
        for version_ends in by_version.values():
            _schedule_after(session, run, dag_cache, version_ends, now)
    return [results[index] for index in range(len(ends))]


def _lock_and_load(
    session: Session, ids: list[str], now: dt.datetime, run_key: tuple[str, str] | None
) -> tuple[LockedRun | None, dict[str, AnyRow]]:
    """Lock the run (``run_key``'s, or the first task instance's) and read the task instances
    ``ids`` of it: one round trip on PostgreSQL given the key, two otherwise."""
    conn = connection(session)
    if run_key is not None and conn.dialect.name == "postgresql":
        params = {"k_dag_id": run_key[0], "k_run_id": run_key[1], "now": now, "ids": ids}
        found = conn.execute(_LOCK_AND_LOAD, params).all()
        if not found:
            return None, {}
        first = found[0]
        locked = LockedRun(*(getattr(first, f"locked_{name}") for name in _RUN_COLUMNS))
        return locked, {row.id: row for row in found if row.id is not None}
    run: LockedRun | None
    if run_key is not None:
        run = lock_run_by_key_for_task_end(session, *run_key, now)
    else:
        run = lock_run_for_task_end(session, ids[0], now)
    if run is None:
        return None, {}
    params = {"ids": ids, "dag_id": run.dag_id, "run_id": run.run_id}
    return run, {row.id: row for row in conn.execute(_LOAD_TIS_AND_LIMITS, params)}


@dataclass(frozen=True, slots=True)
class _Ended:
    """What the scheduling after an applied end needs of it."""

    graph: DagGraph
    #: The task that ended, then the tasks its success skipped.
    task_ids: list[str]
    state: TIS
    #: When its retry or reschedule is due.
    due: dt.datetime | None
    limits: DagLimits | None


@dataclass(slots=True)
class _Move:
    """One end, checked and ready to apply: ``ti`` moves to ``state`` with ``values``."""

    index: int
    ti: AnyRow
    task: SerializedTask
    graph: DagGraph
    outcome: TaskOutcome
    state: TIS
    values: dict[str, Any]
    #: The try the report names (None: an end the control plane applies itself).
    of: TaskTry | None = None

    @property
    def ends_try(self) -> bool:
        return self.state not in (TIS.UP_FOR_RESCHEDULE, TIS.DEFERRED)

    def ended(self, now: dt.datetime) -> _Ended:
        ti, outcome = self.ti, self.outcome
        task_ids = [ti.task_id]
        if isinstance(outcome, TaskSucceeded) and outcome.skip_task_ids:
            task_ids += sorted(set(outcome.skip_task_ids) & self.graph.descendants(ti.task_id))
        limits = (
            DagLimits(ti.is_paused, self.graph.dag.max_active_runs, ti.max_active_tasks)
            if ti.is_paused is not None
            else None
        )
        return _Ended(self.graph, task_ids, self.state, _due(ti, self.task, outcome), limits)


def _prepare(
    session: Session, index: int, ti: AnyRow, end: TaskEnd, dag_cache: DagCache, now: dt.datetime
) -> _Move | TIS:
    """Check one end (its run locked): the move to make, or the state an identical earlier
    report produced. Raises :class:`StateConflict` when it may not apply."""
    outcome = end.outcome
    if not check_try(ti.try_number, end.task_try):
        raise StateConflict(
            f"a {_kind(outcome)} report for try {end.try_number} of task instance {ti.id}, "
            f"which is on try {ti.try_number} now; the report is not applied",
            current=ti.state.value if ti.state else None,
        )
    replayed = _replayed(session, ti, outcome, end.task_try)
    if replayed is not None:
        return replayed
    if ti.state is not TIS.RUNNING:
        raise StateConflict(
            f"task instance {ti.id} is {ti.state.value if ti.state else 'without state'}, not "
            f"running; a {_kind(outcome)} report applies only to a running task",
            current=ti.state.value if ti.state else None,
        )
    graph = dag_cache.graph(session, ti.dag_version_id)
    task = graph.task(ti.task_id)
    if task is None:
        raise StateConflict(
            f"task {ti.task_id!r} is not in the DAG version of task instance {ti.id}", ti.state
        )
    state, values = _target(ti, task, outcome, now)
    if outcome.pid is not None:
        values["pid"] = outcome.pid  # the task's own process (the hand-out named its runner's)
    return _Move(index, ti, task, graph, outcome, state, values, end.task_try)


def _move(session: Session, moves: Sequence[_Move]) -> set[str]:
    """Apply ``moves`` (their history rows included); the ids of the task instances that moved
    (one left ``running`` or its try meanwhile did not).

    On PostgreSQL several moves go in two round trips: the updates in one pipeline (the
    driver's ``executemany``), the history rows in one insert."""
    if len(moves) > 1 and session.get_bind().dialect.name == "postgresql":
        return _move_together(session, moves)
    return {move.ti.id for move in moves if _move_one(session, move)}


def _move_one(session: Session, move: _Move) -> bool:
    ti, state, values = move.ti, move.state, move.values
    keys = tuple(values)
    params = {"ti_id": ti.id, "of_try": ti.try_number, **{f"new_{k}": values[k] for k in keys}}
    if move.ends_try and session.get_bind().dialect.name == "postgresql":
        # One round trip for both: the run's lock is held meanwhile.
        params.update(
            h_state=state, h_end_date=values.get("end_date"), h_duration=values.get("duration")
        )
        # (rowcount is not reported for this statement: count what it returns)
        returned = connection(session).execute(_end_and_record_statement(keys), params)
        return len(returned.all()) > 0
    if connection(session).execute(_end_statement(keys), params).rowcount == 0:
        return False
    if move.ends_try:
        _record_try(session, [move])
    return True


def _move_together(session: Session, moves: Sequence[_Move]) -> set[str]:
    by_keys: dict[tuple[str, ...], list[_Move]] = {}
    for move in moves:
        by_keys.setdefault(tuple(move.values), []).append(move)
    moved: set[str] = set()
    for keys, group in by_keys.items():
        params = [
            {"ti_id": m.ti.id, "of_try": m.ti.try_number, **{f"new_{k}": m.values[k] for k in keys}}
            for m in group
        ]
        count = connection(session).execute(_end_statement(keys), params).rowcount
        if count == len(group):
            moved.update(m.ti.id for m in group)
        else:  # one left running meanwhile: find which moved (rare)
            moved.update(_which_moved(session, group))
    ended = [m for m in moves if m.ends_try and m.ti.id in moved]
    if ended:
        _record_try(session, ended)
    return moved


def _which_moved(session: Session, moves: Sequence[_Move]) -> set[str]:
    """Which of ``moves`` this transaction made: the instance is in the state, try and end
    date it set."""
    now_rows = connection(session).execute(
        select(TI.c.id, TI.c.state, TI.c.try_number, TI.c.end_date).where(
            TI.c.id.in_([m.ti.id for m in moves])
        )
    )
    current = {row.id: (row.state, row.try_number, row.end_date) for row in now_rows}
    return {
        m.ti.id
        for m in moves
        if current.get(m.ti.id) == (m.state, m.ti.try_number, m.values.get("end_date"))
    }


def _after_move(session: Session, move: _Move, now: dt.datetime) -> None:
    """What follows a task instance's move: its callback, the skips its success asked for, a
    fail-fast stop, the asset events of its outlets."""
    ti, task, graph, outcome, state = move.ti, move.task, move.graph, move.outcome, move.state
    error = outcome.error if isinstance(outcome, TaskFailed) else None
    queue_task_callback(
        session,
        task,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
        dag_version_id=ti.dag_version_id,
        state=state,
        now=now,
        error=error,
    )
    if isinstance(outcome, TaskSucceeded) and outcome.skip_task_ids:
        _skip_downstream(session, ti, graph, outcome.skip_task_ids, now)
    if state is TIS.FAILED and graph.dag.fail_fast:
        _stop_the_rest(session, ti, graph, now)
    if isinstance(outcome, TaskSucceeded) and (task.outlets or outcome.asset_events):
        record_outlet_events(session, ti, task, outcome.asset_events, now)
    if isinstance(outcome, TaskDeferred):
        store_trigger(session, ti.id, outcome, now)


def _not_moved(session: Session, move: _Move) -> TIS | StateConflict:
    """The answer to an end whose instance did not move: what it was read as was stale (read
    before the run's lock was granted). A repeat of a report that has just been applied
    answers as the first one did; anything else is a conflict."""
    fresh = load_task_instance(session, move.ti.id)
    if fresh is not None:
        replayed = _replayed(session, fresh, move.outcome, move.of)
        if replayed is not None:
            return replayed
    return _left_running(session, move.ti.id, move.outcome, fresh)


def _left_running(
    session: Session, ti_id: str, outcome: TaskOutcome, fresh: AnyRow | None = None
) -> StateConflict:
    fresh = fresh if fresh is not None else load_task_instance(session, ti_id)
    current = fresh.state if fresh else None
    return StateConflict(
        f"task instance {ti_id} is no longer running (it is "
        f"{current.value if current else 'without state'}); its {_kind(outcome)} report is "
        "not applied",
        current=current.value if current else None,
    )


def _schedule_after(
    session: Session,
    run: LockedRun,
    dag_cache: DagCache,
    ends: Sequence[_Ended],
    now: dt.datetime,
) -> None:
    """Schedule ``run`` (locked) after ``ends`` (of tasks of one DAG version): incrementally
    when that is enough, else with a full pass (:mod:`airlock.scheduling.incremental`)."""
    graph = ends[0].graph
    full = any(
        (end.state is TIS.FAILED and graph.dag.fail_fast)  # the rest of the run stopped
        # a retry or reschedule due at once: the full pass schedules it
        or (end.state in (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE) and (end.due or now) <= now)
        for end in ends
    )
    # waiting for its retry, rescheduled, deferred
    progressing = any(end.state in PROGRESSING_STATES for end in ends)
    if full or not schedule_after_end(
        session,
        run,
        graph,
        [task_id for end in ends for task_id in end.task_ids],
        now,
        progressing=progressing,
        limits=ends[0].limits,
        freed=len(ends),
    ):
        schedule_locked_run(session, load_locked_run(session, run), dag_cache, now)


def apply_outcome(
    session: Session,
    ti: AnyRow,
    task: SerializedTask,
    graph: DagGraph,
    outcome: TaskOutcome,
    now: dt.datetime,
) -> TIS:
    """Move a running task instance per ``outcome`` (run already locked), with everything
    that follows (:func:`_after_move`); its new state."""
    state, values = _target(ti, task, outcome, now)
    if outcome.pid is not None:
        values["pid"] = outcome.pid
    move = _Move(0, ti, task, graph, outcome, state, values)
    if not _move_one(session, move):
        raise _left_running(session, ti.id, outcome)
    _after_move(session, move, now)
    return state


def _target(
    ti: AnyRow, task: SerializedTask, outcome: TaskOutcome, now: dt.datetime
) -> tuple[TIS, dict[str, Any]]:
    if isinstance(outcome, TaskDeferred):
        return TIS.DEFERRED, {
            "state": TIS.DEFERRED,
            "next_method": outcome.next_method,
            "next_kwargs": dict(outcome.next_kwargs),
        }
    end = _utc(outcome.end_date)
    if isinstance(outcome, TaskRescheduled):
        first_poke = ti.first_poke_at or ti.start_date or end
        sensor = task.sensor
        if sensor is None or (end - first_poke).total_seconds() < sensor.timeout:
            return TIS.UP_FOR_RESCHEDULE, {
                "state": TIS.UP_FOR_RESCHEDULE,
                "next_retry_at": _utc(outcome.reschedule_date),
                "first_poke_at": first_poke,
                "end_date": end,
            }
        log.info("sensor %s of %s timed out after %ss", ti.task_id, ti.dag_id, sensor.timeout)
        state = TIS.SKIPPED if sensor.soft_fail else TIS.FAILED
    elif isinstance(outcome, TaskSucceeded):
        state = TIS.SUCCESS
    elif isinstance(outcome, TaskSkipped):
        state = TIS.SKIPPED
    elif not outcome.no_retry and ti.try_number <= ti.max_tries:
        state = TIS.UP_FOR_RETRY
    else:
        state = TIS.FAILED
    values: dict[str, Any] = {
        "state": state,
        "end_date": end,
        "duration": (end - ti.start_date).total_seconds() if ti.start_date else None,
        "first_poke_at": None,
        "next_method": None,
        "next_kwargs": None,
    }
    if state is TIS.UP_FOR_RETRY:
        values["next_retry_at"] = end + dt.timedelta(seconds=_retry_delay_s(task, ti, outcome))
        if task.priority_weight_by_try:  # a custom strategy's weight for the next try
            by_try = task.priority_weight_by_try
            values["priority_weight"] = by_try[min(ti.try_number, len(by_try) - 1)]
    return state, values


def _due(ti: AnyRow, task: SerializedTask, outcome: TaskOutcome) -> dt.datetime | None:
    """When a try that ended up for retry or rescheduled may start again (as :func:`_target`
    sets ``next_retry_at``)."""
    if isinstance(outcome, TaskRescheduled):
        return _utc(outcome.reschedule_date)
    if isinstance(outcome, TaskFailed):
        return _utc(outcome.end_date) + dt.timedelta(seconds=_retry_delay_s(task, ti, outcome))
    return None


def _retry_delay_s(task: SerializedTask, ti: AnyRow, outcome: TaskOutcome) -> float:
    """The task's retry policy's delay when it chose one, else the task's own."""
    chosen = outcome.retry_delay_s if isinstance(outcome, TaskFailed) else None
    return chosen if chosen is not None else retry_delay_s(task, ti.try_number)


def _record_try(session: Session, moves: Sequence[_Move]) -> None:
    """The history rows of the tries ``moves`` ended (one insert)."""
    connection(session).execute(
        _RECORD_TRY,
        [
            {
                "ti_id": m.ti.id,
                "try_number": m.ti.try_number,
                "state": m.state,
                "dag_version_id": m.ti.dag_version_id,
                "start_date": m.ti.start_date,
                "end_date": m.values.get("end_date"),
                "duration": m.values.get("duration"),
                "hostname": m.ti.hostname,
            }
            for m in moves
        ],
    )


def _replayed(session: Session, ti: AnyRow, outcome: TaskOutcome, of: TaskTry | None) -> TIS | None:
    """The state an identical earlier report produced, if ``outcome`` (about try ``of``) is
    such a repeat: the try's history row, matched by the report's end date."""
    if isinstance(outcome, TaskDeferred):
        same = ti.next_method == outcome.next_method and (ti.next_kwargs or {}) == dict(
            outcome.next_kwargs
        )
        return TIS.DEFERRED if ti.state is TIS.DEFERRED and same else None
    if (
        isinstance(outcome, TaskRescheduled)
        and ti.state is TIS.UP_FOR_RESCHEDULE
        and ti.next_retry_at == _utc(outcome.reschedule_date)
    ):
        return TIS.UP_FOR_RESCHEDULE
    if ti.state is TIS.RUNNING and ti.try_number <= 1:
        return None  # nothing ended yet: cannot be a repeat
    query = select(TaskInstanceHistory.state).where(
        TaskInstanceHistory.task_instance_id == ti.id,
        TaskInstanceHistory.end_date == _utc(outcome.end_date),
        TaskInstanceHistory.state.in_(_ENDS_OF[type(outcome)]),
    )
    if of is not None and of.try_number is not None:
        query = query.where(TaskInstanceHistory.try_number == of.try_number)
    return session.execute(
        query.order_by(TaskInstanceHistory.try_number.desc()).limit(1)
    ).scalar_one_or_none()


#: The states a try may have ended in after each kind of report (a sensor's reschedule becomes a
#: failure, or a skip with ``soft_fail``, once its timeout is over).
_ENDS_OF: dict[type, tuple[TIS, ...]] = {
    TaskSucceeded: (TIS.SUCCESS,),
    TaskFailed: (TIS.FAILED, TIS.UP_FOR_RETRY),
    TaskSkipped: (TIS.SKIPPED,),
    TaskRescheduled: (TIS.FAILED, TIS.SKIPPED),
}


def _skip_downstream(
    session: Session, ti: AnyRow, graph: DagGraph, skip_ids: list[str], now: dt.datetime
) -> None:
    below = graph.descendants(ti.task_id)
    allowed = sorted(set(skip_ids) & below)
    ignored = sorted(set(skip_ids) - below)
    if ignored:
        log.warning(
            "task %s of %s asked to skip %s, which are not downstream of it; ignored",
            ti.task_id,
            ti.dag_id,
            ignored,
        )
    if not allowed:
        return
    session.execute(
        update(TaskInstance)
        .where(
            TaskInstance.dag_id == ti.dag_id,
            TaskInstance.run_id == ti.run_id,
            TaskInstance.task_id.in_(allowed),
            TaskInstance.state.is_(None) | (TaskInstance.state == TIS.SCHEDULED),
        )
        .values(state=TIS.SKIPPED, end_date=now)
        .execution_options(synchronize_session=False)
    )


def _stop_the_rest(session: Session, ti: AnyRow, graph: DagGraph, now: dt.datetime) -> None:
    """``fail_fast``: fail running tasks and skip unstarted ones, teardowns excepted."""
    keep = [tid for tid, task in graph.tasks.items() if task.is_teardown] + [ti.task_id]
    of_run = (
        (TaskInstance.dag_id == ti.dag_id)
        & (TaskInstance.run_id == ti.run_id)
        & TaskInstance.task_id.not_in(keep)
    )
    session.execute(
        update(TaskInstance)
        .where(of_run, TaskInstance.state == TIS.RUNNING)
        .values(state=TIS.FAILED, end_date=now)
        .execution_options(synchronize_session=False)
    )
    unstarted = [s for s in UNFINISHED_STATES if s not in (None, TIS.RUNNING)]
    session.execute(
        update(TaskInstance)
        .where(of_run, TaskInstance.state.in_(unstarted) | TaskInstance.state.is_(None))
        .values(state=TIS.SKIPPED, end_date=now)
        .execution_options(synchronize_session=False)
    )


def load_task_instance(session: Session, ti_id: str) -> AnyRow | None:
    return connection(session).execute(_LOAD_TI, {"ti_id": ti_id}).one_or_none()


def _kind(outcome: TaskOutcome) -> str:
    return type(outcome).__name__


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
