"""Callback endpoints: the callback processor leases due callbacks and reports how each attempt
ended (DESIGN §4.4; the queue's rules are :mod:`airlock.scheduling.callback_queue`).

Only a ``callback-processor`` service token may call them, and it reaches only the callbacks of
the bundles it names: it never leases another bundle's callback, and a report about one changes
nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.orm import Session

from airlock.core.http import claims_of, require_service_role
from airlock.core.settings import InternalSettings
from airlock.core.tokens import ServiceRole
from airlock.models.callbacks import (
    CallbackLease,
    CallbackLeaseRequest,
    CallbackReport,
    CallbackReportResult,
)
from airlock.scheduling.callback_queue import Backoff, lease_callbacks, record_outcomes


class CallbackController(Controller):
    path = "/callbacks"
    tags = ["callbacks"]
    guards = [require_service_role(ServiceRole.CALLBACK_PROCESSOR)]

    @post("/lease", operation_id="LeaseCallbacks", sync_to_thread=True, status_code=200)
    def lease(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CallbackLeaseRequest],
        session: NamedDependency[Session],
    ) -> CallbackLease:
        """Lease up to ``limit`` due callbacks of the token's bundles, oldest first; each
        lease counts an attempt. Empty when nothing is due."""
        leased = lease_callbacks(
            session.connection(),
            data.holder,
            claims_of(request).bundles,
            data.limit,
            data.lease_s,
            dt.datetime.now(dt.UTC),
        )
        session.commit()
        return CallbackLease(callbacks=leased)

    @post("/report", operation_id="ReportCallbacks", sync_to_thread=True, status_code=200)
    def report(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CallbackReport],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> CallbackReportResult:
        """Record the outcome of leased attempts. An outcome whose lease moved on (it expired
        and the callback was leased again) is ``fenced``: sending a report again is safe."""
        result = record_outcomes(
            session.connection(),
            data.holder,
            claims_of(request).bundles,
            data.outcomes,
            dt.datetime.now(dt.UTC),
            Backoff(internal_settings.callback_backoff_s, internal_settings.callback_backoff_max_s),
        )
        session.commit()
        return result
