"""How an asset-scheduled DAG turns the events waiting for it into runs, and completion events.

``DAG(schedule=[orders], asset_run_policy=RunPerBatch(max_events=500, window=timedelta(minutes=1)))``
picks one of four policies (the scheduler applies them; ``airlock.scheduling.asset_runs``):

- :class:`RunPerEvent` (the default): a run per event — each run consumes the oldest waiting event
  of every asset of its condition;
- :class:`RunAllQueued`: a run consumes every waiting event (Airflow's behaviour);
- :class:`RunPerBatch`: a run per ``max_events`` events, and/or per ``window`` after the oldest
  waiting event (then with the events waiting by then, at most ``max_events``);
- :class:`RunAfterQuiet`: debounce — a run once no event has arrived for ``quiet``, or once the
  oldest has waited ``max_wait``, consuming every waiting event.

Events wait for a paused DAG and for ``max_active_runs``; ``DAG(on_unpause="skip_backlog")``
drops what waited through a pause when the DAG is unpaused (default ``"run_backlog"``).

:func:`DagCompleted` schedules a DAG on another DAG's completion: the scheduler
stores an event of the reserved asset ``airlock://dag/<dag_id>/<state>`` when a run of that
DAG ends in that state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airlock.models.dag import AssetBacklog, AssetRunMode, AssetRunPolicy
from airlock.sdk.definitions.asset import Asset, AssetAny, BaseAsset
from airlock.sdk.exceptions import DagDefinitionError

#: The states a completion can be scheduled on.
DAG_END_STATES = ("success", "failed")


class AssetRunPolicyBase:
    """A DAG's ``asset_run_policy``; see the module docstring."""

    def to_policy(self, on_unpause: AssetBacklog) -> AssetRunPolicy:
        raise NotImplementedError


class RunPerEvent(AssetRunPolicyBase):
    """One run per event (per asset of the condition): the default."""

    def to_policy(self, on_unpause: AssetBacklog) -> AssetRunPolicy:
        return AssetRunPolicy(mode=AssetRunMode.PER_EVENT, on_unpause=on_unpause)

    def __repr__(self) -> str:
        return "RunPerEvent()"


class RunAllQueued(AssetRunPolicyBase):
    """One run consumes every waiting event, as Airflow does."""

    def to_policy(self, on_unpause: AssetBacklog) -> AssetRunPolicy:
        return AssetRunPolicy(mode=AssetRunMode.ALL_QUEUED, on_unpause=on_unpause)

    def __repr__(self) -> str:
        return "RunAllQueued()"


def _seconds(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, timedelta) or value.total_seconds() <= 0:
        raise DagDefinitionError(f"{name} must be a positive timedelta, got {value!r}")
    return value.total_seconds()


class RunPerBatch(AssetRunPolicyBase):
    """A run per ``max_events`` waiting events and/or per ``window`` after the oldest one."""

    def __init__(self, max_events: int | None = None, window: timedelta | None = None) -> None:
        if max_events is None and window is None:
            raise DagDefinitionError("RunPerBatch needs max_events, window, or both")
        if max_events is not None and (
            not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1
        ):
            raise DagDefinitionError(
                f"RunPerBatch max_events must be a positive int, got {max_events!r}"
            )
        self.max_events = max_events
        self.window = window
        self._window_s = _seconds(window, "RunPerBatch window")

    def to_policy(self, on_unpause: AssetBacklog) -> AssetRunPolicy:
        return AssetRunPolicy(
            mode=AssetRunMode.BATCH,
            max_events=self.max_events,
            window_s=self._window_s,
            on_unpause=on_unpause,
        )

    def __repr__(self) -> str:
        return f"RunPerBatch(max_events={self.max_events!r}, window={self.window!r})"


class RunAfterQuiet(AssetRunPolicyBase):
    """Debounce: a run once events stop arriving for ``quiet`` (or the oldest waited
    ``max_wait``), consuming every waiting event."""

    def __init__(self, quiet: timedelta, max_wait: timedelta | None = None) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._quiet_s = _seconds(quiet, "RunAfterQuiet quiet")
        self._max_wait_s = _seconds(max_wait, "RunAfterQuiet max_wait")
        if self._quiet_s is None:
            raise DagDefinitionError("RunAfterQuiet needs quiet=timedelta(...)")
        if self._max_wait_s is not None and self._max_wait_s < self._quiet_s:
            raise DagDefinitionError(
                f"RunAfterQuiet max_wait ({max_wait}) must be at least quiet ({quiet})"
            )

    def to_policy(self, on_unpause: AssetBacklog) -> AssetRunPolicy:
        return AssetRunPolicy(
            mode=AssetRunMode.DEBOUNCE,
            quiet_s=self._quiet_s,
            max_wait_s=self._max_wait_s,
            on_unpause=on_unpause,
        )

    def __repr__(self) -> str:
        return f"RunAfterQuiet(quiet={self.quiet!r}, max_wait={self.max_wait!r})"


ON_UNPAUSE = {"run_backlog": AssetBacklog.RUN, "skip_backlog": AssetBacklog.SKIP}


def backlog_choice(value: str, dag_id: str) -> AssetBacklog:
    if value not in ON_UNPAUSE:
        raise DagDefinitionError(
            f"on_unpause must be one of {', '.join(map(repr, ON_UNPAUSE))}, got {value!r}",
            dag_id=dag_id,
        )
    return ON_UNPAUSE[value]


class _CompletionAsset(Asset):
    """An asset of the reserved ``airlock://`` scheme, whose events only the scheduler makes."""

    def __init__(self, uri: str) -> None:
        self.name = uri
        self.uri = uri
        self.group = "completion"
        self.extra = {}
        self.watchers = []
        self.unsupported = None


def event_asset(name: str, uri: str) -> Asset:
    """The asset an event names: a completion asset for a reserved ``airlock://`` URI (which
    ``Asset`` refuses to user code), else a plain one."""
    if uri.lower().startswith("airlock://"):
        return _CompletionAsset(uri)
    return Asset(name=name, uri=uri)


def completion_uri(dag_id: str, state: str) -> str:
    return f"airlock://dag/{dag_id}/{state}"


def _states(states: Iterable[str], allowed: tuple[str, ...], what: str) -> list[str]:
    if isinstance(states, str):
        states = [states]
    chosen = list(dict.fromkeys(states))
    if not chosen or any(state not in allowed for state in chosen):
        raise DagDefinitionError(
            f"{what} states must be some of {', '.join(allowed)}, got {list(states)!r}"
        )
    return chosen


def DagCompleted(dag_id: str, states: Iterable[str] = ("success",)) -> BaseAsset:
    """A schedule (or part of one) met when a run of ``dag_id`` ends in one of ``states``."""
    assets = [
        _CompletionAsset(completion_uri(dag_id, state))
        for state in _states(states, DAG_END_STATES, "DagCompleted")
    ]
    return assets[0] if len(assets) == 1 else AssetAny(*assets)
