"""Event receivers: admins declare webhooks; external systems deliver to them (DESIGN §4.5).

``GET/POST /receivers``, ``GET/PATCH/DELETE /receivers/{name}`` are admin operations, team-scoped
like connections (a team's admin sees and writes its bundles' receivers; another team's is 404).
The secret is stored encrypted with the secrets key and never answered, except a generated one,
once, in the answer that generated it.

``POST /receivers/{name}`` is the delivery: it needs no Airlock login — the signature is the
proof (:mod:`airlock.web.receiver_checks`) — so it is bounded before anything else: a token
bucket per receiver (429), the receiver's body limit (413) under the API's own. A valid delivery
stores one asset event (``source = "receiver:<name>"``), queued for the asset's consumers in the
same transaction; the dedup key makes a redelivery answer the first event (200, not 201).
A timestamped delivery's signature is remembered for its replay window, in that transaction too,
so the same signed request twice is refused (401) and a refused one leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, RawBody
from sqlalchemy import delete as sql_delete
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airlock.core.http import OFF_LOOP, Problem, claims_of, problems, require_user_role
from airlock.core.telemetry import caller_traceparent
from airlock.core.tokens import UserRole
from airlock.db import EventReceiver, ReceiverDelivery, SecretBox
from airlock.db.assets import ensure_assets
from airlock.models.dag import AssetRef
from airlock.models.web_receivers import (
    SIGNATURE_DEFAULTS,
    ReceiverCollection,
    ReceiverCreate,
    ReceiverDelivered,
    ReceiverPatch,
    ReceiverSignature,
    ReceiverView,
)
from airlock.scheduling import RESERVED_SCHEME, create_asset_event
from airlock.web.consumer_runs import start_consumer_runs
from airlock.web.listing import Offset, Sorting, page_of
from airlock.web.receiver_checks import (
    check_signature,
    compile_expression,
    map_event,
    request_document,
)
from airlock.web.secrets_access import check_writable, may_read

PATH = "/api/v1/receivers"
RECEIVER_SORT = Sorting(
    {"name": EventReceiver.name, "asset_uri": EventReceiver.asset_uri},
    default="name",
)


class DeliveryLimiter:
    """A token bucket per receiver name, in this process: ``rate_per_s`` sustained, ``burst``
    at once. Bounds what an unauthenticated caller can make the API do."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0 when a delivery may proceed, else the seconds until one may."""
        with self._lock:
            now = time.monotonic()
            tokens, last = self._buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[name] = (tokens, now)
                return (1 - tokens) / self.rate
            if len(self._buckets) > 10_000:  # names that do not exist must not grow this
                self._buckets.clear()
            self._buckets[name] = (tokens - 1, now)
            return 0.0


def _reserved(uri: str) -> None:
    if uri.lower().startswith(RESERVED_SCHEME):
        raise Problem(
            422,
            f"asset URI {uri!r} uses the reserved scheme airlock://; only Airlock makes events "
            "of those (DAG completions)",
            slug="asset-uri-reserved",
        )


def _check_expressions(*expressions: str | None) -> None:
    for expression in expressions:
        if expression:
            compile_expression(expression)


def _find(request: Request[Any, Any, Any], session: Session, name: str) -> EventReceiver:
    row = session.get(EventReceiver, name)
    if row is None or not may_read(request, row.bundle_name):
        raise Problem(404, f"receiver {name!r} not found", slug="receiver-not-found")
    return row


def _view(row: EventReceiver, generated: str | None = None) -> ReceiverView:
    return ReceiverView(
        name=row.name,
        asset_uri=row.asset_uri,
        signature=ReceiverSignature(row.signature),
        signature_header=row.signature_header,
        signature_prefix=row.signature_prefix,
        tolerance_s=row.tolerance_s,
        max_body_bytes=row.max_body_bytes,
        path=f"{PATH}/{row.name}",
        created_at=row.created_at,
        secret_rotated_at=row.secret_rotated_at,
        dedup_key=row.dedup_key_path,
        extra=row.extra_path,
        filter=row.filter_path,
        description=row.description,
        bundle_name=row.bundle_name,
        created_by=row.created_by,
        generated_secret=generated,
    )


class ReceiverController(Controller):
    """Declare, list, rotate and delete receivers (admins)."""

    path = "/receivers"
    tags = ["receivers"]
    guards = [require_user_role(UserRole.ADMIN)]

    @get("/", operation_id="ListReceivers", sync_to_thread=True)
    def list_receivers(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> ReceiverCollection:
        order = RECEIVER_SORT.parse(order_by)
        query = select(EventReceiver)
        bundles = claims_of(request).bundles
        if bundles is not None:
            query = query.where(
                or_(EventReceiver.bundle_name.is_(None), EventReceiver.bundle_name.in_(bundles))
            )
        rows, total = page_of(session, query, order, limit, offset)
        return ReceiverCollection(receivers=[_view(r) for r in rows], total_entries=total)

    @get("/{name:str}", operation_id="GetReceiver", sync_to_thread=True)
    def get_receiver(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        session: NamedDependency[Session],
    ) -> ReceiverView:
        return _view(_find(request, session, name))

    @post("/", operation_id="CreateReceiver", sync_to_thread=True, status_code=201)
    def create_receiver(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ReceiverCreate],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> ReceiverView:
        """Declare a receiver; without ``secret``, one is generated and answered this once."""
        check_writable(request, data.bundle_name, "receiver")
        _reserved(data.asset_uri)
        _check_expressions(data.dedup_key, data.extra, data.filter)
        if session.get(EventReceiver, data.name) is not None:
            raise Problem(
                409,
                f"receiver {data.name!r} exists; rotate its secret or change it with PATCH",
                slug="receiver-exists",
            )
        header, prefix = SIGNATURE_DEFAULTS[data.signature]
        generated = None if data.secret else secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        row = EventReceiver(
            name=data.name,
            bundle_name=data.bundle_name,
            asset_uri=data.asset_uri,
            signature=data.signature.value,
            signature_header=data.signature_header or header,
            signature_prefix=prefix if data.signature_prefix is None else data.signature_prefix,
            tolerance_s=data.tolerance_s,
            dedup_key_path=data.dedup_key,
            extra_path=data.extra,
            filter_path=data.filter,
            max_body_bytes=data.max_body_bytes,
            description=data.description,
            created_by=claims_of(request).sub,
            created_at=now,
            secret_rotated_at=now,
        )
        row.set_secret(data.secret or generated or "", secret_box)
        session.add(row)
        session.commit()
        return _view(row, generated)

    @patch("/{name:str}", operation_id="PatchReceiver", sync_to_thread=True)
    def patch_receiver(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        data: JSONBody[ReceiverPatch],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> ReceiverView:
        """Change a receiver; ``secret`` or ``generate_secret`` rotates its secret (the old
        one stops working at once)."""
        row = _find(request, session, name)
        check_writable(request, row.bundle_name, "receiver")
        if data.secret and data.generate_secret:
            raise Problem(
                422, "send secret or generate_secret, not both", slug="receiver-secret-twice"
            )
        _check_expressions(data.dedup_key, data.extra, data.filter)
        generated = secrets.token_urlsafe(32) if data.generate_secret else None
        if data.secret or generated:
            row.set_secret(data.secret or generated or "", secret_box)
            row.secret_rotated_at = dt.datetime.now(dt.UTC)
        for field, column in (
            ("dedup_key", "dedup_key_path"),
            ("extra", "extra_path"),
            ("filter", "filter_path"),
            ("description", "description"),
        ):
            value = getattr(data, field)
            if value is not None:
                setattr(row, column, value or None)
        for field in ("signature_header", "signature_prefix", "tolerance_s", "max_body_bytes"):
            value = getattr(data, field)
            if value is not None:
                setattr(row, field, value)
        session.commit()
        return _view(row, generated)

    @delete("/{name:str}", operation_id="DeleteReceiver", sync_to_thread=True)
    def delete_receiver(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        session: NamedDependency[Session],
    ) -> None:
        row = _find(request, session, name)
        check_writable(request, row.bundle_name, "receiver")
        session.delete(row)
        session.commit()


class ReceiverDeliveryController(Controller):
    """Where external systems deliver (no Airlock login: the signature is the proof)."""

    path = "/receivers"
    tags = ["receivers"]

    @post(
        "/{name:str}",
        operation_id="DeliverToReceiver",
        exclude_from_auth=True,
        sync_to_thread=True,
        opt=OFF_LOOP,  # starting a run of a big DAG creates up to [internal] max_dag_tasks rows
        status_code=201,
        responses={
            200: ResponseSpec(
                data_container=ReceiverDelivered,
                description="A redelivery: the event its dedup key named before",
            ),
            202: ResponseSpec(
                data_container=ReceiverDelivered,
                description="The receiver's filter turned the request down: no event",
            ),
            **problems(400, 401, 404, 413, 422, 429),
        },
    )
    def deliver(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        body: RawBody,
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
        receiver_limiter: NamedDependency[DeliveryLimiter],
    ) -> Response[ReceiverDelivered]:
        """Make an asset event of a signed request: 201 with the new event, 200 with the one a
        redelivery's dedup key names, 202 when the receiver's filter turned it down."""
        wait_s = receiver_limiter.take(name)
        if wait_s > 0:
            raise Problem(
                429,
                f"receiver {name!r} is receiving more than it may; retry in {wait_s:.1f} s",
                slug="receiver-rate-limited",
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )
        row = session.get(EventReceiver, name)
        if row is None:
            raise Problem(404, f"receiver {name!r} not found", slug="receiver-not-found")
        if len(body) > row.max_body_bytes:
            raise Problem(
                413,
                f"receiver {name!r} accepts bodies of at most {row.max_body_bytes} bytes, got "
                f"{len(body)}",
                slug="receiver-body-too-large",
            )
        headers = {key.lower(): value for key, value in request.headers.items()}
        signature = check_signature(
            name=name,
            scheme=ReceiverSignature(row.signature),
            header=row.signature_header,
            prefix=row.signature_prefix,
            secret=row.get_secret(secret_box),
            tolerance_s=row.tolerance_s,
            headers=headers,
            body=body,
        )
        wanted, dedup_key, extra = map_event(
            name,
            request_document(name, body, headers),
            dedup_key=row.dedup_key_path,
            extra=row.extra_path,
            filter_=row.filter_path,
        )
        now = dt.datetime.now(dt.UTC)
        if row.signature == ReceiverSignature.TIMESTAMPED_HMAC_SHA256:
            _remember(session, row, signature, now)
        if not wanted:
            session.commit()
            delivered = ReceiverDelivered(receiver=name, asset_uri=row.asset_uri, ignored=True)
            return Response(delivered, status_code=202)
        ids = ensure_assets(session, [AssetRef(name=row.asset_uri, uri=row.asset_uri)], now)
        event, created = create_asset_event(
            session,
            ids[row.asset_uri],
            source=f"receiver:{name}",
            extra=extra,
            dedup_key=dedup_key,
            now=now,
        )
        session.commit()
        if created:
            start_consumer_runs(
                session, ids[row.asset_uri], now, caller_traceparent(request.headers)
            )
        delivered = ReceiverDelivered(
            receiver=name,
            asset_uri=row.asset_uri,
            event_id=event.id,
            created=created,
            dedup_key=event.dedup_key,
            extra=dict(event.extra or {}),
        )
        return Response(delivered, status_code=201 if created else 200)


def _remember(session: Session, row: EventReceiver, signature: str, now: dt.datetime) -> None:
    """Record a timestamped delivery's signature; 401 when it was seen within the window."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    session.execute(
        sql_delete(ReceiverDelivery).where(
            ReceiverDelivery.receiver_name == row.name,
            ReceiverDelivery.seen_at < now - dt.timedelta(seconds=2 * row.tolerance_s),
        )
    )
    try:
        with session.begin_nested():
            session.add(
                ReceiverDelivery(receiver_name=row.name, signature_sha256=digest, seen_at=now)
            )
    except IntegrityError:
        raise Problem(
            401,
            f"receiver {row.name!r}: this signed delivery was received before (a replay); a "
            "sender signs each delivery afresh",
            slug="receiver-replay",
        ) from None
