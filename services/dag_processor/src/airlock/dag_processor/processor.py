"""The DAG processor loop for one bundle.

Each pass: list the bundle's files, ask the server what it holds, parse only what changed (in the
parser pool), and upload the results in batches together with the files that are gone. Variables
and connections that DAG files read at top level are fetched once per pass and cached.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airlock.dag_processor.bundle import LocalBundle
from airlock.dag_processor.pool import ParserPool
from airlock.models.internal import BundleSync, BundleSyncResult, ParsedFile
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.api import ApiError, ApiUnreachable, InternalClient

log = logging.getLogger("airlock.dag_processor")


@functools.cache
def _instruments() -> tuple[Any, Any, Any]:
    from opentelemetry import metrics

    meter = metrics.get_meter("airlock.dag_processor")
    return (
        meter.create_histogram(
            "airlock.dag_processing.duration", unit="s", description="One pass over a bundle"
        ),
        meter.create_counter("airlock.dag_processing.files_parsed", unit="{file}"),
        meter.create_counter(
            "airlock.dag_processing.import_errors",
            unit="{error}",
            description="Import errors found",
        ),
    )


def _record(bundle: str, report: PassReport) -> None:
    # Telemetry's setup imports OpenTelemetry: when it has not, telemetry is off here.
    if "opentelemetry.sdk.metrics" not in sys.modules:
        return
    duration, files, errors = _instruments()
    attributes = {"airlock.bundle": bundle}
    duration.record(report.seconds, attributes)
    files.add(report.parsed, attributes)
    errors.add(len(report.import_errors), attributes)


@dataclass
class PassReport:
    parsed: int = 0
    unchanged: int = 0
    deleted: int = 0
    import_errors: list[str] = field(default_factory=list)
    versions_created: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"parsed {self.parsed} file(s), {self.unchanged} unchanged, {self.deleted} deleted; "
            f"{len(self.versions_created)} new DAG version(s), {len(self.import_errors)} import error(s), "
            f"{len(self.stale)} stale DAG(s) in {self.seconds:.2f} s"
        )


class PassCache:
    """Variables and connections asked for during one pass (thread-safe: parsers run in threads)."""

    def __init__(self, client: InternalClient, bundle: str) -> None:
        self._client = client
        self._bundle = bundle
        self._lock = threading.Lock()
        self._variables: dict[str, str | None] = {}
        self._connections: dict[str, ConnectionInfo | None] = {}

    def clear(self) -> None:
        with self._lock:
            self._variables.clear()
            self._connections.clear()

    def variable(self, key: str) -> str | None:
        return self._cached(
            self._variables, key, lambda: self._client.get_variable(self._bundle, key)
        )

    def connection(self, conn_id: str) -> ConnectionInfo | None:
        return self._cached(
            self._connections, conn_id, lambda: self._client.get_connection(self._bundle, conn_id)
        )

    def _cached(self, store: dict[str, Any], key: str, fetch: Callable[[], Any]) -> Any:
        # Held across the fetch so parsers asking for the same key at once cause one request.
        with self._lock:
            if key not in store:
                store[key] = fetch()
            return store[key]


class DagProcessor:
    def __init__(
        self,
        bundle: LocalBundle,
        client: InternalClient,
        *,
        parsers: int = 2,
        file_timeout_s: float = 30.0,
        parser_max_files: int = 100,
        batch_max_files: int = 50,
        batch_max_bytes: int = 16_000_000,
        run_as_user: str | None = None,
        parser_memory_mb: int | None = None,
    ) -> None:
        self.bundle = bundle
        self.client = client
        self.cache = PassCache(client, bundle.name)
        self.pool = ParserPool(
            parsers,
            timeout_s=file_timeout_s,
            max_files=parser_max_files,
            get_variable=self.cache.variable,
            get_connection=self.cache.connection,
            cwd=bundle.root,
            run_as_user=run_as_user,
            memory_limit_mb=parser_memory_mb,
        )
        self._batch_max_files = batch_max_files
        self._batch_max_bytes = batch_max_bytes

    def run_pass(self) -> PassReport:
        """One pass. Batches are uploaded (by one thread, in order) while parsing goes on."""
        started = time.monotonic()
        report = PassReport()
        self.cache.clear()
        local = self.bundle.scan()
        held = {
            f.relative_path: f.content_hash for f in self.client.list_bundle_files(self.bundle.name)
        }
        changed = [entry for path, entry in local.items() if held.get(path) != entry.content_hash]
        deleted = sorted(set(held) - set(local))
        report.unchanged = len(local) - len(changed)
        report.deleted = len(deleted)
        uploads: list[Future[BundleSyncResult]] = []
        files: list[ParsedFile] = []
        size = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload") as uploader:
            for entry, outcome in self.pool.parse_all(changed, self.bundle.root):
                report.parsed += 1
                if outcome.import_error:
                    report.import_errors.append(entry.relative_path)
                parsed = ParsedFile(
                    relative_path=entry.relative_path,
                    content_hash=entry.content_hash,
                    dags=outcome.dags,
                    import_error=outcome.import_error,
                    source=_read_source(entry.path),
                )
                weight = sum(len(d.blob) for d in outcome.dags) + len(parsed.source or "")
                if files and (
                    len(files) >= self._batch_max_files or size + weight > self._batch_max_bytes
                ):
                    uploads.append(
                        uploader.submit(
                            self.client.sync_bundle, self.bundle.name, BundleSync(files=files)
                        )
                    )
                    files, size = [], 0
                files.append(parsed)
                size += weight
            if files or deleted:
                uploads.append(
                    uploader.submit(
                        self.client.sync_bundle,
                        self.bundle.name,
                        BundleSync(files=files, deleted_files=deleted),
                    )
                )
        for upload in uploads:
            result = upload.result()
            report.versions_created += [
                f"{d.dag_id} v{d.version_number}" for d in result.dags if d.outcome == "created"
            ]
            report.stale += result.stale_dags
            report.import_errors += [
                f"{d.relative_path} ({d.dag_id})" for d in result.dags if d.outcome == "rejected"
            ]
        report.import_errors.sort()
        report.seconds = time.monotonic() - started
        _record(self.bundle.name, report)
        return report

    def run_forever(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                report = self.run_pass()
                if report.parsed or report.deleted:
                    log.info("bundle %s: %s", self.bundle.name, report.summary())
                # Between passes that find changes the processor holds no parser memory.
                self.pool.release_idle()
            except (ApiError, ApiUnreachable) as exc:
                # The client logged each retry already: one line, no traceback.
                log.error(
                    "bundle %s: pass failed (%s); retrying in %.0f s",
                    self.bundle.name,
                    exc,
                    interval_s,
                )
            except Exception:
                log.exception(
                    "bundle %s: pass failed; retrying in %.0f s", self.bundle.name, interval_s
                )
            stop.wait(interval_s)

    def close(self) -> None:
        self.pool.close()
        self.client.close()


def _read_source(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None
