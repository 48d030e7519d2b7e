"""The Execution API app factory: the only door workers and running tasks have into Airlock.

Workers hold a worker token, which may only ask for workloads (and check itself at
``/identity``). Each workload carries a task token bound to one task instance and its bundle;
everything else here needs that token (DESIGN §4.2, §5).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from typing import Any

from litestar import Litestar, Request, Response, Router
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from airlock.core.http import ApiAppConfig, build_app, problem_response, too_many_values
from airlock.core.secrets_key import read_secrets_keys
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.core.tokens.verifier import verifier_from_settings
from airlock.db import SecretBox
from airlock.db.database import Database
from airlock.execution.connections import get_connection
from airlock.execution.dag_runs import DagRunController
from airlock.execution.identity import get_identity
from airlock.execution.logs import send_logs
from airlock.execution.notifier import work_queued
from airlock.execution.start_confirmations import confirm_starts
from airlock.execution.state_stores import (
    AssetStateController,
    TaskStateController,
    list_inlet_events,
)
from airlock.execution.tables import REVOKED_TOKEN
from airlock.execution.task_ends import TaskEnds
from airlock.execution.task_instances import TaskInstanceController
from airlock.execution.task_tokens import TaskTokens
from airlock.execution.variables import VariableController
from airlock.execution.workloads import Workloads, next_workloads
from airlock.execution.xcoms import pull_xcom, push_xcom
from airlock.models.versions import EXECUTION_VERSIONS
from airlock.scheduling import DagCache, SchedulingError
from airlock.scheduling.handout import Handout

PREFIX = "/execution"


def _database_busy(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    overflow = too_many_values(exc)
    if overflow is not None:
        return overflow
    return problem_response(
        503,
        "the database is busy or unreachable; retry with backoff",
        slug="database-busy",
        headers={"Retry-After": "1"},
    )


def _concurrent_write(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    return problem_response(
        409,
        "a concurrent request changed the same row; read the current state and retry",
        slug="concurrent-write",
    )


def _unstorable(request: Request[Any, Any, Any], exc: DataError) -> Response[Any]:
    return problem_response(
        422,
        "a value in this request cannot be stored: too long, out of range, or holding a NUL "
        f"character ({type(exc.orig).__name__})",
        slug="unstorable-value",
    )


def _scheduling_refusal(request: Request[Any, Any, Any], exc: SchedulingError) -> Response[Any]:
    """What a handler did not map itself: missing things are 404, the rest conflicts."""
    status = 404 if isinstance(exc, LookupError) else 409
    return problem_response(status, str(exc), slug="scheduling-refused")


#: How stale the Execution API's copy of the revoked token ids may be.
REVOCATION_MAX_AGE_S = 1.0


class RevokedTokens:
    """``is_revoked`` for the Execution API: the set of revoked token ids, read again at most
    every ``max_age_s``.

    Every request asks (workers and running tasks call several times per task), on the event
    loop: a query each time cost more than the rest of token verification. The price is that a
    revocation reaches the Execution API within ``max_age_s`` instead of at once.
    """

    _QUERY = select(REVOKED_TOKEN.c.jti).where(REVOKED_TOKEN.c.expires_at > bindparam("now"))

    def __init__(self, db: Database, max_age_s: float = REVOCATION_MAX_AGE_S) -> None:
        self._engine = db.engine
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._jtis: frozenset[str] = frozenset()
        self._read_at = -math.inf

    def __call__(self, jti: str) -> bool:
        if time.monotonic() - self._read_at > self._max_age_s:
            self._refresh()
        return jti in self._jtis

    def _refresh(self) -> None:
        with self._lock:
            started = time.monotonic()
            if started - self._read_at <= self._max_age_s:
                return  # another thread just did
            with self._engine.connect() as connection:
                rows = connection.execute(self._QUERY, {"now": dt.datetime.now(dt.UTC)})
                self._jtis = frozenset(rows.scalars())
            self._read_at = started


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Litestar:
    settings = settings or load_settings()
    db = database or Database(
        settings.database_url(), sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms
    )
    verifier = verifier_from_settings(
        settings.public_key_path,
        issuer=settings.auth.issuer,
        leeway_s=settings.auth.leeway_s,
        is_revoked=RevokedTokens(db),
    )
    signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
    tokens = TaskTokens(signer, settings.execution.task_token_ttl_s)
    dag_cache = DagCache()
    work_queued.listen_to_scheduling()
    collaborators: dict[str, Any] = {
        "execution_settings": settings.execution,
        "secret_box": SecretBox(read_secrets_keys(settings.secrets_key_path)),
        "dag_cache": dag_cache,
        "task_tokens": tokens,
        "token_verifier": verifier,
        "work_queued": work_queued,
        "task_ends": TaskEnds(db.sessions, dag_cache),
        "handout": Handout(
            db.sessions, Workloads(tokens, dag_cache), settings.execution.claim_lease_s
        ),
    }
    handlers = Router(
        path="/",
        route_handlers=[
            get_identity,
            next_workloads,
            confirm_starts,
            TaskInstanceController,
            send_logs,
            push_xcom,
            pull_xcom,
            VariableController,
            get_connection,
            DagRunController,
            TaskStateController,
            AssetStateController,
            list_inlet_events,
        ],
        exception_handlers={
            OperationalError: _database_busy,
            IntegrityError: _concurrent_write,
            DataError: _unstorable,
            SchedulingError: _scheduling_refusal,
        },
    )
    return build_app(
        ApiAppConfig(
            name="execution",
            title="Airlock Execution API",
            prefix=PREFIX,
            audience="execution",
            verifier=verifier,
            route_handlers=[handlers],
            max_body_bytes=settings.execution.max_body_bytes,
            probe=db.ping,
            sessions=db.sessions,
            inline_blocking=db.is_sqlite,
            collaborators=collaborators,
            on_shutdown=[] if database else [db.close],
            versions=EXECUTION_VERSIONS,
        )
    )
