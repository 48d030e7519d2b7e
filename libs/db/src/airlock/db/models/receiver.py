"""Event receivers: webhooks that external systems call to make asset events (DESIGN §4.5).

A receiver is declared by an admin (Web API or CLI), never by user code: it names the asset its
events update, how a request proves it comes from the sender (the signature scheme, the header
carrying it, a shared secret stored encrypted like a connection's password), and how a request
maps to an event (JMESPath expressions over ``{"body": …, "headers": …}`` for the dedup key, the
extra and an optional filter). ``bundle_name`` scopes it to a team like variables and
connections (NULL: global, admins without a team only).

:class:`ReceiverDelivery` remembers the signatures of timestamped deliveries within the replay
window, so the same signed request sent twice is refused the second time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow
from airlock.db.crypto import SecretBox
from airlock.db.models.asset import ASSET_TEXT_LENGTH


class EventReceiver(Base):
    __tablename__ = "event_receiver"

    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    bundle_name: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    asset_uri: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH))
    #: ``hmac-sha256``, ``timestamped-hmac-sha256`` or ``bearer``.
    signature: Mapped[str] = mapped_column(String(40))
    signature_header: Mapped[str] = mapped_column(String(200))
    signature_prefix: Mapped[str] = mapped_column(String(100), default="")
    #: Replay window of a timestamped signature, in seconds.
    tolerance_s: Mapped[int] = mapped_column(Integer, default=300)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    dedup_key_path: Mapped[str | None] = mapped_column(Text)
    extra_path: Mapped[str | None] = mapped_column(Text)
    filter_path: Mapped[str | None] = mapped_column(Text)
    max_body_bytes: Mapped[int] = mapped_column(Integer, default=262_144)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    secret_rotated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    def set_secret(self, secret: str, box: SecretBox) -> None:
        self.secret_encrypted = box.encrypt(secret)

    def get_secret(self, box: SecretBox) -> str:
        return box.decrypt(self.secret_encrypted)


class ReceiverDelivery(Base):
    """A timestamped delivery seen by ``receiver_name`` (its signature's sha256), kept for the
    replay window."""

    __tablename__ = "receiver_delivery"

    receiver_name: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("event_receiver.name", ondelete="CASCADE"), primary_key=True
    )
    signature_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
