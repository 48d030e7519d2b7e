"""The triggerer's asset watchers: leased through the Internal API, run in a watcher runner
(:mod:`airlock.triggerer.watch_runner`), their events stored before the source is acked.

The :class:`~airlock.triggerer.triggerer.Triggerer` calls :meth:`WatcherHost.run_once` from its
main loop: restart the runner if it died (with every watcher still held), heartbeat every third
of the lease with each watcher's last reported status, lease more watchers up to capacity. A
reader thread takes the runner's reports; one poster thread stores the events that are waiting,
as many as :data:`EVENTS_PER_CALL` in one call, and answers the runner per message:

- every event ``stored`` or ``duplicate`` → :class:`EventsStored` (ok): the trigger acks;
- any ``refused`` → the lease moved on: the watcher stops without acking;
- the API unreachable → the same events are sent again after a backoff (the store is keyed by
  dedup key, so a retry never makes a second event); nothing is acked meanwhile.

On shutdown the leases are given back, so another triggerer takes the watchers at once; a
triggerer killed outright loses its leases after ``trigger_lease_s`` and its unacked messages
are redelivered by the broker to the next holder.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from airlock.models.internal_watchers import (
    HeldWatcher,
    LeasedWatcher,
    WatcherEventIn,
    WatcherHeartbeat,
    WatcherStatus,
)
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.api import ApiError, ApiUnreachable, InternalClient
from airlock.sdk.execution_time.supervised import (
    Confinement,
)
from airlock.triggerer.runner_link import RunnerLink
from airlock.triggerer.watch_protocol import (
    MAX_FRAME,
    EventsStored,
    RunWatcher,
    StopWatcher,
    WatcherEvents,
    WatcherStatusReport,
    from_runner_decoder,
)

log = logging.getLogger("airlock.triggerer.watchers")

#: Events stored in one call at most.
EVENTS_PER_CALL = 2000


def connection_ids(kwargs: dict[str, object]) -> list[str]:
    """The connections a watcher's kwargs name: values of ``conn_id`` and ``*_conn_id``."""
    return sorted(
        {
            value
            for key, value in kwargs.items()
            if (key == "conn_id" or key.endswith("_conn_id")) and isinstance(value, str)
        }
    )


class WatcherHost:
    def __init__(
        self,
        client: InternalClient,
        *,
        name: str,
        capacity: int,
        bundles: dict[str, str],
    ) -> None:
        self._client = client
        self.name = name
        self.capacity = capacity
        self._bundles = {b: str(Path(folder).resolve()) for b, folder in bundles.items()}
        self._lock = threading.Lock()
        self.held: dict[int, LeasedWatcher] = {}
        self.status: dict[int, WatcherStatus] = {}
        self._runner = RunnerLink(
            "airlock.triggerer.watch_runner",
            name="watcher runner",
            decoder=from_runner_decoder,
            max_frame=MAX_FRAME,
            on_report=self._on_report,
        )
        self._events: queue.Queue[WatcherEvents | None] = queue.Queue()
        self._lease_s = 10.0
        self._last_beat = 0.0
        self._poster = threading.Thread(
            target=self._post_events, name="watcher-events", daemon=True
        )
        self._poster.start()
        self.stored = 0
        #: Watchers whose trigger failed: sent again, with their connections fetched anew (one
        #: created or fixed since is used at the next restart).
        self._refresh: set[int] = set()
        #: How the runner is confined, and its temp folder: the triggerer's (:meth:`confine`).
        self._confinement: Confinement | None = None
        self._tmp: str | None = None

    def confine(self, confinement: Confinement, tmp: str) -> None:
        """Run watcher code as the triggerer runs trigger code: as its ``run_as_user``, with its
        memory cap, seeing only the bundles, ``tmp`` and the Python install."""
        self._confinement = confinement
        self._tmp = tmp

    # --- the runner ---------------------------------------------------------------------------

    def _start_runner(self) -> None:
        self._runner.start(tmp=self._tmp, confinement=self._confinement)
        with self._lock:
            held = list(self.held.values())
        for watcher in held:
            self._send_run(watcher)

    def _send_run(self, watcher: LeasedWatcher) -> None:
        label = f"{watcher.dag_id}/{watcher.name}"
        root = self._bundles.get(watcher.bundle)
        if root is None:
            self._set_status(
                watcher.id,
                "failed",
                error=f"bundle {watcher.bundle!r} is not configured on triggerer {self.name!r} "
                f"([triggerer] bundles: {sorted(self._bundles)})",
            )
            return
        connections: dict[str, ConnectionInfo] = {}
        for conn_id in connection_ids(watcher.kwargs):
            try:
                info = self._client.get_connection(watcher.bundle, conn_id)
            except (ApiError, ApiUnreachable) as exc:
                self._set_status(watcher.id, "failed", error=f"connection {conn_id!r}: {exc}")
                continue
            if info is not None:
                connections[conn_id] = info
        self._runner.send(
            RunWatcher(
                id=watcher.id,
                classpath=watcher.classpath,
                kwargs=watcher.kwargs,
                bundle_root=root,
                dag_rel_path=watcher.dag_rel_path,
                label=label,
                connections=connections,
            )
        )

    def _on_report(self, report: object) -> None:
        if isinstance(report, WatcherEvents):
            self._events.put(report)
        elif isinstance(report, WatcherStatusReport):
            self._on_status(report)

    def _on_status(self, report: WatcherStatusReport) -> None:
        with self._lock:
            watcher = self.held.get(report.id)
            before = self.status.get(report.id)
        if watcher is None:
            return
        changed = before is None or (before.state, before.last_error) != (
            report.state,
            report.error,
        )
        troubled = ("reconnecting", "failed")
        if changed and (
            report.state in troubled
            or (report.state == "running" and before and before.state in troubled)
        ):
            # Once per failure, backoff or recovery, never per poll.
            level = logging.INFO if report.state == "running" else logging.WARNING
            log.log(
                level,
                "watcher %s/%s (asset %s): %s%s",
                watcher.dag_id,
                watcher.name,
                watcher.asset_uri,
                report.state,
                f": {report.error}" if report.error else "",
            )
        self._set_status(report.id, report.state, lag=report.lag, error=report.error)
        if report.state == "failed":
            with self._lock:
                self._refresh.add(report.id)

    def _set_status(
        self, watcher_id: int, state: str, *, lag: int | None = None, error: str | None = None
    ) -> None:
        with self._lock:
            watcher = self.held.get(watcher_id)
            if watcher is None:
                return
            self.status[watcher_id] = WatcherStatus(
                id=watcher_id,
                epoch=watcher.epoch,
                state=state,  # type: ignore[arg-type]
                lag=lag,
                last_error=error[:10_000] if error else None,
            )

    # --- storing events -----------------------------------------------------------------------

    def _post_events(self) -> None:
        while True:
            first = self._events.get()
            if first is None:
                return
            batch = [first]
            count = len(first.events)
            while count < EVENTS_PER_CALL:
                try:
                    more = self._events.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._events.put(None)
                    break
                batch.append(more)
                count += len(more.events)
            self._store(batch)

    def _store(self, batch: list[WatcherEvents]) -> None:
        backoff = 0.5
        while True:
            items: list[WatcherEventIn] = []
            sent: list[WatcherEvents] = []
            with self._lock:
                epochs = {w: self.held[w].epoch for w in {m.id for m in batch} if w in self.held}
            for message in batch:
                epoch = epochs.get(message.id)
                if epoch is None:
                    continue  # lost meanwhile: never acked, the source redelivers
                sent.append(message)
                items += [
                    WatcherEventIn(watcher_id=message.id, epoch=epoch, dedup_key=key, extra=extra)
                    for key, extra in message.events
                ]
            if not items:
                return
            try:
                results = self._client.store_watcher_events(self.name, items).results
                break
            except Exception as exc:  # the poster must outlive any failure
                log.warning(
                    "could not store %d watcher event(s) (%s: %s); retrying in %.1f s, nothing "
                    "is acked meanwhile",
                    len(items),
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        at = 0
        for message in sent:
            mine = results[at : at + len(message.events)]
            at += len(message.events)
            ok = "refused" not in mine
            self.stored += mine.count("stored")
            self._runner.send(EventsStored(id=message.id, seq=message.seq, ok=ok))
            if not ok:
                log.info("watcher %d is no longer this triggerer's; stopped", message.id)
                self._drop(message.id)

    def _drop(self, watcher_id: int) -> None:
        with self._lock:
            self.held.pop(watcher_id, None)
            self.status.pop(watcher_id, None)
        self._runner.send(StopWatcher(id=watcher_id))

    # --- leases -------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        with self._lock:
            statuses = [
                self.status.get(w.id) or WatcherStatus(id=w.id, epoch=w.epoch)
                for w in self.held.values()
            ]
        reply = self._client.heartbeat_watchers(
            WatcherHeartbeat(triggerer=self.name, held=statuses)
        )
        self._lease_s = reply.lease_s
        self._last_beat = time.monotonic()
        for watcher_id in reply.lost:
            log.info("watcher %d moved elsewhere or is no longer declared; stopped", watcher_id)
            self._drop(watcher_id)

    def lease(self) -> int:
        with self._lock:
            room = self.capacity - len(self.held)
        if room <= 0:
            return 0
        batch = self._client.lease_watchers(self.name, min(room, 1000))
        self._lease_s = batch.lease_s
        with self._lock:
            for watcher in batch.watchers:
                self.held[watcher.id] = watcher
        for watcher in batch.watchers:
            log.info(
                "running watcher %s/%s (asset %s, %s)",
                watcher.dag_id,
                watcher.name,
                watcher.asset_uri,
                watcher.classpath,
            )
            self._send_run(watcher)
        return len(batch.watchers)

    def _ensure_runner(self) -> None:
        """A runner while watchers are held (an idle triggerer runs none); one that died is
        started again and given every held watcher."""
        with self._lock:
            holding = bool(self.held)
        child = self._runner.child
        if not holding or self._runner.running:
            return
        if child is not None:
            log.warning("the watcher runner exited (code %s); starting another", child.poll())
        self._start_runner()

    def run_once(self) -> None:
        self._ensure_runner()
        if time.monotonic() - self._last_beat >= self._lease_s / 3:
            self.heartbeat()
        self.lease()
        self._ensure_runner()
        with self._lock:
            refresh = [self.held[w] for w in self._refresh if w in self.held]
            self._refresh.clear()
        for watcher in refresh:
            log.debug("watcher %d failed: its connections are fetched again", watcher.id)
            self._send_run(watcher)

    def close(self) -> None:
        """Give the leases back and stop the runner: the watchers go on elsewhere at once."""
        self._events.put(None)
        with self._lock:
            held = [HeldWatcher(id=w.id, epoch=w.epoch) for w in self.held.values()]
            self.held.clear()
        self._runner.close()
        try:
            if held:
                released = self._client.release_watchers(self.name, held)
                log.info("gave back %d watcher lease(s)", released)
        except (ApiError, ApiUnreachable) as exc:
            log.warning("could not give the watcher leases back (%s); they expire", exc)
