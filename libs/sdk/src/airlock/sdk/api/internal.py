"""Client for the Internal API, which the DAG processor uses to list a bundle's files, upload what
it parsed, and read the bundle's variables and connections for DAG files that ask at parse time,
the triggerer uses to lease triggers and asset watchers, heartbeat them and report their
events, and the callback
processor uses to lease callbacks and report their outcomes.

Like every Airlock client it speaks one version of its API (``Airlock-API-Version``) and retries
by :class:`~airlock.sdk.api.retry.RetryPolicy`.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import msgspec

from airlock.models.callbacks import (
    CallbackLease,
    CallbackLeaseRequest,
    CallbackOutcome,
    CallbackReport,
    CallbackReportResult,
    LeasedCallback,
)
from airlock.models.internal import BundleFileInfo, BundleFilesPage, BundleSync, BundleSyncResult
from airlock.models.internal_triggers import (
    HeldTrigger,
    TriggerEventBatch,
    TriggerEventItem,
    TriggerEventPost,
    TriggerEventResults,
    TriggerFailurePost,
    TriggerFired,
    TriggerHeartbeat,
    TriggerHeartbeatReply,
    TriggerLeaseBatch,
    TriggerLeaseRequest,
    TriggerRelease,
    TriggersReleased,
)
from airlock.models.internal_watchers import (
    HeldWatcher,
    WatcherEventBatch,
    WatcherEventIn,
    WatcherEventResults,
    WatcherHeartbeat,
    WatcherHeartbeatReply,
    WatcherLeaseBatch,
    WatcherLeaseRequest,
    WatcherRelease,
    WatchersReleased,
)
from airlock.models.secrets import ConnectionInfo, VariableValue
from airlock.models.versions.internal import HEAD as API_VERSION
from airlock.sdk.api._http import HttpSession, new_http_client
from airlock.sdk.api.retry import RetryPolicy


class InternalClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._http = HttpSession(
            new_http_client(
                base_url, api_version=API_VERSION, transport=transport, timeout_s=timeout_s
            ),
            token,
            retry=retry,
            api=("Internal", API_VERSION),
        )

    def list_bundle_files(self, bundle: str, page_size: int = 1000) -> list[BundleFileInfo]:
        files: list[BundleFileInfo] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            response = self._http.request(
                "GET", f"/internal/bundles/{_seg(bundle)}/files", params=params
            )
            page = msgspec.json.decode(response.content, type=BundleFilesPage)
            files += page.files
            if page.next_after is None:
                return files
            after = page.next_after

    def sync_bundle(self, bundle: str, batch: BundleSync) -> BundleSyncResult:
        # A 409 here means another upload of the same bundle changed the same DAGs at the same
        # moment; the sync is an upsert of the whole batch, so sending it again is the answer.
        response = self._http.request(
            "PUT", f"/internal/bundles/{_seg(bundle)}/dags", body=batch, retry_also={409}
        )
        return msgspec.json.decode(response.content, type=BundleSyncResult)

    def get_variable(self, bundle: str, key: str) -> str | None:
        response = self._http.request(
            "GET", f"/internal/bundles/{_seg(bundle)}/variables/{_seg(key)}", accept={404}
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=VariableValue).value

    def get_connection(self, bundle: str, conn_id: str) -> ConnectionInfo | None:
        response = self._http.request(
            "GET", f"/internal/bundles/{_seg(bundle)}/connections/{_seg(conn_id)}", accept={404}
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=ConnectionInfo)

    def lease_triggers(self, triggerer: str, limit: int) -> TriggerLeaseBatch:
        response = self._http.request(
            "POST",
            "/internal/triggers/lease",
            body=TriggerLeaseRequest(triggerer=triggerer, limit=limit),
        )
        return msgspec.json.decode(response.content, type=TriggerLeaseBatch)

    def heartbeat_triggers(self, beat: TriggerHeartbeat) -> TriggerHeartbeatReply:
        response = self._http.request("POST", "/internal/triggers/heartbeat", body=beat)
        return msgspec.json.decode(response.content, type=TriggerHeartbeatReply)

    def release_triggers(self, triggerer: str, held: list[HeldTrigger]) -> int:
        response = self._http.request(
            "POST",
            "/internal/triggers/release",
            body=TriggerRelease(triggerer=triggerer, held=held),
        )
        return msgspec.json.decode(response.content, type=TriggersReleased).released

    def post_trigger_event(self, trigger_id: int, event: TriggerEventPost) -> TriggerFired | None:
        """The task resumed; ``None`` when the trigger is no longer this caller's to fire (its
        lease moved on, or its task stopped waiting: drop it)."""
        return self._fired(f"/internal/triggers/{trigger_id}/event", event)

    def post_trigger_events(
        self, triggerer: str, events: list[TriggerEventItem]
    ) -> TriggerEventResults:
        """Several triggers' events in one call; which were accepted and which refused."""
        response = self._http.request(
            "POST",
            "/internal/triggers/events",
            body=TriggerEventBatch(triggerer=triggerer, events=events),
        )
        return msgspec.json.decode(response.content, type=TriggerEventResults)

    def post_trigger_failure(
        self, trigger_id: int, failure: TriggerFailurePost
    ) -> TriggerFired | None:
        return self._fired(f"/internal/triggers/{trigger_id}/failure", failure)

    def _fired(self, path: str, body: TriggerEventPost | TriggerFailurePost) -> TriggerFired | None:
        response = self._http.request("POST", path, body=body, accept={404, 409})
        if response.status_code in (404, 409):
            return None
        return msgspec.json.decode(response.content, type=TriggerFired)

    def lease_watchers(self, triggerer: str, limit: int) -> WatcherLeaseBatch:
        response = self._http.request(
            "POST",
            "/internal/watchers/lease",
            body=WatcherLeaseRequest(triggerer=triggerer, limit=limit),
        )
        return msgspec.json.decode(response.content, type=WatcherLeaseBatch)

    def heartbeat_watchers(self, beat: WatcherHeartbeat) -> WatcherHeartbeatReply:
        response = self._http.request("POST", "/internal/watchers/heartbeat", body=beat)
        return msgspec.json.decode(response.content, type=WatcherHeartbeatReply)

    def store_watcher_events(
        self, triggerer: str, events: list[WatcherEventIn]
    ) -> WatcherEventResults:
        """Store external events; per event ``stored`` / ``duplicate`` (ack the source) or
        ``refused`` (the lease moved on: do not ack). Storing is keyed by dedup key, so a retry
        of this call is harmless."""
        response = self._http.request(
            "POST",
            "/internal/watchers/events",
            body=WatcherEventBatch(triggerer=triggerer, events=events),
        )
        return msgspec.json.decode(response.content, type=WatcherEventResults)

    def release_watchers(self, triggerer: str, held: list[HeldWatcher]) -> int:
        response = self._http.request(
            "POST",
            "/internal/watchers/release",
            body=WatcherRelease(triggerer=triggerer, held=held),
        )
        return msgspec.json.decode(response.content, type=WatchersReleased).released

    def lease_callbacks(self, holder: str, limit: int, lease_s: float) -> list[LeasedCallback]:
        # Retried like every call: callbacks leased by an attempt whose answer was lost are
        # never run by this holder; their lease expires and they come back.
        response = self._http.request(
            "POST",
            "/internal/callbacks/lease",
            body=CallbackLeaseRequest(holder=holder, limit=limit, lease_s=lease_s),
        )
        return msgspec.json.decode(response.content, type=CallbackLease).callbacks

    def report_callbacks(
        self, holder: str, outcomes: list[CallbackOutcome]
    ) -> CallbackReportResult:
        # Recording an outcome is fenced by its lease's epoch, so sending it again is harmless.
        response = self._http.request(
            "POST",
            "/internal/callbacks/report",
            body=CallbackReport(holder=holder, outcomes=outcomes),
        )
        return msgspec.json.decode(response.content, type=CallbackReportResult)

    def close(self) -> None:
        self._http.close()


def _seg(value: str) -> str:
    return quote(value, safe="")
