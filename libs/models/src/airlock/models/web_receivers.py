"""Web API payloads of event receivers (``/api/v1/receivers``): webhooks mapped to asset events.

An admin declares a receiver: the asset its events update, how a request proves its sender
(``signature``), and how the request maps to an event — JMESPath expressions evaluated over
``{"body": <the JSON body>, "headers": {<lower-case name>: <value>}}`` for the dedup key, the
event's extra, and an optional filter (a request whose filter is false makes no event).

Signature schemes (the secret is shared with the sender, stored encrypted, never answered):

- ``hmac-sha256``: the header holds ``prefix + hex(HMAC-SHA256(secret, body))`` (GitHub:
  ``X-Hub-Signature-256: sha256=…``);
- ``timestamped-hmac-sha256``: the header holds ``t=<unix seconds>,v1=<hex>`` where the hex is
  ``HMAC-SHA256(secret, "<t>." + body)`` (Stripe's scheme); a timestamp outside
  ``tolerance_s`` is refused, and so is the same signature twice;
- ``bearer``: the header holds ``prefix + secret`` (``Authorization: Bearer …``).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from airlock.models.types import AwareDatetime

#: A receiver's name: it is part of its URL.
ReceiverName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Secret = Annotated[str, msgspec.Meta(min_length=16, max_length=1000)]
Expression = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
HeaderName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
]
#: Largest body a receiver may accept (the Web API's own limit is the ceiling too).
MAX_RECEIVER_BODY_BYTES = 1_000_000


class ReceiverSignature(enum.StrEnum):
    HMAC_SHA256 = "hmac-sha256"
    TIMESTAMPED_HMAC_SHA256 = "timestamped-hmac-sha256"
    BEARER = "bearer"


#: Header and prefix a scheme uses unless the receiver names others.
SIGNATURE_DEFAULTS: dict[ReceiverSignature, tuple[str, str]] = {
    ReceiverSignature.HMAC_SHA256: ("X-Hub-Signature-256", "sha256="),
    ReceiverSignature.TIMESTAMPED_HMAC_SHA256: ("Airlock-Signature", ""),
    ReceiverSignature.BEARER: ("Authorization", "Bearer "),
}


class ReceiverCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Declare a receiver. Without ``secret`` one is generated and answered once."""

    name: ReceiverName
    asset_uri: Annotated[str, msgspec.Meta(min_length=1, max_length=1500)]
    signature: ReceiverSignature = ReceiverSignature.HMAC_SHA256
    signature_header: HeaderName | None = None
    signature_prefix: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    secret: Secret | None = None
    tolerance_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 300
    dedup_key: Expression | None = None
    extra: Expression | None = None
    filter: Expression | None = None
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECEIVER_BODY_BYTES)] = 262_144
    description: str | None = None
    bundle_name: str | None = None


class ReceiverPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fields to change; those left out keep their value (``""`` clears an expression).
    ``secret`` rotates the secret to the one given; ``generate_secret`` to a new random one,
    answered once."""

    secret: Secret | None = None
    generate_secret: bool = False
    signature_header: HeaderName | None = None
    signature_prefix: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    tolerance_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    dedup_key: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    extra: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    filter: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECEIVER_BODY_BYTES)] | None = None
    description: str | None = None


class ReceiverView(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    asset_uri: str
    signature: ReceiverSignature
    signature_header: str
    signature_prefix: str
    tolerance_s: int
    max_body_bytes: int
    #: Where senders POST: ``/api/v1/receivers/<name>``.
    path: str
    created_at: AwareDatetime
    secret_rotated_at: AwareDatetime
    dedup_key: str | None = None
    extra: str | None = None
    filter: str | None = None
    description: str | None = None
    bundle_name: str | None = None
    created_by: str | None = None
    #: Only in the answer that generated it (create without a secret, or ``generate_secret``).
    generated_secret: str | None = None


class ReceiverCollection(msgspec.Struct, kw_only=True, frozen=True):
    receivers: list[ReceiverView]
    total_entries: int


class ReceiverDelivered(msgspec.Struct, kw_only=True, frozen=True):
    """What a delivery made: the event (``created`` false: its dedup key named an event stored
    before), or nothing when the receiver's filter turned the request down."""

    receiver: str
    asset_uri: str
    event_id: int | None = None
    created: bool = False
    dedup_key: str | None = None
    ignored: bool = False
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


__all__ = [
    "MAX_RECEIVER_BODY_BYTES",
    "SIGNATURE_DEFAULTS",
    "ReceiverCollection",
    "ReceiverCreate",
    "ReceiverDelivered",
    "ReceiverPatch",
    "ReceiverSignature",
    "ReceiverView",
]
