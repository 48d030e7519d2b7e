"""The triggerer: leases triggers through the Internal API and runs them in its trigger runner.

This process holds the service token and the leases; it never runs trigger code. Its runner (a
supervised child, :mod:`airlock.triggerer.runner`) runs every leased trigger in one event loop.
The main thread, which depends on neither the runner nor its loop, heartbeats the leases every
third of the lease time and leases more triggers up to ``capacity``; a reader thread takes the
runner's reports; two poster threads send the events that fired, all those waiting in one call
(one transaction on the server), and a small pool sends failures. What the API answers decides what happens to a trigger:

- an event or failure the API took: the trigger stops and ``cleanup()`` runs;
- refused (409/404: the lease moved to another triggerer, or the task stopped waiting): the
  trigger stops quietly, or with ``cleanup()`` if the heartbeat said its task was cancelled;
- a heartbeat naming a trigger *lost*: it stops without ``cleanup()``.

The runner is started when the first trigger is leased (an idle triggerer runs none); one that
dies is started again and given every trigger still held. On SIGTERM the triggerer gives its
leases back, so another triggerer takes them at once. Asset watchers, which
never end and fire many times, run beside the triggers in a runner of their own
(:class:`~airlock.triggerer.watchers.WatcherHost`, driven from the same main loop).
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airlock.models.internal_triggers import (
    HeldTrigger,
    LeasedTrigger,
    TriggerEventItem,
    TriggerFailurePost,
    TriggerHeartbeat,
)
from airlock.sdk.api import ApiError, ApiUnreachable, InternalClient
from airlock.sdk.execution_time.supervised import (
    Confinement,
    prepare_folder,
)
from airlock.triggerer import metrics
from airlock.triggerer.protocol import (
    MAX_FRAME,
    LoopBlocked,
    LoopLag,
    RunTrigger,
    StopTrigger,
    TriggerFailedMessage,
    TriggerFiredMessage,
    from_runner_decoder,
)
from airlock.triggerer.runner_link import RunnerLink
from airlock.triggerer.watchers import WatcherHost

log = logging.getLogger("airlock.triggerer")

#: Events sent in one call at most, and how many calls may be under way at once.
EVENTS_PER_CALL = 500
EVENT_POSTERS = 2


def _label(trigger: LeasedTrigger) -> str:
    where = f"{trigger.dag_id}.{trigger.task_id}"
    return where if trigger.map_index < 0 else f"{where}[{trigger.map_index}]"


class Triggerer:
    def __init__(
        self,
        client: InternalClient,
        *,
        name: str,
        capacity: int,
        bundles: dict[str, str],
        poll_s: float = 1.0,
        posters: int = 4,
        run_as_user: str | None = None,
        runner_memory_mb: int | None = None,
        temp_folder: Path | None = None,
        watchers: WatcherHost | None = None,
    ) -> None:
        self._client = client
        self.name = name
        self.capacity = capacity
        #: The asset watchers this triggerer runs beside its triggers (None: none).
        self.watchers = watchers
        self._bundles = {b: str(Path(folder).resolve()) for b, folder in bundles.items()}
        #: The runner's temp folder and working folder: the only folder it may write to.
        self._own_tmp = temp_folder is None
        self._tmp = (
            str(temp_folder) if temp_folder else tempfile.mkdtemp(prefix="airlock-triggers-")
        )
        prepare_folder(self._tmp, run_as_user)
        #: Trigger code runs as ``run_as_user`` when the triggerer is root, with a memory cap,
        #: and (with Landlock) can open only the bundles, its temp folder, the Python install
        #: and the system's folders: never the triggerer's token or another process's /proc.
        self._confinement = Confinement(
            user=run_as_user,
            memory_limit_bytes=runner_memory_mb * 2**20 if runner_memory_mb else None,
            readable=tuple(self._bundles.values()),
            writable=(self._tmp,),
        )
        if watchers is not None:
            watchers.confine(self._confinement, self._tmp)
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self.held: dict[int, LeasedTrigger] = {}
        self._reports: queue.Queue[object] = queue.Queue()
        self._runner = RunnerLink(
            "airlock.triggerer.runner",
            name="trigger runner",
            decoder=from_runner_decoder,
            max_frame=MAX_FRAME,
            on_report=self._reports.put,
        )
        self._posters = ThreadPoolExecutor(max_workers=posters, thread_name_prefix="post")
        self._fired_queue: queue.Queue[TriggerFiredMessage | None] = queue.Queue()
        self._event_posters = [
            threading.Thread(target=self._post_events, name=f"events-{i}", daemon=True)
            for i in range(EVENT_POSTERS)
        ]
        self._lease_s = 10.0
        self._last_beat = 0.0
        #: Event-loop stalls seen (a metric-ready counter; sent with every heartbeat).
        self.blocked_loops = 0
        self.fired = 0

    # --- the runner ---------------------------------------------------------------------------

    def _start_runner(self) -> None:
        self._runner.start(tmp=self._tmp, confinement=self._confinement)
        with self._lock:
            held = list(self.held.values())
        for trigger in held:
            self._send_run(trigger)

    def _send_run(self, trigger: LeasedTrigger) -> None:
        root = self._bundles.get(trigger.bundle)
        if root is None:
            self._posters.submit(
                self._post_failure,
                TriggerFailedMessage(
                    id=trigger.id,
                    error=f"bundle {trigger.bundle!r} is not configured on triggerer "
                    f"{self.name!r} ([triggerer] bundles: {sorted(self._bundles)})",
                ),
            )
            return
        self._runner.send(
            RunTrigger(
                id=trigger.id,
                classpath=trigger.classpath,
                kwargs=trigger.kwargs,
                bundle_root=root,
                dag_rel_path=trigger.dag_rel_path,
                label=_label(trigger),
            )
        )

    def _dispatch(self) -> None:
        while True:
            report = self._reports.get()
            if report is None:
                return
            if isinstance(report, LoopLag):
                metrics.loop_lag(report.seconds)
            elif isinstance(report, LoopBlocked):
                self._on_blocked(report)
            elif isinstance(report, TriggerFiredMessage):
                self._fired_queue.put(report)
            elif isinstance(report, TriggerFailedMessage):
                self._posters.submit(self._post_failure, report)

    def _on_blocked(self, report: LoopBlocked) -> None:
        self.blocked_loops += 1
        with self._lock:
            trigger = self.held.get(report.id)
        log.warning(
            "trigger %d (dag %s, task %s, class %s) %s the event loop for %.2f s: every other "
            "trigger of this triggerer waited meanwhile; make it await instead of blocking "
            "(blocked_loops=%d)",
            report.id,
            trigger.dag_id if trigger else "?",
            trigger.task_id if trigger else report.label,
            report.classpath,
            "has been blocking" if report.ongoing else "blocked",
            report.seconds,
            self.blocked_loops,
        )

    # --- reports to the API ----------------------------------------------------------------

    def _epoch(self, trigger_id: int) -> int | None:
        with self._lock:
            trigger = self.held.get(trigger_id)
        return None if trigger is None else trigger.epoch

    def _post_events(self) -> None:
        """A poster thread: send the events that fired, as many as are waiting in one call."""
        while True:
            first = self._fired_queue.get()
            if first is None:
                return
            reports = [first]
            while len(reports) < EVENTS_PER_CALL:
                try:
                    more = self._fired_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._fired_queue.put(None)  # for the next poster
                    break
                reports.append(more)
            self._post_batch(reports)

    def _post_batch(self, reports: list[TriggerFiredMessage]) -> None:
        items = []
        for report in reports:
            epoch = self._epoch(report.id)
            if epoch is not None:  # else lost or cancelled meanwhile
                items.append(
                    TriggerEventItem(
                        id=report.id,
                        epoch=epoch,
                        payload=report.payload,
                        outcome=report.outcome,  # type: ignore[arg-type]
                    )
                )
        if not items:
            return
        try:
            results = self._client.post_trigger_events(self.name, items)
        except (ApiError, ApiUnreachable) as exc:
            log.error("could not post the events of %d trigger(s): %s", len(items), exc)
            refused = [item.id for item in items]
            accepted: list[int] = []
        else:
            accepted, refused = results.accepted, results.refused
        for trigger_id in accepted:
            self._finish(trigger_id, accepted=True)
        for trigger_id in refused:
            self._finish(trigger_id, accepted=False)

    def _post_failure(self, report: TriggerFailedMessage) -> None:
        epoch = self._epoch(report.id)
        if epoch is None:
            return
        log.error("trigger %d failed: %s", report.id, report.error)
        try:
            fired = self._client.post_trigger_failure(
                report.id,
                TriggerFailurePost(
                    triggerer=self.name,
                    epoch=epoch,
                    error=report.error[:10_000],
                    traceback=report.traceback[-100_000:] if report.traceback else None,
                ),
            )
        except (ApiError, ApiUnreachable) as exc:
            log.error("could not post the failure of trigger %d: %s", report.id, exc)
            fired = None
        self._finish(report.id, accepted=fired is not None)

    def _finish(self, trigger_id: int, *, accepted: bool) -> None:
        """The trigger is done here: cleaned up if its end counted, dropped quietly if not."""
        with self._lock:
            self.held.pop(trigger_id, None)
        if accepted:
            self.fired += 1
        else:
            log.info("trigger %d is no longer this triggerer's; dropped", trigger_id)
        self._runner.send(StopTrigger(id=trigger_id, cleanup=accepted))

    # --- leases -------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        with self._lock:
            held = [HeldTrigger(id=t.id, epoch=t.epoch) for t in self.held.values()]
        reply = self._client.heartbeat_triggers(
            TriggerHeartbeat(
                triggerer=self.name,
                held=held,
                capacity=self.capacity,
                blocked_loops=self.blocked_loops,
            )
        )
        self._lease_s = reply.lease_s
        self._last_beat = time.monotonic()
        for trigger_id, cleanup in [
            *((i, False) for i in reply.lost),
            *((i, True) for i in reply.cancelled),
        ]:
            with self._lock:
                gone = self.held.pop(trigger_id, None)
            if gone is not None:
                log.info(
                    "trigger %d %s", trigger_id, "was cancelled" if cleanup else "moved elsewhere"
                )
                self._runner.send(StopTrigger(id=trigger_id, cleanup=cleanup))

    def lease(self) -> int:
        with self._lock:
            room = self.capacity - len(self.held)
        if room <= 0:
            return 0
        batch = self._client.lease_triggers(self.name, min(room, 10_000))
        self._lease_s = batch.lease_s
        with self._lock:
            for trigger in batch.triggers:
                self.held[trigger.id] = trigger
        if batch.triggers and self._runner.child is None:
            self._start_runner()  # the first trigger: the new runner is sent every held one
        else:
            for trigger in batch.triggers:
                self._send_run(trigger)
        if batch.triggers:
            log.info("leased %d trigger(s); running %d", len(batch.triggers), len(self.held))
        return len(batch.triggers)

    def _ensure_runner(self) -> None:
        """Start the runner if none is running. It is started when the first trigger is leased,
        not before: an idle triggerer holds no runner (an interpreter, ~15 MB)."""
        child = self._runner.child
        if not self._runner.running:
            if child is not None:
                log.warning("the trigger runner exited (code %s); starting another", child.poll())
            self._start_runner()

    def run_once(self) -> None:
        with self._lock:
            holding = bool(self.held)
        if holding or self._runner.child is not None:
            self._ensure_runner()
        if time.monotonic() - self._last_beat >= self._lease_s / 3:
            self.heartbeat()
        self.lease()
        if self.watchers is not None:
            self.watchers.run_once()

    def run_forever(self, stop: threading.Event) -> None:
        log.info("triggerer %s started (capacity %d)", self.name, self.capacity)
        metrics.observe_triggers(lambda: len(self.held))
        threading.Thread(target=self._dispatch, name="dispatch", daemon=True).start()
        for poster in self._event_posters:
            poster.start()
        failures = 0
        while not stop.is_set():
            try:
                self.run_once()
                failures = 0
            except (ApiError, ApiUnreachable) as exc:
                failures += 1
                log.warning("the Internal API failed (%s); retrying", exc)
            stop.wait(min(self._poll_s * (2 ** min(failures, 4)), self._lease_s / 3))
        self.close()

    def close(self) -> None:
        """Give the leases back and stop the runner (without cleanup: the triggers go on
        elsewhere)."""
        self._reports.put(None)
        self._fired_queue.put(None)
        if self.watchers is not None:
            self.watchers.close()
        self._posters.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            held = [HeldTrigger(id=t.id, epoch=t.epoch) for t in self.held.values()]
            self.held.clear()
        try:
            if held:
                released = self._client.release_triggers(self.name, held)
                log.info("gave back %d trigger lease(s)", released)
        except (ApiError, ApiUnreachable) as exc:
            log.warning("could not give the leases back (%s); they expire on their own", exc)
        self._runner.close()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        log.info("triggerer %s stopped; %d trigger end(s) accepted", self.name, self.fired)
